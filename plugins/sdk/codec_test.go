package sdk

import (
	"bytes"
	"testing"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"

	blockv1 "github.com/paperflow/paperflow/plugins/proto/block/v1"
)

// TestCodecWire: Codec writes what gRPC's own protobuf codec reads and
// reads what it writes, at every size, pooled or not, and a buffer reused
// uncleared never shows through.
func TestCodecWire(t *testing.T) {
	grpcProto := encoding.GetCodecV2("proto")
	for _, size := range []int{0, 10, 1 << 10, 4<<10 + 1, 40 << 10, 1<<20 + 3} {
		data := bytes.Repeat([]byte{byte(size), 0xa5}, size/2+size%2)[:size]
		for _, tc := range []struct {
			name       string
			write, get encoding.CodecV2
		}{
			{"Codec to gRPC", Codec, grpcProto},
			{"gRPC to Codec", grpcProto, Codec},
			{"Codec to Codec", Codec, Codec},
		} {
			in := &blockv1.PutDocumentRequest{Name: "a.pdf", Mimetype: "application/pdf", Data: data}
			wire, err := tc.write.Marshal(in)
			if err != nil {
				t.Fatalf("%s, %d bytes: marshal: %v", tc.name, size, err)
			}
			// Split as the transport does, into frames of 16 KiB.
			var frames mem.BufferSlice
			for b := wire.Materialize(); len(b) > 0; b = b[min(len(b), 16<<10):] {
				frames = append(frames, mem.SliceBuffer(b[:min(len(b), 16<<10)]))
			}
			wire.Free()
			var out blockv1.PutDocumentRequest
			if err := tc.get.Unmarshal(frames, &out); err != nil {
				t.Fatalf("%s, %d bytes: unmarshal: %v", tc.name, size, err)
			}
			if out.Name != in.Name || out.Mimetype != in.Mimetype || !bytes.Equal(out.Data, data) {
				t.Errorf("%s, %d bytes: read back %q %q and %d bytes of data, want them as written", tc.name, size, out.Name, out.Mimetype, len(out.Data))
			}
		}
	}
}

// TestTieredPool: a buffer is as long as asked for, and one put back is
// handed out again for a size its capacity holds.
func TestTieredPool(t *testing.T) {
	var p tieredPool
	for _, size := range []int{0, 1, 4 << 10, 4<<10 + 1, 40 << 10, 1 << 20, 1<<maxPooledShift + 1} {
		b := p.Get(size)
		if len(*b) != size {
			t.Errorf("Get(%d): length %d", size, len(*b))
		}
		for i := range *b {
			(*b)[i] = 0xff
		}
		p.Put(b)
		if c := p.Get(size); len(*c) != size || cap(*c) < size {
			t.Errorf("Get(%d) after Put: length %d, capacity %d", size, len(*c), cap(*c))
		}
	}
}
