package ui

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The page and its assets are served with the strict CSP and the other
// hardening headers; nothing else of the embedded tree is.
func TestServesThePagesWithTheirHeaders(t *testing.T) {
	ts := httptest.NewServer(Handler())
	defer ts.Close()
	for path, want := range map[string]struct {
		code int
		ct   string
		body string
	}{
		"/":                {200, "text/html", `src="/ui/app.js"`},
		"/ui/app.js":       {200, "javascript", "textContent"},
		"/ui/app.css":      {200, "text/css", "--accent"},
		"/ui/index.html":   {404, "", ""},
		"/ui/../ui/app.js": {200, "javascript", ""},
		"/ui/nope.js":      {404, "", ""},
	} {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want.code || !strings.Contains(resp.Header.Get("Content-Type"), want.ct) || !strings.Contains(string(b), want.body) {
			t.Errorf("%s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if resp.Header.Get("Content-Security-Policy") != CSP || resp.Header.Get("X-Frame-Options") != "DENY" ||
			resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: headers %v", path, resp.Header)
		}
	}
	if !strings.Contains(CSP, "script-src 'self'") || strings.Contains(CSP, "unsafe") {
		t.Errorf("CSP %s", CSP)
	}
}

// The app never writes HTML from strings (the browser test checks that
// markup in data stays text; this keeps the sinks out of the code).
func TestNoHTMLSinks(t *testing.T) {
	for _, name := range []string{"assets/app.js", "assets/index.html"} {
		b, err := assets.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "javascript:"} {
			if strings.Contains(string(b), sink) {
				t.Errorf("%s uses %s", name, sink)
			}
		}
	}
}
