package api

import (
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// User is a UI login from backend.yaml: a name, a role, and the bcrypt
// hash of the password (`vigil backend passwd` makes one).
type User struct {
	Name, Role, Hash string
}

// Users check UI logins by name and password.
type Users struct{ byName map[string]User }

// NewUsers keeps the users (nil: none).
func NewUsers(us []User) *Users {
	u := &Users{byName: map[string]User{}}
	for _, x := range us {
		u.byName[x.Name] = x
	}
	return u
}

// dummy is compared against for unknown users, so the answer takes as
// long; made on first use (not at start: every vigil process, the agent
// included, links this package).
var dummy = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("not a password"), bcrypt.DefaultCost)
	return h
})

// Check tells whether name's password is password, and who that is.
func (u *Users) Check(name, password string) (TokenInfo, bool) {
	if u == nil || len(password) > 72 {
		return TokenInfo{}, false
	}
	x, ok := u.byName[name]
	hash := []byte(x.Hash)
	if !ok {
		hash = dummy()
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil || !ok || !ValidRole(x.Role) || x.Role == RoleIngest {
		return TokenInfo{}, false
	}
	return TokenInfo{Role: x.Role, Name: x.Name}, true
}

// HashPassword is the bcrypt hash of a password for backend.yaml.
func HashPassword(password string) (string, error) {
	b, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	return string(b), err
}
