//go:build linux

package compat

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestGoRunSIGTERM runs the README's start command, `go run ./cmd/sextant
// serve`, and sends SIGTERM to the go tool alone (what kill <pid>, a
// supervisor or a container runtime does): the server it started must stop
// cleanly too (exit status 0, the final checkpoint written, the port
// released) instead of being orphaned. SIGTERM sent to the binary itself is
// TestChromaClientCompat's last step.
//
// The test process becomes a child subreaper for the test's duration, so
// that the server, orphaned when the go tool dies, is reparented to it and
// its exit status can be read.
func TestGoRunSIGTERM(t *testing.T) {
	require.NoError(t, unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0))
	t.Cleanup(func() { _ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) })

	tmp := t.TempDir()
	data := filepath.Join(tmp, "data")
	logPath := filepath.Join(tmp, "serve.log")
	// A file, not a pipe: the server writes to it directly and goes on
	// after the go tool is gone.
	logFile, err := os.Create(logPath)
	require.NoError(t, err)
	defer logFile.Close()

	addr := freeAddr(t)
	goRun := exec.Command("go", "run", "./cmd/sextant", "serve", "--data", data, "--addr", addr, "--log-level", "debug")
	goRun.Dir = filepath.Join("..", "..")
	goRun.Stdout, goRun.Stderr = logFile, logFile
	// Its own process group, so that a failed test can kill both processes.
	goRun.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, goRun.Start())
	goPid := goRun.Process.Pid
	goExited := make(chan error, 1)
	go func() { goExited <- goRun.Wait() }()
	serverPid := 0
	t.Cleanup(func() {
		_ = syscall.Kill(-goPid, syscall.SIGKILL) // no-op when both exited
		if serverPid != 0 {
			_, _ = syscall.Wait4(serverPid, nil, 0, nil) // killed above; ECHILD if reaped already
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("go run and server output:\n%s", b)
		}
	})

	base := "http://" + addr
	// The first go run of a checkout compiles sextant: allow for it.
	waitReadyWithin(t, base, goExited, 5*time.Minute)
	// A write, so that closing the collection has a checkpoint to write.
	id := createCollection(t, base, "gorun")
	post(t, base+"/api/v2/tenants/default_tenant/databases/default_database/collections/"+id+"/add",
		`{"ids":["a","b"],"embeddings":[[1,0,0],[0,1,0]],"documents":["x","y"]}`, http.StatusCreated)
	serverPid = childOf(t, goPid)

	require.NoError(t, syscall.Kill(goPid, syscall.SIGTERM), "SIGTERM to go run only")
	select {
	case err := <-goExited:
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, "go run dies of the SIGTERM it does not handle")
	case <-time.After(30 * time.Second):
		t.Fatal("go run did not exit within 30s of SIGTERM")
	}

	// The server is now this process's child (the subreaper): wait for it.
	type waited struct {
		ws  syscall.WaitStatus
		err error
	}
	serverExited := make(chan waited, 1)
	go func() {
		var ws syscall.WaitStatus
		_, err := syscall.Wait4(serverPid, &ws, 0, nil)
		serverExited <- waited{ws, err}
	}()
	select {
	case w := <-serverExited:
		require.NoError(t, w.err, "wait for the server (pid %d)", serverPid)
		serverPid = 0
		require.True(t, w.ws.Exited(), "the server must exit, not die of a signal: %v", w.ws)
		require.Equal(t, 0, w.ws.ExitStatus(), "the server's exit status")
	case <-time.After(30 * time.Second):
		t.Fatalf("the server (pid %d) still runs 30s after its go run got SIGTERM: it was orphaned", serverPid)
	}

	logs, err := os.ReadFile(logPath)
	require.NoError(t, err)
	require.Contains(t, string(logs), "started by go run")
	require.Contains(t, string(logs), `msg="checkpoint written"`, "closing the collection checkpoints it")
	require.Contains(t, string(logs), "msg=stopped\n", "the server stopped without errors")
	_, err = os.Stat(filepath.Join(data, "collections", id, "MANIFEST"))
	require.NoError(t, err, "the final checkpoint's MANIFEST")
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err, "the port is released")
	require.NoError(t, ln.Close())
}

// childOf returns the pid of the one child of process ppid, from /proc.
func childOf(t *testing.T, ppid int) int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var kids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(ppid) {
			kids = append(kids, pid)
		}
	}
	require.Len(t, kids, 1, "children of go run (%d)", ppid)
	return kids[0]
}

// createCollection creates a cosine collection and returns its id.
func createCollection(t *testing.T, base, name string) string {
	t.Helper()
	body := post(t, base+"/api/v2/tenants/default_tenant/databases/default_database/collections",
		`{"name":"`+name+`","metadata":{"hnsw:space":"cosine"}}`, http.StatusOK)
	var c struct{ ID string }
	require.NoError(t, json.Unmarshal(body, &c))
	require.NotEmpty(t, c.ID, "%s", body)
	return c.ID
}

func post(t *testing.T, url, body string, want int) []byte {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Post(url, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(resp.Body)
	require.NoError(t, err)
	require.Equal(t, want, resp.StatusCode, "POST %s: %s", url, b.String())
	return b.Bytes()
}
