package payment

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// Secret is key material (a PEM private key, WeChat's APIv3 key). It
// prints, logs and marshals as "[secret]", so that a config or an error
// that carries it never shows it; Reveal gives the bytes to the code that
// signs or decrypts.
type Secret struct{ b []byte }

// NewSecret wraps key material.
func NewSecret(b []byte) Secret { return Secret{b: append([]byte(nil), b...)} }

const redacted = "[secret]"

// Reveal returns the key material.
func (s Secret) Reveal() []byte { return s.b }

// Empty reports whether no key material was given.
func (s Secret) Empty() bool { return len(s.b) == 0 }

// String hides the value.
func (s Secret) String() string { return redacted }

// GoString hides the value from %#v.
func (s Secret) GoString() string { return redacted }

// LogValue hides the value from log/slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText hides the value from encoding/json and friends.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// ErrNoSecret is a secret that was neither in its file nor in its
// environment variable.
var ErrNoSecret = errors.New("payment: secret not given")

// LoadSecret reads key material from a file when path is set, else from
// the environment variable env. Errors name the file or variable, never
// the content.
func LoadSecret(path, env string) (Secret, error) {
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return Secret{}, fmt.Errorf("payment: reading secret file %s: %w", path, errors.Unwrap(err))
		}
		return Secret{b: b}, nil
	}
	if env != "" {
		if v := os.Getenv(env); strings.TrimSpace(v) != "" {
			return Secret{b: []byte(v)}, nil
		}
	}
	return Secret{}, fmt.Errorf("%w: file %q, environment variable %q", ErrNoSecret, path, env)
}
