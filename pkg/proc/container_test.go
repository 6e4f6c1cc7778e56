package proc

import (
	"strings"
	"testing"
)

func TestParseCgroupPath(t *testing.T) {
	id := strings.Repeat("0123456789abcdef", 4)
	tests := []struct {
		path, id, runtime string
	}{
		{"/system.slice/docker-" + id + ".scope", id, RuntimeDocker},
		{"/docker/" + id, id, RuntimeDocker},
		{"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234_5678.slice/cri-containerd-" + id + ".scope", id, RuntimeContainerd},
		{"/kubepods/besteffort/pod0f8d6a0c-1d2e-4c6b-9a55-0a7f3e9c1b2d/" + id, id, RuntimeContainerd},
		{"/kubepods.slice/kubepods-pod1.slice/crio-" + id + ".scope", id, RuntimeCRIO},
		{"/machine.slice/libpod-" + id + ".scope/container", id, RuntimePodman},
		{"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + id + ".scope", id, RuntimePodman},
		{"/machine.slice/machine-web\\x2d01.scope", "web-01", RuntimeNspawn},
		{"/machine.slice/machine-debian.scope/payload", "debian", RuntimeNspawn},
		{"/system.slice/ssh.service", "", RuntimeHost},
		{"/user.slice/user-1000.slice/session-3.scope", "", RuntimeHost},
		{"/", "", RuntimeHost},
		{"/system.slice/docker-" + id[:60] + ".scope", "", RuntimeHost},
		{"/system.slice/crio-conmon-" + id + ".scope", "", RuntimeHost},
	}
	for _, tc := range tests {
		gotID, gotRT := ParseCgroupPath(tc.path)
		if gotID != tc.id || gotRT != tc.runtime {
			t.Errorf("%s: got (%q, %q), want (%q, %q)", tc.path, gotID, gotRT, tc.id, tc.runtime)
		}
	}
}

func TestCgroupPathFromProc(t *testing.T) {
	v2 := "0::/system.slice/ssh.service\n"
	v1 := "12:pids:/docker/abc\n11:memory:/docker/abc\n"
	hybrid := "1:name=systemd:/user.slice\n0::/system.slice/x.service\n"
	for in, want := range map[string]string{v2: "/system.slice/ssh.service", v1: "/docker/abc", hybrid: "/system.slice/x.service", "": ""} {
		if got := CgroupPathFromProc(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

func TestContainerFromProcCgroup(t *testing.T) {
	id := strings.Repeat("ab", 32)
	hybrid := "9:name=systemd:/\n4:memory:/docker/" + id + "\n0::/\n"
	if gotID, rt := ContainerFromProcCgroup(hybrid); gotID != id || rt != RuntimeDocker {
		t.Errorf("hybrid: %q %q", gotID, rt)
	}
	if gotID, rt := ContainerFromProcCgroup("0::/user.slice\n"); gotID != "" || rt != RuntimeHost {
		t.Errorf("host: %q %q", gotID, rt)
	}
}
