package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/paperflow/paperflow/plugins/internal/recordfile"
	"github.com/paperflow/paperflow/plugins/sdk"
)

// version is reported by Describe.
const version = "0.1.0"

// Block is the csv source. Configure checks the file and its header; Read
// streams the records as items, one batch at a time.
type Block struct {
	path    string // resolved against the workflow's directory
	dialect dialect
}

var _ sdk.Source = (*Block)(nil)

// Describe implements sdk.Block: block.json and version.
func (*Block) Describe() sdk.Descriptor { return descriptor }

// Configure implements sdk.Block: it checks the options, that the file
// opens and that its header names every column once.
func (b *Block) Configure(_ context.Context, c sdk.Config) error {
	var cfg config
	if err := c.Decode(&cfg); err != nil {
		return err
	}
	path, err := recordfile.Path(c, "csv", cfg.Path, "the CSV file")
	if err != nil {
		return err
	}
	d, err := cfg.dialect()
	if err != nil {
		return fmt.Errorf("csv: %w", err)
	}
	r, err := openRecords(path, d)
	if err != nil {
		return fmt.Errorf("csv: %w", err)
	}
	r.Close()
	b.path, b.dialect = path, d
	return nil
}

// Read implements sdk.Source.
func (b *Block) Read(ctx context.Context, req sdk.ReadRequest, emit func([]sdk.Item) error) error {
	if b.path == "" {
		return errors.New("csv: Read before Configure")
	}
	r, err := openRecords(b.path, b.dialect)
	if err != nil {
		return fmt.Errorf("csv: %w", err)
	}
	defer r.Close()
	return sdk.ReadEach(ctx, req, emit, r.next, r.item)
}

// item makes a record into a source item.
func (r *recordReader) item(rec record) (sdk.Item, error) {
	return recordfile.Item(r.name, rec.line, rec.err, func(origin string) (sdk.Item, error) {
		fields := make(map[string]any, len(r.header))
		for i, name := range r.header {
			fields[name] = rec.fields[i]
		}
		return sdk.NewItem(origin, fields)
	})
}
