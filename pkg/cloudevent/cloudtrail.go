package cloudevent

import (
	"bytes"
	json "github.com/goccy/go-json"
	"strings"
)

// CloudTrailEvent is one CloudTrail record. Field names in rules are the
// `expr` tags (ct.event_name, ct.user.arn...).
type CloudTrailEvent struct {
	EventVersion       string       `json:"eventVersion" expr:"event_version"`
	EventTime          string       `json:"eventTime" expr:"event_time"`
	EventSource        string       `json:"eventSource" expr:"event_source"`
	EventName          string       `json:"eventName" expr:"event_name"`
	EventID            string       `json:"eventID" expr:"event_id"`
	EventType          string       `json:"eventType" expr:"event_type"`
	EventCategory      string       `json:"eventCategory" expr:"event_category"`
	RequestID          string       `json:"requestID" expr:"request_id"`
	ReadOnly           bool         `json:"readOnly" expr:"read_only"`
	ManagementEvent    bool         `json:"managementEvent" expr:"management_event"`
	AWSRegion          string       `json:"awsRegion" expr:"region"`
	RecipientAccountID string       `json:"recipientAccountId" expr:"account"`
	SourceIPAddress    string       `json:"sourceIPAddress" expr:"source_ip"`
	UserAgent          string       `json:"userAgent" expr:"user_agent"`
	ErrorCode          string       `json:"errorCode" expr:"error_code"`
	ErrorMessage       string       `json:"errorMessage" expr:"error_message"`
	VPCEndpointID      string       `json:"vpcEndpointId" expr:"vpc_endpoint"`
	UserIdentity       UserIdentity `json:"userIdentity" expr:"user"`
	// RequestParameters and ResponseElements are decoded on demand, from
	// RequestRaw and ResponseRaw (Decode): most records meet no rule that
	// reads them, and they are most of a record's decoding.
	RequestParameters   map[string]any  `json:"-" expr:"request"`
	ResponseElements    map[string]any  `json:"-" expr:"response"`
	RequestRaw          json.RawMessage `json:"requestParameters,omitempty" expr:"-"`
	ResponseRaw         json.RawMessage `json:"responseElements,omitempty" expr:"-"`
	AdditionalEventData map[string]any  `json:"additionalEventData" expr:"additional"`
	Resources           []CTResource    `json:"resources" expr:"resources"`

	// Derived at parse time, for rules.
	MFA         bool   `json:"-" expr:"mfa"`          // the caller authenticated with MFA
	FromService bool   `json:"-" expr:"from_service"` // an AWS service made the call for someone
	Actor       string `json:"-" expr:"actor"`        // the principal: its ARN (the role's for a role session)
	RequestJSON string `json:"-" expr:"request_json"` // requestParameters as JSON, for substring tests (Decode(PartRequestJSON))

	decoded Part
}

// Part names the fields of a CloudTrailEvent decoded on demand.
type Part uint8

const (
	PartRequest     Part = 1 << iota // RequestParameters
	PartResponse                     // ResponseElements
	PartRequestJSON                  // RequestJSON (implies PartRequest)
	PartAll         = PartRequest | PartResponse | PartRequestJSON
)

// Decode fills the parts p names that are not filled yet. A part whose raw
// JSON is not an object stays empty, as a field of the wrong type does.
func (ev *CloudTrailEvent) Decode(p Part) {
	if p&PartRequestJSON != 0 {
		p |= PartRequest
	}
	p &^= ev.decoded
	if p == 0 {
		return
	}
	ev.decoded |= p
	if p&PartRequest != 0 {
		ev.RequestParameters = object(ev.RequestRaw)
	}
	if p&PartResponse != 0 {
		ev.ResponseElements = object(ev.ResponseRaw)
	}
	if p&PartRequestJSON != 0 {
		// One form whatever the input's: compact, keys sorted.
		ev.RequestJSON = ""
		if ev.RequestParameters != nil {
			b, _ := json.Marshal(ev.RequestParameters)
			ev.RequestJSON = string(b)
		}
	}
}

func object(raw json.RawMessage) map[string]any {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '{' {
		return nil
	}
	var m map[string]any
	if unmarshal(t, &m) != nil {
		return nil
	}
	return m
}

