package identity

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/pkg/alert"
)

// Cloud is the instance's cloud metadata.
type Cloud = alert.Cloud

// DefaultIMDS is AWS's instance metadata endpoint.
const DefaultIMDS = "http://169.254.169.254"

// AWS reads instance metadata with IMDSv2: a session token first, then the
// identity document, IPs and (when the instance exposes them) tags. Every
// request has a short timeout, so a host without IMDS is not delayed beyond
// the whole budget. It returns nil when no IMDS answers.
func AWS(ctx context.Context, endpoint string, budget time.Duration) (*Cloud, error) {
	if endpoint == "" {
		endpoint = DefaultIMDS
	}
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	client := &http.Client{Timeout: budget}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, endpoint+"/latest/api/token", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-aws-ec2-metadata-token-ttl-seconds", "300")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("imds token: %w", err)
	}
	tok, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("imds token: %s", resp.Status)
	}
	get := func(path string) string {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"/latest/"+path, nil)
		if err != nil {
			return ""
		}
		req.Header.Set("X-aws-ec2-metadata-token", string(tok))
		resp, err := client.Do(req)
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return ""
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return strings.TrimSpace(string(b))
	}
	c := &Cloud{Provider: "aws"}
	var doc struct {
		InstanceID   string `json:"instanceId"`
		AccountID    string `json:"accountId"`
		Region       string `json:"region"`
		Zone         string `json:"availabilityZone"`
		ImageID      string `json:"imageId"`
		InstanceType string `json:"instanceType"`
		PrivateIP    string `json:"privateIp"`
	}
	if err := json.Unmarshal([]byte(get("dynamic/instance-identity/document")), &doc); err != nil {
		return nil, fmt.Errorf("imds identity document: %w", err)
	}
	c.InstanceID, c.AccountID, c.Region, c.Zone = doc.InstanceID, doc.AccountID, doc.Region, doc.Zone
	c.ImageID, c.InstanceType, c.PrivateIP = doc.ImageID, doc.InstanceType, doc.PrivateIP
	c.PublicIP = get("meta-data/public-ipv4")
	if keys := get("meta-data/tags/instance"); keys != "" {
		c.Tags = map[string]string{}
		for _, k := range strings.Split(keys, "\n") {
			if k = strings.TrimSpace(k); k != "" {
				c.Tags[k] = get("meta-data/tags/instance/" + k)
			}
		}
	}
	return c, nil
}
