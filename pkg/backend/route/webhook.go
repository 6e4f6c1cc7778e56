package route

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/vigil-sec/vigil/pkg/config"
	"github.com/vigil-sec/vigil/pkg/version"
)

// Webhook request headers.
const (
	// HeaderSignature is sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">
	// with the output's secret, when it has one.
	HeaderSignature = "X-Vigil-Signature"
	// HeaderTimestamp is the Unix time the signature covers (a receiver
	// refuses old ones: no replays).
	HeaderTimestamp = "X-Vigil-Timestamp"
	// HeaderDelivery is the notification's id: the same on a retry.
	HeaderDelivery = "X-Vigil-Delivery"
	HeaderEvent    = "X-Vigil-Event"
)

// webhook posts the notification (or its OCSF finding) as JSON.
type webhook struct {
	url     string
	format  string
	headers map[string]string
	secret  []byte
	client  *http.Client
	now     func() time.Time
}

func newWebhook(c config.Output) (*webhook, error) {
	w := &webhook{url: c.URL, format: c.Format, headers: c.Headers, now: time.Now}
	if c.SecretFile != "" {
		s, err := readSecret(c.SecretFile, "secret_file")
		if err != nil {
			return nil, err
		}
		w.secret = []byte(s)
	}
	var err error
	w.client, err = httpClient(c)
	return w, err
}

// Sign is the signature of body at ts with secret, as HeaderSignature
// carries it.
func Sign(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func (w *webhook) Send(ctx context.Context, d *Delivery) (Receipt, error) {
	body, err := Body(w.format, d.N)
	if err != nil {
		return Receipt{}, &PermanentError{Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return Receipt{}, &PermanentError{Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "vigil/"+version.Version)
	req.Header.Set(HeaderDelivery, d.N.ID)
	req.Header.Set(HeaderEvent, d.N.Event)
	for k, v := range w.headers {
		req.Header.Set(k, v)
	}
	if w.secret != nil {
		ts := strconv.FormatInt(w.now().Unix(), 10)
		req.Header.Set(HeaderTimestamp, ts)
		req.Header.Set(HeaderSignature, Sign(w.secret, ts, body))
	}
	return do(w.client, req)
}

// do sends req and classifies the answer.
func do(c *http.Client, req *http.Request) (Receipt, error) {
	resp, err := c.Do(req)
	if err != nil {
		return Receipt{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	r := Receipt{Answer: answer(resp.Status, b)}
	return r, statusError(resp.StatusCode, r.Answer)
}

func (w *webhook) Close() error { w.client.CloseIdleConnections(); return nil }
