package alert

// Host describes the machine in rule conditions, alerts and detections of
// source runtime.
type Host struct {
	Name     string `json:"name" expr:"name"`
	AgentPID int64  `json:"agent_pid,omitempty" expr:"agent_pid"`
	// AgentExe is the running agent's executable: the vigil CLI run from
	// the same binary (a clone under /tmp) is not a dropped payload.
	AgentExe string `json:"agent_exe,omitempty" expr:"agent_exe"`
	ID       string `json:"id,omitempty" expr:"id"`
	Env      string `json:"env,omitempty" expr:"env"`
	// Info describes the host (OS, kernel, agent version, tags, cloud).
	Info *HostInfo `json:"identity,omitempty" expr:"-"`
}

// HostInfo is a host's identity and description, on alerts and heartbeats.
type HostInfo struct {
	ID           string            `json:"id"`
	Hostname     string            `json:"hostname"`
	OS           string            `json:"os,omitempty"`
	Kernel       string            `json:"kernel,omitempty"`
	AgentVersion string            `json:"agent_version"`
	Env          string            `json:"env"`
	Tags         map[string]string `json:"tags,omitempty"`
	Cloud        *Cloud            `json:"cloud,omitempty"`
	// Cloned is true when this start found a stored id from another machine.
	Cloned bool `json:"cloned,omitempty"`
}

// Cloud is what the cloud's metadata service says of the instance.
type Cloud struct {
	Provider     string            `json:"provider"`
	InstanceID   string            `json:"instance_id,omitempty"`
	AccountID    string            `json:"account_id,omitempty"`
	Region       string            `json:"region,omitempty"`
	Zone         string            `json:"zone,omitempty"`
	ImageID      string            `json:"image_id,omitempty"`
	InstanceType string            `json:"instance_type,omitempty"`
	PrivateIP    string            `json:"private_ip,omitempty"`
	PublicIP     string            `json:"public_ip,omitempty"`
	Tags         map[string]string `json:"tags,omitempty"`
}
