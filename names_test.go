package sextant

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestValidateName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"abc", true},
		{"my-collection_1.v2", true},
		{"A1b", true},
		{strings.Repeat("a", 512), true},
		{"ab", false},
		{strings.Repeat("a", 513), false},
		{"-abc", false},
		{"abc-", false},
		{".abc", false},
		{"a..b", false},
		{"a b c", false},
		{"abc/", false},
		{"naïve", false},
		{"192.168.1.1", false},
		{"1.2.3", true}, // not an IPv4 address
	} {
		err := ValidateName(tc.name)
		if tc.ok {
			require.NoError(t, err, tc.name)
		} else {
			require.Error(t, err, tc.name)
			require.True(t, errors.Is(err, ErrInvalidName), "%q: %v", tc.name, err)
		}
	}
}
