package alert

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// DetectionSchema versions the detection: what the backend stores,
// correlates and routes, one kind of object whatever its source.
const DetectionSchema = "vigil.detection/1"

// Source is where a detection comes from.
type Source string

// Sources.
const (
	SourceRuntime    Source = "runtime"
	SourceCloudTrail Source = "cloudtrail"
	SourceVPCFlow    Source = "vpcflow"
	SourceK8sAudit   Source = "k8saudit"
)

// Sources lists every source: runtime first, then the cloud logs the
// backend ingests. The one list the rules, the parsers and the API use.
func Sources() []Source {
	return []Source{SourceRuntime, SourceCloudTrail, SourceVPCFlow, SourceK8sAudit}
}

// Detection is one rule match, from a host or a cloud log.
type Detection struct {
	Schema      string    `json:"schema"`
	ID          string    `json:"id"`
	Source      Source    `json:"source"`
	Rule        string    `json:"rule"`
	Severity    Severity  `json:"severity"`
	Tactic      string    `json:"mitre_tactic"`
	Technique   string    `json:"mitre_technique"`
	Tags        []string  `json:"tags,omitempty"`
	Time        time.Time `json:"time"` // of the triggering event, not of arrival
	Message     string    `json:"message"`
	Description string    `json:"description,omitempty"`
	Remediation string    `json:"remediation,omitempty"`
	Env         string    `json:"env,omitempty"`
	// Actors did it: a process, a user, an IAM principal or access key, a
	// source IP, a user agent, a Kubernetes user or service account.
	Actors []Entity `json:"actors,omitempty"`
	// Resources it was done to or on: a host, an instance, an account, a
	// region, a container, a pod, a role, a bucket...
	Resources []Entity `json:"resources,omitempty"`
	Evidence  Evidence `json:"evidence"`
}

// Entity is an actor or a resource: its kind and the id the correlation
// joins on.
type Entity struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// Entity kinds a runtime detection names; cloud sources add their own.
const (
	KindHost      = "host"
	KindInstance  = "instance"
	KindAccount   = "account"
	KindRegion    = "region"
	KindContainer = "container"
	KindProcess   = "process"
	KindUser      = "user"
)

// Entity kinds of cloud detections.
const (
	KindPrincipal = "principal"  // an IAM principal ARN (a role session's role)
	KindAccessKey = "access_key" // AKIA... (long-term) or ASIA... (temporary)
	KindIP        = "ip"
	KindUserAgent = "user_agent"
	KindRole      = "role"
	KindIAMUser   = "iam_user"
	KindBucket    = "bucket"
	KindARN       = "arn" // any other resource, by its ARN
	KindInterface = "interface"
	KindVPC       = "vpc"
	KindCluster   = "cluster"
	KindNamespace = "namespace"
	KindPod       = "pod"        // namespace/name
	KindK8sUser   = "k8s_user"   // a Kubernetes user or service account
	KindK8sObject = "k8s_object" // resource/namespace/name
	// An SSM Run Command (its commandId) and a Session Manager session (its
	// sessionId): CloudTrail names them, and so does the ancestry of what
	// they ran on the host.
	KindSSMCommand = "ssm_command"
	KindSSMSession = "ssm_session"
)

// Evidence is what triggered a detection, as it came.
type Evidence struct {
	// Alert is the agent's alert (source runtime), unchanged.
	Alert *Alert `json:"alert,omitempty"`
	// Records are the triggering cloud log records, as received.
	Records []json.RawMessage `json:"records,omitempty"`
}

// FromAlert makes the detection of an agent's alert: the same id, rule,
// severity and time; the process and its user as actors; the host, its
// instance, account, region and container as resources.
func FromAlert(a *Alert) Detection {
	d := Detection{
		Schema: DetectionSchema, ID: a.ID, Source: SourceRuntime, Rule: a.Rule, Severity: a.Severity,
		Tactic: a.Tactic, Technique: a.Technique, Tags: a.Tags, Time: a.Time, Message: a.Message,
		Description: a.Description, Remediation: a.Remediation, Env: a.Host.Env, Evidence: Evidence{Alert: a},
	}
	p := a.Process
	if p.ExecID != "" || p.Exe != "" {
		d.Actors = append(d.Actors, Entity{Kind: KindProcess, ID: p.ExecID, Name: p.Exe})
	}
	user := p.User
	if user == "" {
		user = strconv.FormatUint(uint64(p.UID), 10)
	}
	d.Actors = append(d.Actors, Entity{Kind: KindUser, ID: a.Host.ID + "/" + strconv.FormatUint(uint64(p.UID), 10), Name: user})
	d.Resources = append(d.Resources, Entity{Kind: KindHost, ID: a.Host.ID, Name: a.Host.Name})
	if info := a.Host.Info; info != nil && info.Cloud != nil {
		c := info.Cloud
		for _, e := range []Entity{{KindInstance, c.InstanceID, ""}, {KindAccount, c.AccountID, ""}, {KindRegion, c.Region, ""}} {
			if e.ID != "" {
				d.Resources = append(d.Resources, e)
			}
		}
	}
	if a.Container.ID != "" {
		d.Resources = append(d.Resources, Entity{Kind: KindContainer, ID: a.Container.ID, Name: a.Container.Runtime})
	}
	if c := a.Container; c.PodName != "" && c.PodNamespace != "" {
		// As Kubernetes audit names them: the join with exec and attach.
		d.Resources = append(d.Resources, Entity{Kind: KindPod, ID: c.PodNamespace + "/" + c.PodName, Name: c.Name},
			Entity{Kind: KindNamespace, ID: c.PodNamespace})
	}
	d.Resources = append(d.Resources, ssmOrigins(a)...)
	return d
}

// ssmOrigins are the SSM commands and sessions an alert's process descends
// from: the agent runs a command's scripts from
// /var/lib/amazon/ssm/<instance>/document/orchestration/<commandId>/..., and
// a session's shell under `ssm-session-worker <sessionId> ...`.
func ssmOrigins(a *Alert) []Entity {
	var out []Entity
	add := func(kind, id string) {
		for _, e := range out {
			if e.Kind == kind && e.ID == id {
				return
			}
		}
		out = append(out, Entity{Kind: kind, ID: id})
	}
	look := func(name, exe string, args []string) {
		for _, s := range append([]string{exe}, args...) {
			if _, rest, ok := strings.Cut(s, "/document/orchestration/"); ok {
				if id, _, _ := strings.Cut(rest, "/"); isCommandID(id) {
					add(KindSSMCommand, id)
				}
			}
		}
		if name == "ssm-session-worker" && len(args) > 1 && args[1] != "" && !strings.HasPrefix(args[1], "-") {
			add(KindSSMSession, args[1])
		}
	}
	p := a.Process
	look(p.Name, p.Exe, p.Args)
	for _, an := range p.Ancestors {
		look(an.Name, an.Exe, an.Args)
	}
	return out
}

// isCommandID: SSM command ids are UUIDs.
func isCommandID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'):
			return false
		}
	}
	return true
}

// Scope is what the detection is correlated under: its AWS account, else
// its Kubernetes cluster, else its host ("" when it names none). It is the
// key of its detection-stream subject, from which the stream derives the
// correlation partition, so everything in one account has one owner.
func (d *Detection) Scope() string {
	for _, kind := range [...]string{KindAccount, KindCluster, KindHost} {
		for _, r := range d.Resources {
			if r.Kind == kind && r.ID != "" {
				return r.ID
			}
		}
	}
	return ""
}
