package sdk

import (
	"context"
	"errors"
	"io"
	"strconv"
	"testing"
)

// counting is a source of n numbered records that counts the items made.
type counting struct {
	n, read, made int
}

func (c *counting) next() (int, error) {
	if c.read == c.n {
		return 0, io.EOF
	}
	c.read++
	return c.read, nil
}

func (c *counting) item(rec int) (Item, error) {
	c.made++
	return Item{Origin: strconv.Itoa(rec)}, nil
}

func TestReadEach(t *testing.T) {
	const n = SourceBatchSize*2 + 10
	src := &counting{n: n}
	var batches [][]Item
	emit := func(b []Item) error { batches = append(batches, b); return nil }
	if err := ReadEach(context.Background(), ReadRequest{Skip: 5}, emit, src.next, src.item); err != nil {
		t.Fatal(err)
	}
	if src.read != n || src.made != n-5 {
		t.Errorf("read %d, made %d items; want %d read, %d made", src.read, src.made, n, n-5)
	}
	var got []Item
	for _, b := range batches {
		if len(b) > SourceBatchSize {
			t.Errorf("a batch of %d items", len(b))
		}
		got = append(got, b...)
	}
	if len(got) != n-5 || got[0].Origin != "6" || got[len(got)-1].Origin != strconv.Itoa(n) {
		t.Errorf("emitted %d items from %s to %s; want %d from 6 to %d", len(got), got[0].Origin, got[len(got)-1].Origin, n-5, n)
	}
}

func TestReadEachErrors(t *testing.T) {
	boom := errors.New("boom")
	emit := func([]Item) error { return nil }
	failing := func() (int, error) { return 0, boom }
	if err := ReadEach(context.Background(), ReadRequest{}, emit, failing, (&counting{}).item); err != boom {
		t.Errorf("next's error: %v", err)
	}
	src := &counting{n: 3}
	bad := func(int) (Item, error) { return Item{}, boom }
	if err := ReadEach(context.Background(), ReadRequest{}, emit, src.next, bad); err != boom {
		t.Errorf("item's error: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	src = &counting{n: 3}
	if err := ReadEach(ctx, ReadRequest{}, emit, src.next, src.item); !errors.Is(err, context.Canceled) {
		t.Errorf("after cancel: %v", err)
	}
}
