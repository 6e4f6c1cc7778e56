package cloudevent

import (
	"bytes"
	json "github.com/goccy/go-json"
	"strings"
)

// AuditEvent is one Kubernetes audit event (audit.k8s.io/v1, and the
// v1beta1 fields older clusters log).
type AuditEvent struct {
	Kind                     string            `json:"kind" expr:"kind"`
	APIVersion               string            `json:"apiVersion" expr:"api_version"`
	Level                    string            `json:"level" expr:"level"`
	AuditID                  string            `json:"auditID" expr:"audit_id"`
	Stage                    string            `json:"stage" expr:"stage"`
	RequestURI               string            `json:"requestURI" expr:"uri"`
	Verb                     string            `json:"verb" expr:"verb"`
	User                     K8sUser           `json:"user" expr:"user"`
	ImpersonatedUser         K8sUser           `json:"impersonatedUser" expr:"impersonated_user"`
	SourceIPs                []string          `json:"sourceIPs" expr:"source_ips"`
	UserAgent                string            `json:"userAgent" expr:"user_agent"`
	ObjectRef                ObjectRef         `json:"objectRef" expr:"target"`
	ResponseStatus           ResponseStatus    `json:"responseStatus" expr:"response_status"`
	RequestObject            map[string]any    `json:"requestObject" expr:"request"`
	ResponseObject           map[string]any    `json:"responseObject" expr:"response"`
	Annotations              map[string]string `json:"annotations" expr:"annotations"`
	RequestReceivedTimestamp string            `json:"requestReceivedTimestamp" expr:"received_time"`
	StageTimestamp           string            `json:"stageTimestamp" expr:"stage_time"`
	Timestamp                string            `json:"timestamp" expr:"-"` // v1beta1

	// Derived, for rules.
	SourceIP       string   `json:"-" expr:"source_ip"`       // the last source IP (the one the API server saw)
	Decision       string   `json:"-" expr:"decision"`        // authorization decision: allow, forbid or ""
	Anonymous      bool     `json:"-" expr:"anonymous"`       // system:anonymous or the system:unauthenticated group
	ServiceAccount bool     `json:"-" expr:"service_account"` // the user is a service account
	Privileged     bool     `json:"-" expr:"privileged"`      // a container of the pod (template) is privileged
	HostPID        bool     `json:"-" expr:"host_pid"`
	HostNetwork    bool     `json:"-" expr:"host_network"`
	HostIPC        bool     `json:"-" expr:"host_ipc"`
	HostPaths      []string `json:"-" expr:"host_paths"` // hostPath volumes of the pod (template)
	Images         []string `json:"-" expr:"images"`     // container images of the pod (template)
	RoleRef        string   `json:"-" expr:"role_ref"`   // a binding's roleRef name
	Subjects       []string `json:"-" expr:"subjects"`   // a binding's subjects, kind:namespace/name
	RuleVerbs      []string `json:"-" expr:"rule_verbs"` // a role's rules: every verb
	RuleResources  []string `json:"-" expr:"rule_resources"`
	// ObjectName is the object's name: objectRef's, else the created
	// object's (a pod made from generateName is named in the response).
	ObjectName string `json:"-" expr:"object_name"`
}

// K8sUser is an authenticated user.
type K8sUser struct {
	Username string              `json:"username" expr:"name"`
	UID      string              `json:"uid" expr:"uid"`
	Groups   []string            `json:"groups" expr:"groups"`
	Extra    map[string][]string `json:"extra" expr:"extra"`
}

// ObjectRef is what a request was about.
type ObjectRef struct {
	Resource    string `json:"resource" expr:"resource"`
	Namespace   string `json:"namespace" expr:"namespace"`
	Name        string `json:"name" expr:"name"`
	UID         string `json:"uid" expr:"uid"`
	APIGroup    string `json:"apiGroup" expr:"api_group"`
	APIVersion  string `json:"apiVersion" expr:"api_version"`
	Subresource string `json:"subresource" expr:"subresource"`
}

// ResponseStatus is the API server's answer.
type ResponseStatus struct {
	Code    int    `json:"code" expr:"code"`
	Status  string `json:"status" expr:"status"`
	Reason  string `json:"reason" expr:"reason"`
	Message string `json:"message" expr:"message"`
}

// ParseK8sAudit reads audit events: JSON lines (the API server's log
// backend), an EventList, a bare array or single events. cluster is the
// join key (audit events do not name their cluster).
func ParseK8sAudit(file string, data []byte, cluster string) ([]Record, []*RecordError) {
	return collect(file, data, "items", func(v json.RawMessage) json.RawMessage {
		var list struct {
			Kind  string          `json:"kind"`
			Items json.RawMessage `json:"items"`
		}
		if bytes.Contains(v, []byte(`"EventList"`)) && unmarshal(v, &list) == nil && list.Kind == "EventList" {
			return list.Items
		}
		return nil
	}, func(raw json.RawMessage) (Record, string) { return parseAuditRecord(raw, cluster) })
}

