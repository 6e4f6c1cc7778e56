package status

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// SelfCPUSeconds is the CPU time (user + system) this process has used.
func SelfCPUSeconds() float64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

// SelfRSS is this process's resident memory, from /proc/self/statm.
func SelfRSS() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}

// PageOutExecutable asks the kernel to reclaim the resident pages of this
// process's own executable file (its code and read-only data), which
// start-up touched once (package initialisation, rule compilation, the
// probes' load) and the idle agent does not use: they are clean file
// pages, read back on demand from the page cache or the file. One binary
// carries the agent, the backend, the embedded NATS server and the UI;
// this keeps the agent's resident set to what it runs. It returns how
// many bytes were advised (0 on kernels without MADV_PAGEOUT, 5.4+).
func PageOutExecutable() uint64 {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0
	}
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0
	}
	var total uint64
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		// address perms offset dev inode path; writable mappings (.data,
		// .bss) are the heap's neighbours: left alone.
		if len(f) < 6 || f[5] != exe || strings.Contains(f[1], "w") {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_PAGEOUT); errno == 0 {
			total += end - start
		}
	}
	return total
}
