package fleet

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
	"go.uber.org/zap"

	"github.com/vigil-sec/vigil/pkg/wire"
)

// HostUserPrefix starts the NATS user name of an enrolled host's
// connection (vigil-host:<host_id>): how it is found to be disconnected.
const HostUserPrefix = "vigil-host:"

// Callout answers nats-server's authorization requests for every client
// that is not a configured user: an enrolled host's NKey gets its confined
// permissions; an enrolling agent (user wire.EnrollUser, signing with its
// new NKey) may only ask wire.EnrollSubject; anything else is refused.
type Callout struct {
	// Issuer signs the answers: the account key nats-server is configured
	// to trust (auth_callout.issuer).
	Issuer nkeys.KeyPair
	Hosts  *Hosts
	// TTL bounds a connection's credential: the server disconnects it then,
	// and the client's reconnection is checked again (a revocation takes
	// effect at the latest then where the backend cannot disconnect it).
	TTL time.Duration
	Log *zap.Logger

	Allowed, Enrolling, Refused atomic.Uint64
}

// Handle decodes a request and returns the signed answer.
func (c *Callout) Handle(ctx context.Context, data []byte) []byte {
	req, err := jwt.DecodeAuthorizationRequestClaims(string(data))
	if err != nil {
		c.Refused.Add(1)
		c.Log.Warn("auth request unreadable", zap.Error(err))
		return nil
	}
	user, perr := c.decide(ctx, req)
	resp := jwt.NewAuthorizationResponseClaims(req.UserNkey)
	resp.Audience = req.Server.ID
	if perr != nil {
		c.Refused.Add(1)
		c.Log.Info("connection refused", zap.String("client", req.ClientInformation.Host), zap.String("nkey", req.ConnectOptions.Nkey),
			zap.String("user", req.ConnectOptions.Username), zap.String("reason", perr.Error()))
		resp.Error = perr.Error()
	} else {
		ujwt, err := user.Encode(c.Issuer)
		if err != nil {
			c.Log.Error("user jwt", zap.Error(err))
			resp.Error = "internal error"
		} else {
			resp.Jwt = ujwt
		}
	}
	out, err := resp.Encode(c.Issuer)
	if err != nil {
		c.Log.Error("auth response", zap.Error(err))
		return nil
	}
	return []byte(out)
}

// decide returns the user claims for the request, or why it is refused.
func (c *Callout) decide(ctx context.Context, req *jwt.AuthorizationRequestClaims) (*jwt.UserClaims, error) {
	co := req.ConnectOptions
	if co.Nkey == "" {
		return nil, errors.New("no NKey: enrolled hosts and enrolling agents sign with theirs")
	}
	if err := verifyNonce(co.Nkey, co.SignedNonce, req.ClientInformation.Nonce); err != nil {
		return nil, err
	}
	uc := jwt.NewUserClaims(req.UserNkey)
	uc.Audience = "$G" // the global account: no accounts without an operator
	ttl := c.TTL
	if ttl <= 0 {
		ttl = time.Hour
	}
	uc.Expires = time.Now().Add(ttl).Unix()
	host, err := c.Hosts.ByKey(ctx, co.Nkey)
	switch {
	case err == nil && host.Revoked != nil:
		return nil, fmt.Errorf("host %s was revoked at %s", host.ID, host.Revoked.Format(time.RFC3339))
	case err == nil:
		pub, sub := Permissions(host.Env, host.ID)
		uc.Name = HostUserPrefix + host.ID
		uc.Pub.Allow.Add(pub...)
		uc.Sub.Allow.Add(sub...)
		if co.Username == wire.EnrollUser { // enrolled, the reply lost: may ask again
			uc.Pub.Allow.Add(wire.EnrollSubject)
			uc.Sub.Allow.Add(wire.EnrollInbox(co.Nkey) + ".>")
		}
		c.Allowed.Add(1)
		return uc, nil
	case !errors.Is(err, ErrNotFound):
		return nil, fmt.Errorf("inventory: %w", err)
	case co.Username == wire.EnrollUser:
		uc.Name = wire.EnrollUser
		uc.Pub.Allow.Add(wire.EnrollSubject)
		uc.Sub.Allow.Add(wire.EnrollInbox(co.Nkey) + ".>")
		uc.Expires = time.Now().Add(5 * time.Minute).Unix()
		c.Enrolling.Add(1)
		return uc, nil
	}
	return nil, fmt.Errorf("nkey %s is not enrolled", co.Nkey)
}

// verifyNonce checks that the client signed the server's nonce with the
// key it presents (nats-server leaves that to the callout).
func verifyNonce(pub, sig, nonce string) error {
	if sig == "" || nonce == "" {
		return errors.New("nkey given without a signed nonce")
	}
	kp, err := nkeys.FromPublicKey(pub)
	if err != nil {
		return fmt.Errorf("nkey: %w", err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		if raw, err = base64.StdEncoding.DecodeString(sig); err != nil {
			return errors.New("signature unreadable")
		}
	}
	if err := kp.Verify([]byte(nonce), raw); err != nil {
		return errors.New("signature does not match the nkey")
	}
	return nil
}

// Service answers enrollment requests (wire.EnrollSubject).
func (h *Hosts) Service(log *zap.Logger) func(ctx context.Context, data []byte) []byte {
	return func(ctx context.Context, data []byte) []byte {
		var req EnrollRequest
		var resp EnrollResponse
		if err := json.Unmarshal(data, &req); err != nil {
			resp.Error = "enrollment request unreadable: " + err.Error()
		} else if r, err := h.Enroll(ctx, req); err != nil {
			var ee *EnrollError
			if errors.As(err, &ee) {
				resp.Error = ee.Msg
			} else {
				resp.Error = "the backend could not enroll now, retry: " + err.Error()
			}
			log.Info("enrollment refused", zap.String("host_id", req.HostID), zap.String("reason", resp.Error))
		} else {
			resp = r
			log.Info("host enrolled", zap.String("host_id", r.HostID), zap.String("env", r.Env))
		}
		b, _ := json.Marshal(resp)
		return b
	}
}

// LoadIssuer reads the issuer's account seed from path, creating it (0600)
// when create is set and it does not exist.
func LoadIssuer(path string, create bool) (nkeys.KeyPair, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && create {
		kp, err := nkeys.CreateAccount()
		if err != nil {
			return nil, err
		}
		seed, _ := kp.Seed()
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, append(seed, '\n'), 0o600); err != nil {
			return nil, err
		}
		return kp, os.Rename(tmp, path)
	}
	if err != nil {
		return nil, fmt.Errorf("issuer seed: %w", err)
	}
	kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(b))))
	if err != nil {
		return nil, fmt.Errorf("issuer seed %s: %w", path, err)
	}
	if pub, _ := kp.PublicKey(); !nkeys.IsValidPublicAccountKey(pub) {
		return nil, fmt.Errorf("issuer seed %s: not an account seed (SA...)", path)
	}
	return kp, nil
}
