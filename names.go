package sextant

import (
	"fmt"
	"net/netip"
	"strings"
)

// Default tenant and database names, as in Chroma.
const (
	DefaultTenant   = "default_tenant"
	DefaultDatabase = "default_database"
)

// ValidateName checks a collection name against Chroma's rules: 3–512
// characters of [a-zA-Z0-9._-], starting and ending with a letter or digit,
// no "..", and not an IPv4 address.
func ValidateName(name string) error {
	if n := len(name); n < 3 || n > 512 {
		return fmt.Errorf("%w: %q: a name has 3 to 512 characters, this one has %d", ErrInvalidName, name, n)
	}
	for i := 0; i < len(name); i++ {
		ch := name[i]
		if !isAlnum(ch) && ch != '.' && ch != '_' && ch != '-' {
			return fmt.Errorf("%w: %q: character %q at %d is not one of [a-zA-Z0-9._-]", ErrInvalidName, name, ch, i)
		}
	}
	if !isAlnum(name[0]) || !isAlnum(name[len(name)-1]) {
		return fmt.Errorf("%w: %q: a name starts and ends with a letter or digit", ErrInvalidName, name)
	}
	if strings.Contains(name, "..") {
		return fmt.Errorf("%w: %q: a name may not contain \"..\"", ErrInvalidName, name)
	}
	if a, err := netip.ParseAddr(name); err == nil && a.Is4() {
		return fmt.Errorf("%w: %q: a name may not be an IPv4 address", ErrInvalidName, name)
	}
	return nil
}

// validateScopeName checks a tenant or database name: non-empty, at most
// 512 characters, [a-zA-Z0-9._-].
func validateScopeName(kind, name string) error {
	if name == "" || len(name) > 512 {
		return fmt.Errorf("%w: %s name %q must have 1 to 512 characters", ErrInvalidName, kind, name)
	}
	for i := 0; i < len(name); i++ {
		ch := name[i]
		if !isAlnum(ch) && ch != '.' && ch != '_' && ch != '-' {
			return fmt.Errorf("%w: %s name %q: character %q at %d is not one of [a-zA-Z0-9._-]", ErrInvalidName, kind, name, ch, i)
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