// UserIdentity is who made a CloudTrail call.
type UserIdentity struct {
	Type           string         `json:"type" expr:"type"`
	PrincipalID    string         `json:"principalId" expr:"principal_id"`
	ARN            string         `json:"arn" expr:"arn"`
	AccountID      string         `json:"accountId" expr:"account"`
	AccessKeyID    string         `json:"accessKeyId" expr:"access_key"`
	UserName       string         `json:"userName" expr:"name"`
	InvokedBy      string         `json:"invokedBy" expr:"invoked_by"`
	SessionContext SessionContext `json:"sessionContext" expr:"session"`
}

// SessionContext describes temporary credentials.
type SessionContext struct {
	SessionIssuer struct {
		Type      string `json:"type" expr:"type"`
		ARN       string `json:"arn" expr:"arn"`
		UserName  string `json:"userName" expr:"name"`
		AccountID string `json:"accountId" expr:"account"`
	} `json:"sessionIssuer" expr:"issuer"`
	Attributes struct {
		CreationDate     string `json:"creationDate" expr:"creation_date"`
		MFAAuthenticated Flag   `json:"mfaAuthenticated" expr:"mfa"`
	} `json:"attributes" expr:"attributes"`
	SourceIdentity  string `json:"sourceIdentity" expr:"source_identity"`
	EC2RoleDelivery string `json:"ec2RoleDelivery" expr:"ec2_role_delivery"`
}

// CTResource is an entry of a record's resources list.
type CTResource struct {
	ARN       string `json:"ARN" expr:"arn"`
	AccountID string `json:"accountId" expr:"account"`
	Type      string `json:"type" expr:"type"`
}

// ParseCloudTrail reads CloudTrail records from data: the S3 file envelope
// {"Records":[...]}, a bare array, single records, or JSON lines of either.
// Records that cannot be used are returned as errors naming file and line.
func ParseCloudTrail(file string, data []byte) ([]Record, []*RecordError) {
	return collect(file, data, "Records", func(v json.RawMessage) json.RawMessage {
		var env struct {
			Records json.RawMessage `json:"Records"`
		}
		if bytes.Contains(v, []byte(`"Records"`)) && unmarshal(v, &env) == nil {
			return env.Records
		}
		return nil
	}, parseCTRecord)
}

// collect reads the JSON records of data: top-level values (one document,
// concatenated ones, JSON lines), arrays of records, and envelopes (unwrap
// returns the array an object wraps, or nil; it is asked only of objects
// parse refuses); parse normalizes one record or says why it cannot be used.
func collect(file string, data []byte, envelope string, unwrap func(json.RawMessage) json.RawMessage,
	parse func(json.RawMessage) (Record, string)) ([]Record, []*RecordError) {
	var out []Record
	var errs []*RecordError
	idx := 0
	result := func(off int64, r Record, reason string) {
		if reason != "" {
			errs = append(errs, &RecordError{File: file, Line: lineOf(data, off), Index: idx, Reason: reason})
		} else {
			out = append(out, r)
		}
		idx++
	}
	add := func(off int64, raw json.RawMessage) {
		r, reason := parse(raw)
		result(off, r, reason)
	}
	addAll := func(off int64, arr json.RawMessage, what string) {
		elems, eoffs, err := arrayElems(arr)
		if err != nil {
			errs = append(errs, &RecordError{File: file, Line: lineOf(data, off), Index: idx, Reason: what + ": " + err.Error()})
			return
		}
		for i, e := range elems {
			add(off+eoffs[i], e)
		}
	}
	bad := jsonValues(data, func(off int64, v json.RawMessage) {
		t := bytes.TrimLeft(v, " \t\r\n")
		switch {
		case len(t) == 0:
		case t[0] == '[':
			addAll(off, v, "array")
		case t[0] == '{':
			// A record, most of the time: an envelope is tried only for an
			// object that is not one.
			r, reason := parse(v)
			if reason != "" {
				if arr := unwrap(v); len(arr) > 0 && !bytes.Equal(arr, []byte("null")) {
					addAll(off+int64(bytes.Index(v, arr)), arr, envelope)
					return
				}
			}
			result(off, r, reason)
		default:
			add(off, v)
		}
	})
	for _, off := range bad {
		errs = append(errs, &RecordError{File: file, Line: lineOf(data, off), Index: idx, Reason: "not JSON"})
		idx++
	}
	return out, errs
}

