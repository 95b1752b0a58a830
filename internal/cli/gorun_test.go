package cli

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestIsGoRunArgs: serve asks to be stopped with its parent only when that
// parent is `go run`; a shell, nohup, a supervisor or another go subcommand
// must not stop it by exiting.
func TestIsGoRunArgs(t *testing.T) {
	for _, tc := range []struct {
		argv string // space-separated
		want bool
	}{
		{"go run ./cmd/sextant serve", true},
		{"/usr/local/go/bin/go run ./cmd/sextant serve --data /tmp/d", true},
		{"/root/go/pkg/mod/golang.org/toolchain@v0.0.1-go1.26.8.linux-amd64/bin/go run -race ./cmd/sextant serve", true},
		{"go -C /src/sextant run ./cmd/sextant serve", true},
		{"go -C=/src/sextant run ./cmd/sextant serve", true},
		{"go --C /src/sextant run .", true},
		{"go build ./cmd/sextant", false},
		{"go test ./tests/compat/", false},
		{"go -C run", false}, // -C's value is "run"; no subcommand
		{"go", false},
		{"/bin/bash", false},
		{"-bash", false},
		{"sh -c go run ./cmd/sextant serve", false},
		{"/usr/lib/systemd/systemd --user", false},
		{"gopls run", false},
		{"/tmp/go-build1/b001/exe/sextant serve", false},
	} {
		require.Equal(t, tc.want, isGoRunArgs(strings.Fields(tc.argv)), tc.argv)
	}
	require.False(t, isGoRunArgs(nil))
}
