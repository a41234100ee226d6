package sdk

import (
	"fmt"
	"math/bits"
	"sync"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// The block protocol's messages are protobuf, as with gRPC's own codec;
// only the buffers differ. gRPC's default pool jumps from 32 KiB to 1 MiB
// buffers and clears the whole buffer on every Get, so each document
// between block and host (a 40 KiB letter) paid for clearing 1 MiB on
// each side. Codec takes buffers from a pool of power-of-two sizes that
// hands them out uncleared: a marshal writes every byte it returns, and an
// unmarshal copies in every byte it reads.

// Codec is the protobuf codec for gRPC calls of the block protocol
// (grpc.ForceServerCodecV2 on a server, grpc.ForceCodecV2 on a client).
// Its Name is "proto", so peers see the usual content type: a host or
// block with gRPC's own codec reads what it writes, and the other way
// round.
var Codec = protoCodec{}

type protoCodec struct{}

var _ interface {
	Marshal(any) (mem.BufferSlice, error)
	Unmarshal(mem.BufferSlice, any) error
	Name() string
} = protoCodec{}

// Name is the content subtype gRPC's own protobuf codec uses.
func (protoCodec) Name() string { return "proto" }

func (protoCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("proto: cannot marshal %T, not a proto.Message", v)
	}
	// UseCachedSize relies on this Size of the same, unchanged message.
	size := proto.Size(m)
	opts := proto.MarshalOptions{UseCachedSize: true}
	if mem.IsBelowBufferPoolingThreshold(size) {
		b, err := opts.Marshal(m)
		if err != nil {
			return nil, err
		}
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	buf := buffers.Get(size)
	b, err := opts.MarshalAppend((*buf)[:0], m)
	if err != nil {
		buffers.Put(buf)
		return nil, err
	}
	*buf = b
	return mem.BufferSlice{mem.NewBuffer(buf, buffers)}, nil
}

func (protoCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("proto: cannot unmarshal into %T, not a proto.Message", v)
	}
	buf := data.MaterializeToBuffer(buffers)
	defer buf.Free()
	// proto.Unmarshal copies bytes fields out: nothing keeps buf.
	return proto.Unmarshal(buf.ReadOnlyData(), m)
}

// buffers is the codec's pool: one sync.Pool per power of two from
// minPooled to maxPooled bytes. Buffers come back as they were left, not
// cleared; larger ones are allocated and left to the collector.
var buffers = &tieredPool{}

const (
	minPooledShift = 12 // 4 KiB
	maxPooledShift = 26 // 64 MiB
)

type tieredPool struct {
	tiers [maxPooledShift - minPooledShift + 1]sync.Pool
}

var _ mem.BufferPool = (*tieredPool)(nil)

// Get returns a buffer of length size, its contents undefined.
func (p *tieredPool) Get(size int) *[]byte {
	shift := max(minPooledShift, bits.Len(uint(size-1)))
	if size <= 0 || shift > maxPooledShift {
		b := make([]byte, size)
		return &b
	}
	if b, ok := p.tiers[shift-minPooledShift].Get().(*[]byte); ok {
		*b = (*b)[:size]
		return b
	}
	b := make([]byte, size, 1<<shift)
	return &b
}

// Put keeps buf for a later Get, in the largest tier its capacity fills.
func (p *tieredPool) Put(buf *[]byte) {
	shift := bits.Len(uint(cap(*buf))) - 1
	if shift < minPooledShift || shift > maxPooledShift {
		return
	}
	p.tiers[shift-minPooledShift].Put(buf)
}
