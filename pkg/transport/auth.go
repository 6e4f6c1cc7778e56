package transport

import (
	"errors"
	"fmt"
	"os"

	"github.com/nats-io/nats.go"
)

// Auth names the credential and TLS files.
type Auth struct {
	Creds string // a .creds file (user JWT and NKey seed)
	NKey  string // an NKey seed file
	CA    string // CA bundle for the server's certificate
	Cert  string // client certificate (mutual TLS)
	Key   string // client key
}

// ErrInsecureSecret is returned for a secrets file readable by group or others.
var ErrInsecureSecret = errors.New("secrets file is readable by group or others")

// checkSecret refuses a secrets file that others can read. It never reads
// or logs the content.
func checkSecret(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s (mode %04o): %w; chmod 600 it", path, st.Mode().Perm(), ErrInsecureSecret)
	}
	return nil
}

// Options turns the files into connection options, checking the secrets'
// permissions first.
func (a Auth) Options() ([]nats.Option, error) {
	var opts []nats.Option
	if a.Creds != "" && a.NKey != "" {
		return nil, errors.New("give either a .creds file or an NKey seed, not both")
	}
	if a.Creds != "" {
		if err := checkSecret(a.Creds); err != nil {
			return nil, err
		}
		opts = append(opts, nats.UserCredentials(a.Creds))
	}
	if a.NKey != "" {
		if err := checkSecret(a.NKey); err != nil {
			return nil, err
		}
		o, err := nats.NkeyOptionFromSeed(a.NKey)
		if err != nil {
			return nil, fmt.Errorf("nkey seed %s: %w", a.NKey, err)
		}
		opts = append(opts, o)
	}
	if a.CA != "" {
		if _, err := os.Stat(a.CA); err != nil {
			return nil, fmt.Errorf("nats CA: %w", err)
		}
		opts = append(opts, nats.RootCAs(a.CA))
	}
	if a.Cert != "" || a.Key != "" {
		if a.Cert == "" || a.Key == "" {
			return nil, errors.New("a client certificate needs both cert and key")
		}
		if err := checkSecret(a.Key); err != nil {
			return nil, err
		}
		opts = append(opts, nats.ClientCert(a.Cert, a.Key))
	}
	return opts, nil
}
