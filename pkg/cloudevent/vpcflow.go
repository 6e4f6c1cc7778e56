package cloudevent

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// FlowRecord is one VPC Flow Logs record. Absent fields ("-", or not in
// the format) are empty or zero.
type FlowRecord struct {
	Version          int    `json:"version" expr:"version"`
	AccountID        string `json:"account_id,omitempty" expr:"account"`
	InterfaceID      string `json:"interface_id,omitempty" expr:"interface"`
	SrcAddr          string `json:"srcaddr,omitempty" expr:"src"`
	DstAddr          string `json:"dstaddr,omitempty" expr:"dst"`
	SrcPort          int    `json:"srcport" expr:"src_port"`
	DstPort          int    `json:"dstport" expr:"dst_port"`
	Protocol         int    `json:"protocol" expr:"protocol"`
	Packets          int64  `json:"packets" expr:"packets"`
	Bytes            int64  `json:"bytes" expr:"bytes"`
	Start            int64  `json:"start" expr:"start"`
	End              int64  `json:"end" expr:"end"`
	Action           string `json:"action,omitempty" expr:"action"`
	LogStatus        string `json:"log_status,omitempty" expr:"log_status"`
	VPCID            string `json:"vpc_id,omitempty" expr:"vpc"`
	SubnetID         string `json:"subnet_id,omitempty" expr:"subnet"`
	InstanceID       string `json:"instance_id,omitempty" expr:"instance"`
	TCPFlags         int    `json:"tcp_flags" expr:"tcp_flags"`
	Type             string `json:"type,omitempty" expr:"type"`
	PktSrcAddr       string `json:"pkt_srcaddr,omitempty" expr:"pkt_src"`
	PktDstAddr       string `json:"pkt_dstaddr,omitempty" expr:"pkt_dst"`
	Region           string `json:"region,omitempty" expr:"region"`
	AZID             string `json:"az_id,omitempty" expr:"az"`
	PktSrcAWSService string `json:"pkt_src_aws_service,omitempty" expr:"pkt_src_service"`
	PktDstAWSService string `json:"pkt_dst_aws_service,omitempty" expr:"pkt_dst_service"`
	FlowDirection    string `json:"flow_direction,omitempty" expr:"direction"`
	TrafficPath      string `json:"traffic_path,omitempty" expr:"traffic_path"`
	// Extra holds the fields this parser does not name (ECS, transit
	// gateway...), by their flow-log names.
	Extra map[string]string `json:"extra,omitempty" expr:"extra"`

	// Derived, for rules.
	SrcPublic bool `json:"src_public" expr:"src_public"` // the source is a public (internet) address
	DstPublic bool `json:"dst_public" expr:"dst_public"`
	Egress    bool `json:"egress" expr:"egress"` // leaving the VPC: flow-direction egress, or private to public
}

// DefaultFlowFormat is the v2 default format.
var DefaultFlowFormat = []string{"version", "account-id", "interface-id", "srcaddr", "dstaddr", "srcport", "dstport",
	"protocol", "packets", "bytes", "start", "end", "action", "log-status"}

var knownFlowFields = map[string]bool{}

func init() {
	for _, f := range []string{"version", "account-id", "interface-id", "srcaddr", "dstaddr", "srcport", "dstport",
		"protocol", "packets", "bytes", "start", "end", "action", "log-status", "vpc-id", "subnet-id", "instance-id",
		"tcp-flags", "type", "pkt-srcaddr", "pkt-dstaddr", "region", "az-id", "sublocation-type", "sublocation-id",
		"pkt-src-aws-service", "pkt-dst-aws-service", "flow-direction", "traffic-path"} {
		knownFlowFields[f] = true
	}
}

// ParseFlowFormat reads a format: flow-log field names separated by
// spaces, optionally as ${field} (the AWS console's notation).
func ParseFlowFormat(s string) ([]string, error) {
	var out []string
	for _, f := range strings.Fields(s) {
		f = strings.TrimSuffix(strings.TrimPrefix(f, "${"), "}")
		f = strings.ReplaceAll(f, "_", "-")
		if f == "" {
			return nil, fmt.Errorf("format: empty field name")
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("format: no fields")
	}
	return out, nil
}

// isFlowHeader tells whether a line declares the fields (the first line of
// a flow log file written to S3).
func isFlowHeader(line string) bool {
	f := strings.Fields(line)
	return len(f) > 0 && !strings.ContainsAny(f[0], "0123456789") && knownFlowFields[strings.ReplaceAll(f[0], "_", "-")]
}

// ParseFlow reads flow records, one per line. The field order is the
// file's header line when there is one, else format, else the v2 default.
// Records with the wrong number of fields or a bad number are errors that
// name the line.
func ParseFlow(file string, data []byte, format []string) ([]Record, []*RecordError) {
	var out []Record
	var errs []*RecordError
	fields := format
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	line, idx := 0, 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if isFlowHeader(text) {
			f, err := ParseFlowFormat(text)
			if err == nil {
				fields = f
			}
			continue
		}
		if fields == nil {
			fields = DefaultFlowFormat
		}
		r, reason := parseFlowLine(text, fields)
		if reason != "" {
			errs = append(errs, &RecordError{File: file, Line: line, Index: idx, Reason: reason})
		} else {
			out = append(out, r)
		}
		idx++
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, &RecordError{File: file, Line: line + 1, Index: idx, Reason: err.Error()})
	}
	return out, errs
}

