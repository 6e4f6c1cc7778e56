module github.com/vigil-sec/vigil

go 1.26.8

require (
	github.com/aquasecurity/libbpfgo v0.7.0-libbpf-1.4
	go.uber.org/zap v1.28.0
	golang.org/x/sys v0.50.0
)

require go.uber.org/multierr v1.10.0 // indirect
