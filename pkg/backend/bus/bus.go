// Package bus runs the backend's embedded NATS server with JetStream on
// disk: the single-machine default, which agents on the same machine or
// network deliver to. It is the only importer of nats-server; production
// at scale points the backend at an external cluster instead.
package bus

import (
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"go.uber.org/zap"
)

// User is an NKey identity allowed on the listener.
type User struct {
	NKey      string
	Publish   []string
	Subscribe []string
}

// Options configure the embedded server.
type Options struct {
	// StoreDir holds JetStream's files.
	StoreDir string
	// Listen is host:port for clients (agents, vigil ingest).
	Listen string
	// TLS, when set, is required of clients on the listener.
	TLS *tls.Config
	// Users are the NKey users; the backend's own in-process client is
	// always allowed.
	Users []User
	// Anonymous lets clients without credentials in (loopback default).
	Anonymous bool
	// CalloutIssuer, when set, is the public account key whose signed
	// answers authorize every other client (the backend's auth callout on
	// $SYS.REQ.USER.AUTH: enrolled hosts and enrolling agents).
	CalloutIssuer string
}

// Bus is a running embedded server.
type Bus struct {
	srv  *server.Server
	log  *zap.Logger
	user string // the in-process client's credentials ("" without auth)
	pass string
}

// zapLogger adapts zap to nats-server's Logger (the consumer's interface).
type zapLogger struct{ l *zap.SugaredLogger }

func (z zapLogger) Noticef(f string, a ...any) { z.l.Infof(f, a...) }
func (z zapLogger) Warnf(f string, a ...any)   { z.l.Warnf(f, a...) }
func (z zapLogger) Fatalf(f string, a ...any)  { z.l.Errorf(f, a...) }
func (z zapLogger) Errorf(f string, a ...any)  { z.l.Errorf(f, a...) }
func (z zapLogger) Debugf(f string, a ...any)  { z.l.Debugf(f, a...) }
func (z zapLogger) Tracef(f string, a ...any)  {}

// inProcessUser is the backend's own client (no TCP, no credentials on
// the wire): every other client authenticates per Options.
const inProcessUser = "vigil-backend"

// Start runs the server and returns once it accepts connections.
func Start(o Options, log *zap.Logger) (*Bus, error) {
	host, portS, err := net.SplitHostPort(o.Listen)
	if err != nil {
		return nil, fmt.Errorf("nats listen %q: %w", o.Listen, err)
	}
	port, err := strconv.Atoi(portS)
	if err != nil {
		return nil, fmt.Errorf("nats listen %q: bad port", o.Listen)
	}
	if err := os.MkdirAll(o.StoreDir, 0o700); err != nil {
		return nil, fmt.Errorf("nats store: %w", err)
	}
	opts := &server.Options{
		ServerName: "vigil-backend", Host: host, Port: port, JetStream: true, StoreDir: filepath.Clean(o.StoreDir),
		NoSigs: true, MaxPayload: 8 << 20, TLSConfig: o.TLS, TLSVerify: o.TLS != nil && o.TLS.ClientAuth == tls.RequireAndVerifyClientCert,
		DisableJetStreamBanner: true,
	}
	if o.TLS != nil {
		opts.TLS = true
		opts.TLSTimeout = 5
	}
	// Authentication: NKey users and, unless anonymous access is allowed,
	// nothing else. The in-process client gets a user of its own.
	var user, pass string
	if len(o.Users) > 0 || !o.Anonymous || o.CalloutIssuer != "" {
		user, pass = inProcessUser, randomSecret()
		for _, u := range o.Users {
			nu := &server.NkeyUser{Nkey: u.NKey}
			if len(u.Publish) > 0 || len(u.Subscribe) > 0 {
				nu.Permissions = &server.Permissions{
					Publish:   &server.SubjectPermission{Allow: append(u.Publish, "$JS.API.INFO", "$JS.API.STREAM.INFO.*")},
					Subscribe: &server.SubjectPermission{Allow: u.Subscribe},
				}
			}
			opts.Nkeys = append(opts.Nkeys, nu)
		}
		if o.Anonymous {
			opts.NoAuthUser = "anonymous"
			opts.Users = append(opts.Users, &server.User{Username: "anonymous", Password: randomSecret()})
		}
		opts.Users = append(opts.Users, &server.User{Username: user, Password: pass,
			AllowedConnectionTypes: map[string]struct{}{"IN_PROCESS": {}}})
		if o.CalloutIssuer != "" {
			// The configured users keep their own permissions; anyone else
			// is whoever the callout says (or nobody).
			ac := &server.AuthCallout{Issuer: o.CalloutIssuer, AuthUsers: []string{user}}
			for _, u := range o.Users {
				ac.AuthUsers = append(ac.AuthUsers, u.NKey)
			}
			if o.Anonymous {
				ac.AuthUsers = append(ac.AuthUsers, "anonymous")
			}
			opts.AuthCallout = ac
			opts.AlwaysEnableNonce = true // callers sign with their NKey
		}
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats server: %w", err)
	}
	srv.SetLoggerV2(zapLogger{log.Sugar()}, false, false, false)
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("nats server did not start on %s (is the port in use? nats.listen in backend.yaml or --nats-listen chooses another)", o.Listen)
	}
	return &Bus{srv: srv, log: log, user: user, pass: pass}, nil
}

// InProcessConn is a connection to the server without TCP, for the
// backend's own client (nats.InProcessServer takes the Bus).
func (b *Bus) InProcessConn() (net.Conn, error) { return b.srv.InProcessConn() }

// Credentials are the in-process client's user and password ("" when the
// server has no authentication).
func (b *Bus) Credentials() (user, pass string) { return b.user, b.pass }

// Disconnect closes the client connections of the NATS user name (a
// revoked host's) and returns how many there were.
func (b *Bus) Disconnect(user string) int {
	cz, err := b.srv.Connz(&server.ConnzOptions{Username: true, User: user, Limit: 1024})
	if err != nil {
		return 0
	}
	n := 0
	for _, c := range cz.Conns {
		if b.srv.DisconnectClientByID(c.Cid) == nil {
			n++
		}
	}
	return n
}

// ClientURL is the listener's URL.
func (b *Bus) ClientURL() string { return b.srv.ClientURL() }

// Addr is the listener's address (the port chosen when it was 0).
func (b *Bus) Addr() net.Addr { return b.srv.Addr() }

// Shutdown stops the server after flushing JetStream to disk.
func (b *Bus) Shutdown() {
	b.srv.Shutdown()
	b.srv.WaitForShutdown()
}

func randomSecret() string {
	var b [18]byte
	if _, err := rand.Read(b[:]); err != nil {
		return strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	return fmt.Sprintf("%x", b)
}
