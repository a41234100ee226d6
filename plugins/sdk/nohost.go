package sdk

import (
	"context"
	"errors"
	"time"
)

// ErrNoHost is what Host calls return while a block is configured only to
// check its configuration (`paperflow validate`): there is no host to
// store, send or schedule anything then.
var ErrNoHost = errors.New("host services are not available while validating")

// noHost is the Host of a block configured for validation only.
type noHost struct{}

var _ Host = noHost{}

func (noHost) PutDocument(context.Context, string, string, []byte) (Document, error) {
	return Document{}, ErrNoHost
}
func (noHost) GetDocument(context.Context, string) (Document, []byte, error) {
	return Document{}, nil, ErrNoHost
}
func (noHost) DocumentURL(context.Context, string, time.Duration) (string, error) {
	return "", ErrNoHost
}
func (noHost) KVGet(context.Context, string) ([]byte, uint64, bool, error) {
	return nil, 0, false, ErrNoHost
}
func (noHost) KVPut(context.Context, string, []byte, uint64) (uint64, error) { return 0, ErrNoHost }
func (noHost) KVSet(context.Context, string, []byte) (uint64, error)         { return 0, ErrNoHost }
func (noHost) KVDelete(context.Context, string) error                        { return ErrNoHost }
func (noHost) KVKeys(context.Context, string, string, int) ([]string, bool, error) {
	return nil, false, ErrNoHost
}
func (noHost) SendMail(context.Context, Mail) (string, error) { return "", ErrNoHost }
func (noHost) Emit(context.Context, string, string, EventData) (string, error) {
	return "", ErrNoHost
}
func (noHost) Schedule(context.Context, string, time.Time, []byte) error { return ErrNoHost }
func (noHost) Log(context.Context, string, string, map[string]any)       {}