// arrayElems splits a JSON array into its elements and their offsets.
func arrayElems(v json.RawMessage) ([]json.RawMessage, []int64, error) {
	dec := json.NewDecoder(bytes.NewReader(v))
	if _, err := dec.Token(); err != nil {
		return nil, nil, err
	}
	var elems []json.RawMessage
	var offs []int64
	for dec.More() {
		start := dec.InputOffset()
		var e json.RawMessage
		if err := decodeNext(dec, &e); err != nil {
			return elems, offs, err
		}
		// InputOffset before Decode points at the separator: skip it.
		for start < int64(len(v)) && (v[start] == ',' || v[start] == ' ' || v[start] == '\n' || v[start] == '\r' || v[start] == '\t') {
			start++
		}
		elems = append(elems, e)
		offs = append(offs, start)
	}
	return elems, offs, nil
}

// parseCTRecord normalizes one record; reason is why it cannot be used.
func parseCTRecord(raw json.RawMessage) (Record, string) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '{' {
		return Record{}, "not a JSON object"
	}
	ev, reason := decodeCT(raw)
	if reason != "" {
		return Record{}, reason
	}
	if ev.EventName == "" || ev.EventSource == "" {
		return Record{}, "no eventName or eventSource (not a CloudTrail record)"
	}
	tm, ok := parseTime(string(ev.EventTime))
	if !ok {
		return Record{}, "eventTime " + quoteShort(string(ev.EventTime)) + " is not an RFC 3339 time"
	}
	derive(ev)
	id := string(ev.EventID)
	if id == "" {
		id = hashID(raw)
	}
	key := string(ev.RecipientAccountID)
	if key == "" {
		key = string(ev.UserIdentity.AccountID)
	}
	return Record{Schema: Schema, Source: CloudTrail, ID: id, Time: tm, Key: Token(key), CloudTrail: ev, Raw: compact(raw)}, ""
}

// decodeCT decodes a record; reason says why it cannot be.
func decodeCT(raw json.RawMessage) (*CloudTrailEvent, string) {
	ev := &CloudTrailEvent{}
	if err := unmarshal(raw, ev); err != nil {
		// A field of an unexpected type: keep what parses leniently.
		ev = lenientCT(raw)
		if ev == nil {
			if !json.Valid(raw) {
				return nil, "not JSON"
			}
			return nil, "invalid record: " + err.Error()
		}
	}
	return ev, ""
}

// lenientCT decodes field by field, dropping the ones of a wrong type.
func lenientCT(raw json.RawMessage) *CloudTrailEvent {
	var m map[string]json.RawMessage
	if unmarshal(raw, &m) != nil {
		return nil
	}
	ev := &CloudTrailEvent{}
	for k, v := range m {
		one, _ := json.Marshal(map[string]json.RawMessage{k: v})
		_ = unmarshal(one, ev) // a field of the wrong type stays empty
	}
	return ev
}

func derive(ev *CloudTrailEvent) {
	u := &ev.UserIdentity
	ev.MFA = bool(u.SessionContext.Attributes.MFAAuthenticated)
	ev.RequestJSON = ""
	if v, ok := ev.AdditionalEventData["MFAUsed"].(string); ok && strings.EqualFold(v, "yes") {
		ev.MFA = true
	}
	ev.FromService = u.InvokedBy != "" || u.Type == "AWSService" || strings.HasSuffix(string(ev.SourceIPAddress), ".amazonaws.com")
	ev.Actor = string(u.ARN)
	if u.Type == "AssumedRole" && u.SessionContext.SessionIssuer.ARN != "" {
		ev.Actor = string(u.SessionContext.SessionIssuer.ARN)
	}
	if ev.Actor == "" {
		ev.Actor = string(u.PrincipalID)
	}
	ev.decoded = 0
	ev.RequestParameters, ev.ResponseElements = nil, nil
}

func compact(raw json.RawMessage) json.RawMessage {
	if bytes.IndexByte(raw, '\n') < 0 && bytes.IndexByte(raw, '\t') < 0 {
		return raw // already one line (JSON lines, pushes)
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return raw
	}
	return b.Bytes()
}

func quoteShort(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return `"` + s + `"`
}

// Flag is a boolean CloudTrail logs as a string ("true"/"false", as in
// sessionContext.attributes.mfaAuthenticated) or as a boolean.
type Flag bool

// UnmarshalJSON accepts true, false, "true", "false" (any case) and null.
func (f *Flag) UnmarshalJSON(b []byte) error {
	*f = Flag(bytes.EqualFold(bytes.Trim(b, `" `), []byte("true")))
	return nil
}
