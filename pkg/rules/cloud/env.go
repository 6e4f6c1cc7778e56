package cloud

import (
	"encoding/json"
	"net/url"
	"strings"

	"github.com/expr-lang/expr"

	"github.com/vigil-sec/vigil/pkg/cloudevent"
)

// Env is what a cloud condition sees. Parts of other sources are present
// and empty, so a condition never dereferences nil.
type Env struct {
	Source string                      `expr:"source"`
	Key    string                      `expr:"key"` // the account or cluster
	Env    string                      `expr:"env"`
	CT     *cloudevent.CloudTrailEvent `expr:"ct"`
	Flow   *cloudevent.FlowRecord      `expr:"flow"`
	KA     *cloudevent.AuditEvent      `expr:"ka"`
}

var (
	noCT   = &cloudevent.CloudTrailEvent{}
	noFlow = &cloudevent.FlowRecord{}
	noKA   = &cloudevent.AuditEvent{}
	roots  = map[string]bool{"source": true, "key": true, "env": true, "ct": true, "flow": true, "ka": true}
)

// Reset points env at r.
func (env *Env) Reset(r *cloudevent.Record) {
	env.Source, env.Key, env.Env = r.Source, r.Key, r.Env
	env.CT, env.Flow, env.KA = noCT, noFlow, noKA
	if r.CloudTrail != nil {
		env.CT = r.CloudTrail
	}
	if r.Flow != nil {
		env.Flow = r.Flow
	}
	if r.K8s != nil {
		env.KA = r.K8s
	}
}

// Policy functions: an IAM policy document, given as its JSON text (as
// CloudTrail logs it, URL-decoded or not) or as a decoded object.
var functions = []expr.Option{
	expr.Function("policy_admin", func(p ...any) (any, error) { return PolicyAdmin(p[0]), nil }, new(func(any) bool)),
	expr.Function("policy_public", func(p ...any) (any, error) { return PolicyPublic(p[0]), nil }, new(func(any) bool)),
	expr.Function("policy_external", func(p ...any) (any, error) { return PolicyExternal(p[0], str(p[1])), nil }, new(func(any, any) bool)),
	expr.Function("arn_account", func(p ...any) (any, error) { return ARNAccount(str(p[0])), nil }, new(func(any) string)),
	expr.Function("str", func(p ...any) (any, error) { return str(p[0]), nil }, new(func(any) string)),
}

func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

// statement is one policy statement, with its lists normalized.
type statement struct {
	Allow      bool
	Actions    []string
	NotActions bool
	Resources  []string
	Principals []string // AWS, Federated and Service principals, and "*"
}

// statements reads a policy document leniently: a document that does not
// parse has no statements.
func statements(doc any) []statement {
	var m map[string]any
	switch d := doc.(type) {
	case string:
		s := d
		if strings.Contains(s, "%7B") || strings.Contains(s, "%22") {
			s = urlDecode(s)
		}
		if json.Unmarshal([]byte(s), &m) != nil {
			return nil
		}
	case map[string]any:
		m = d
	default:
		return nil
	}
	var raw []any
	switch st := m["Statement"].(type) {
	case []any:
		raw = st
	case map[string]any:
		raw = []any{st}
	}
	var out []statement
	for _, r := range raw {
		sm, _ := r.(map[string]any)
		if sm == nil {
			continue
		}
		s := statement{Allow: strings.EqualFold(str(sm["Effect"]), "Allow")}
		s.Actions = list(sm["Action"])
		if na := list(sm["NotAction"]); len(na) > 0 {
			s.NotActions = true
		}
		s.Resources = list(sm["Resource"])
		switch p := sm["Principal"].(type) {
		case string:
			s.Principals = []string{p}
		case map[string]any:
			for _, k := range []string{"AWS", "Federated", "Service"} {
				for _, v := range list(p[k]) {
					if k == "Service" {
						v = "service:" + v
					}
					s.Principals = append(s.Principals, v)
				}
			}
		}
		out = append(out, s)
	}
	return out
}

func list(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// PolicyAdmin tells whether a policy allows every action (or every action
// of iam, or everything but a few) on every resource.
func PolicyAdmin(doc any) bool {
	for _, s := range statements(doc) {
		if !s.Allow {
			continue
		}
		star := s.NotActions
		for _, a := range s.Actions {
			if a == "*" || a == "*:*" || strings.EqualFold(a, "iam:*") {
				star = true
			}
		}
		res := len(s.Resources) == 0
		for _, r := range s.Resources {
			if r == "*" {
				res = true
			}
		}
		if star && res {
			return true
		}
	}
	return false
}

// PolicyPublic tells whether a policy allows anyone ("*" principal).
func PolicyPublic(doc any) bool {
	for _, s := range statements(doc) {
		for _, p := range s.Principals {
			if s.Allow && (p == "*" || p == "arn:aws:iam::*:root") {
				return true
			}
		}
	}
	return false
}

// PolicyExternal tells whether a policy allows a principal of another AWS
// account than account (or anyone, or a federated identity provider).
func PolicyExternal(doc any, account string) bool {
	for _, s := range statements(doc) {
		if !s.Allow {
			continue
		}
		for _, p := range s.Principals {
			switch {
			case strings.HasPrefix(p, "service:"):
			case p == "*":
				return true
			case strings.HasPrefix(p, "arn:aws:iam::") && strings.Contains(p, ":saml-provider/"),
				strings.HasPrefix(p, "arn:aws:iam::") && strings.Contains(p, ":oidc-provider/"):
				// Federation to an identity provider of the account itself
				// is ordinary SSO.
				if account != "" && !strings.HasPrefix(p, "arn:aws:iam::"+account+":") {
					return true
				}
			case strings.HasPrefix(p, "arn:aws"):
				parts := strings.Split(p, ":")
				if len(parts) > 4 && parts[4] != account {
					return true
				}
			case isAccountID(p) && p != account:
				return true
			}
		}
	}
	return false
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func urlDecode(s string) string {
	if d, err := url.QueryUnescape(s); err == nil {
		return d
	}
	return s
}

// ARNAccount is the account field of an ARN ("" when s is not one).
func ARNAccount(s string) string {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) < 6 || parts[0] != "arn" {
		return ""
	}
	return parts[4]
}
