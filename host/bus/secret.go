package bus

import (
	"context"
	"crypto/rand"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// SecretSize is the size of the keys CreateSecret makes.
const SecretSize = 32

// CreateSecret makes a random key of SecretSize bytes under key in kv, one
// that every host of the bus signs with, and returns it. Several hosts may
// start at once: when another one created it first, CreateSecret returns
// theirs. A caller reads the key first and calls CreateSecret when it is
// not there; the error is that of the create when the key cannot be read
// after it either.
func CreateSecret(ctx context.Context, kv jetstream.KeyValue, key string) ([]byte, error) {
	secret := make([]byte, SecretSize)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("random key: %w", err)
	}
	if _, err := kv.Create(ctx, key, secret); err != nil {
		e, gerr := kv.Get(ctx, key)
		if gerr != nil {
			return nil, err
		}
		return e.Value(), nil
	}
	return secret, nil
}
