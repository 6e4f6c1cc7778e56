package proc

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ParseIDFile parses passwd(5) or group(5) content into id -> name. Malformed
// lines are skipped; the first name for an id wins.
func ParseIDFile(r io.Reader) map[uint32]string {
	out := map[uint32]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) < 3 || f[0] == "" {
			continue
		}
		id, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			continue
		}
		if _, dup := out[uint32(id)]; !dup {
			out[uint32(id)] = f[0]
		}
	}
	return out
}

// idFile is a cached passwd or group file, re-read when its mtime changes
// (checked at most once a second).
type idFile struct {
	path    string
	mu      sync.Mutex
	names   map[uint32]string
	mtime   time.Time
	checked time.Time
}

func (f *idFile) lookup(id uint32) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if now := time.Now(); now.Sub(f.checked) > time.Second {
		f.checked = now
		if st, err := os.Stat(f.path); err == nil && !st.ModTime().Equal(f.mtime) {
			if fh, err := os.Open(f.path); err == nil {
				f.names = ParseIDFile(fh)
				fh.Close()
				f.mtime = st.ModTime()
			}
		}
	}
	return f.names[id]
}

// Users resolves user and group names from <root>/etc/passwd and group.
type Users struct {
	passwd, group idFile
}

// NewUsers reads names below root ("/" on a host).
func NewUsers(root string) *Users {
	return &Users{
		passwd: idFile{path: filepath.Join(root, "etc/passwd")},
		group:  idFile{path: filepath.Join(root, "etc/group")},
	}
}

// User returns the name of uid, or "" when unknown.
func (u *Users) User(uid uint32) string { return u.passwd.lookup(uid) }

// Group returns the name of gid, or "" when unknown.
func (u *Users) Group(gid uint32) string { return u.group.lookup(gid) }

// LoginHomes returns the home directories of root and of the login users
// (uid 1000 to 65533, a shell that is not nologin or false) in
// <root>/etc/passwd, at most max, in file order.
func LoginHomes(root string, max int) []string {
	f, err := os.Open(filepath.Join(root, "etc/passwd"))
	if err != nil {
		return nil
	}
	defer f.Close()
	return ParseLoginHomes(f, max)
}

// ParseLoginHomes is LoginHomes over passwd(5) content.
func ParseLoginHomes(r io.Reader, max int) []string {
	var out []string
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() && len(out) < max {
		f := strings.Split(sc.Text(), ":")
		if len(f) < 7 || f[0] == "" || !strings.HasPrefix(f[5], "/") || f[5] == "/" {
			continue
		}
		uid, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil || (uid != 0 && (uid < 1000 || uid >= 65534)) {
			continue
		}
		if sh := filepath.Base(f[6]); sh == "nologin" || sh == "false" {
			continue
		}
		home := filepath.Clean(f[5])
		if !seen[home] {
			seen[home] = true
			out = append(out, home)
		}
	}
	return out
}