func parseFlowLine(text string, fields []string) (Record, string) {
	vals := strings.Fields(text)
	if len(vals) != len(fields) {
		return Record{}, fmt.Sprintf("%d fields, the format has %d", len(vals), len(fields))
	}
	f := &FlowRecord{}
	for i, name := range fields {
		v := vals[i]
		if v == "-" {
			continue
		}
		var err error
		switch name {
		case "version":
			f.Version, err = strconv.Atoi(v)
		case "account-id":
			f.AccountID = v
		case "interface-id":
			f.InterfaceID = v
		case "srcaddr":
			f.SrcAddr = v
		case "dstaddr":
			f.DstAddr = v
		case "srcport":
			f.SrcPort, err = atoiRange(v, 65535)
		case "dstport":
			f.DstPort, err = atoiRange(v, 65535)
		case "protocol":
			f.Protocol, err = atoiRange(v, 255)
		case "packets":
			f.Packets, err = strconv.ParseInt(v, 10, 64)
		case "bytes":
			f.Bytes, err = strconv.ParseInt(v, 10, 64)
		case "start":
			f.Start, err = strconv.ParseInt(v, 10, 64)
		case "end":
			f.End, err = strconv.ParseInt(v, 10, 64)
		case "action":
			f.Action = v
		case "log-status":
			f.LogStatus = v
		case "vpc-id":
			f.VPCID = v
		case "subnet-id":
			f.SubnetID = v
		case "instance-id":
			f.InstanceID = v
		case "tcp-flags":
			f.TCPFlags, err = strconv.Atoi(v)
		case "type":
			f.Type = v
		case "pkt-srcaddr":
			f.PktSrcAddr = v
		case "pkt-dstaddr":
			f.PktDstAddr = v
		case "region":
			f.Region = v
		case "az-id":
			f.AZID = v
		case "pkt-src-aws-service":
			f.PktSrcAWSService = v
		case "pkt-dst-aws-service":
			f.PktDstAWSService = v
		case "flow-direction":
			f.FlowDirection = v
		case "traffic-path":
			f.TrafficPath = v
		default:
			if f.Extra == nil {
				f.Extra = map[string]string{}
			}
			f.Extra[name] = v
		}
		if err != nil {
			return Record{}, fmt.Sprintf("field %s: %q is not a valid number", name, v)
		}
	}
	src, dst := f.SrcAddr, f.DstAddr
	if f.PktSrcAddr != "" {
		src = f.PktSrcAddr
	}
	if f.PktDstAddr != "" {
		dst = f.PktDstAddr
	}
	f.SrcPublic, f.DstPublic = IsPublic(src), IsPublic(dst)
	f.Egress = f.FlowDirection == "egress" || (f.FlowDirection == "" && !f.SrcPublic && f.DstPublic && src != "")
	tm := time.Unix(f.Start, 0).UTC()
	if f.Start == 0 {
		tm = time.Unix(f.End, 0).UTC()
	}
	key := f.AccountID
	if key == "" {
		key = f.InterfaceID
	}
	raw, _ := json.Marshal(text)
	return Record{Schema: Schema, Source: VPCFlow, ID: hashID([]byte(text)), Time: tm, Key: Token(key), Flow: f, Raw: raw}, ""
}

func atoiRange(v string, max int) (int, error) {
	n, err := strconv.Atoi(v)
	if err == nil && (n < 0 || n > max) {
		err = fmt.Errorf("out of range")
	}
	return n, err
}

// IsPublic tells whether an address is routable on the internet: not
// private, loopback, link-local, CGNAT, multicast or unspecified. A value
// that is not an address is not public.
func IsPublic(s string) bool {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return false
	}
	a = a.Unmap()
	if a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	if a.Is4() && cgnat.Contains(a) {
		return false
	}
	return true
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// IsIP tells whether s is an IP address (CloudTrail's sourceIPAddress may
// be a service name).
func IsIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}