func parseAuditRecord(raw json.RawMessage, cluster string) (Record, string) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '{' {
		return Record{}, "not a JSON object"
	}
	ev, reason := decodeAudit(raw)
	if reason != "" {
		return Record{}, reason
	}
	if ev.AuditID == "" || ev.Verb == "" {
		return Record{}, "no auditID or verb (not a Kubernetes audit event)"
	}
	ts := string(ev.StageTimestamp)
	if ts == "" {
		ts = string(ev.RequestReceivedTimestamp)
	}
	if ts == "" {
		ts = string(ev.Timestamp)
	}
	tm, ok := parseTime(ts)
	if !ok {
		return Record{}, "no valid stageTimestamp or requestReceivedTimestamp"
	}
	deriveAudit(ev)
	id := string(ev.AuditID) + "/" + string(ev.Stage)
	return Record{Schema: Schema, Source: K8sAudit, ID: id, Time: tm, Key: Token(cluster), K8s: ev, Raw: compact(raw)}, ""
}

// decodeAudit decodes an event; reason says why it cannot be.
func decodeAudit(raw json.RawMessage) (*AuditEvent, string) {
	ev := &AuditEvent{}
	if err := unmarshal(raw, ev); err != nil {
		// A field of an unexpected type: keep what parses leniently.
		var m map[string]json.RawMessage
		if unmarshal(raw, &m) != nil {
			if !json.Valid(raw) {
				return nil, "not JSON"
			}
			return nil, "invalid event: " + err.Error()
		}
		ev = &AuditEvent{}
		for k, v := range m {
			one, _ := json.Marshal(map[string]json.RawMessage{k: v})
			_ = unmarshal(one, ev)
		}
	}
	return ev, ""
}

func deriveAudit(ev *AuditEvent) {
	ev.Privileged, ev.HostPID, ev.HostNetwork, ev.HostIPC = false, false, false, false
	ev.HostPaths, ev.Images, ev.RoleRef, ev.Subjects, ev.RuleVerbs, ev.RuleResources = nil, nil, "", nil, nil, nil
	if n := len(ev.SourceIPs); n > 0 {
		ev.SourceIP = string(ev.SourceIPs[n-1])
	}
	ev.Decision = ev.Annotations["authorization.k8s.io/decision"]
	name := string(ev.User.Username)
	ev.Anonymous = name == "system:anonymous"
	for _, g := range ev.User.Groups {
		if g == "system:unauthenticated" {
			ev.Anonymous = true
		}
	}
	ev.ServiceAccount = strings.HasPrefix(name, "system:serviceaccount:")
	ev.ObjectName = ev.ObjectRef.Name
	for _, o := range []map[string]any{ev.ResponseObject, ev.RequestObject} {
		if ev.ObjectName != "" {
			break
		}
		md, _ := o["metadata"].(map[string]any)
		if n, _ := md["name"].(string); n != "" {
			ev.ObjectName = n
		} else if g, _ := md["generateName"].(string); g != "" {
			ev.ObjectName = g + "*"
		}
	}
	obj := ev.RequestObject
	if obj == nil {
		return
	}
	if spec := podSpec(obj); spec != nil {
		ev.HostPID, _ = spec["hostPID"].(bool)
		ev.HostNetwork, _ = spec["hostNetwork"].(bool)
		ev.HostIPC, _ = spec["hostIPC"].(bool)
		for _, key := range []string{"containers", "initContainers", "ephemeralContainers"} {
			cs, _ := spec[key].([]any)
			for _, c := range cs {
				cm, _ := c.(map[string]any)
				if img, ok := cm["image"].(string); ok {
					ev.Images = append(ev.Images, img)
				}
				sc, _ := cm["securityContext"].(map[string]any)
				if p, _ := sc["privileged"].(bool); p {
					ev.Privileged = true
				}
			}
		}
		vols, _ := spec["volumes"].([]any)
		for _, v := range vols {
			vm, _ := v.(map[string]any)
			if hp, ok := vm["hostPath"].(map[string]any); ok {
				p, _ := hp["path"].(string)
				ev.HostPaths = append(ev.HostPaths, p)
			}
		}
	}
	if rr, ok := obj["roleRef"].(map[string]any); ok {
		ev.RoleRef, _ = rr["name"].(string)
	}
	subs, _ := obj["subjects"].([]any)
	for _, s := range subs {
		sm, _ := s.(map[string]any)
		kind, _ := sm["kind"].(string)
		ns, _ := sm["namespace"].(string)
		n, _ := sm["name"].(string)
		ev.Subjects = append(ev.Subjects, kind+":"+ns+"/"+n)
	}
	rules, _ := obj["rules"].([]any)
	for _, r := range rules {
		rm, _ := r.(map[string]any)
		for _, key := range []string{"verbs", "resources"} {
			vs, _ := rm[key].([]any)
			for _, v := range vs {
				if s, ok := v.(string); ok {
					if key == "verbs" {
						ev.RuleVerbs = append(ev.RuleVerbs, s)
					} else {
						ev.RuleResources = append(ev.RuleResources, s)
					}
				}
			}
		}
	}
}

// podSpec finds the pod spec of a pod or of a workload's pod template.
func podSpec(obj map[string]any) map[string]any {
	spec, _ := obj["spec"].(map[string]any)
	if spec == nil {
		return nil
	}
	if _, ok := spec["containers"]; ok {
		return spec
	}
	if jt, ok := spec["jobTemplate"].(map[string]any); ok { // CronJob
		spec, _ = jt["spec"].(map[string]any)
	}
	if tpl, ok := spec["template"].(map[string]any); ok {
		s, _ := tpl["spec"].(map[string]any)
		return s
	}
	return nil
}
