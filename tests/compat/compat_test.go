// Package compat runs the real chromadb JavaScript client and LangChain JS
// (pinned in package.json) against a real `sextant serve`: the Node suite in
// this directory (*.test.mjs) must pass unchanged. `make test` installs them
// (npm ci) before the Go tests. It also runs the README's start command,
// `go run ./cmd/sextant serve`, and stops it (gorun_linux_test.go).
package compat

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// compatKey is the API key the suite's server requires: the client must work
// through authentication (it sends the key in x-chroma-token).
const compatKey = "compat-suite-key"

func TestChromaClientCompat(t *testing.T) {
	for _, pkg := range []string{"chromadb", "@langchain/community"} {
		if _, err := os.Stat(filepath.Join("node_modules", pkg, "package.json")); err != nil {
			t.Fatalf("tests/compat/node_modules/%s is missing (%v): run make test (it installs the compat suite), "+
				"or cd tests/compat && npm ci", pkg, err)
		}
	}
	node, err := exec.LookPath("node")
	require.NoError(t, err, "node is needed for the compatibility suite")

	tmp := t.TempDir()
	bin := filepath.Join(tmp, "sextant")
	build := exec.Command("go", "build", "-o", bin, "./cmd/sextant")
	build.Dir = filepath.Join("..", "..")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	addr := freeAddr(t)
	srvLog := &lineLog{t: t, prefix: "server: "}
	srv := exec.Command(bin, "serve", "--data", filepath.Join(tmp, "data"), "--addr", addr, "--log-level", "warn",
		"--api-keys", compatKey)
	srv.Stdout, srv.Stderr = srvLog, srvLog
	require.NoError(t, srv.Start())
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = srv.Process.Kill()
			<-exited
		}
	})

	base := "http://" + addr
	waitReady(t, base, exited)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec", ".")
	cmd.Env = append(os.Environ(), "SEXTANT_URL="+base, "SEXTANT_TOKEN="+compatKey, "NO_COLOR=1", "FORCE_COLOR=0")
	nodeLog := &lineLog{t: t, prefix: "node: "}
	cmd.Stdout, cmd.Stderr = nodeLog, nodeLog
	runErr := cmd.Run()
	nodeLog.flush()
	require.NoError(t, runErr, "the chromadb client suite failed (output above)")

	require.NoError(t, srv.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-exited:
		stopped = true
		srvLog.flush()
		require.NoError(t, err, "sextant serve must exit 0 on SIGTERM")
	case <-time.After(30 * time.Second):
		t.Fatal("sextant serve did not exit within 30s of SIGTERM")
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func waitReady(t *testing.T, base string, exited <-chan error) {
	t.Helper()
	waitReadyWithin(t, base, exited, 60*time.Second)
}

// waitReadyWithin waits until base/readyz answers 200, failing after d or
// as soon as the process exits.
func waitReadyWithin(t *testing.T, base string, exited <-chan error, d time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			t.Fatalf("sextant serve exited before it was ready: %v", err)
		default:
		}
		resp, err := client.Get(base + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("sextant serve was not ready in %v", d)
}

// lineLog streams a process's output into the test log line by line.
type lineLog struct {
	t      *testing.T
	prefix string
	mu     sync.Mutex
	buf    []byte
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := strings.IndexByte(string(l.buf), '\n')
		if i < 0 {
			break
		}
		l.emit(string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
	return len(p), nil
}

func (l *lineLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.emit(string(l.buf))
		l.buf = nil
	}
}

func (l *lineLog) emit(line string) {
	// t.Log after the test ends panics; the process may outlive a failure.
	defer func() { _ = recover() }()
	sc := bufio.NewScanner(strings.NewReader(line))
	for sc.Scan() {
		l.t.Log(l.prefix + sc.Text())
	}
}
