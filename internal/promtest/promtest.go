// Package promtest runs a real Prometheus and a real Alertmanager on 127.0.0.1
// for integration tests.
//
// The binaries come from the Debian packages "prometheus" (prometheus,
// promtool) and "prometheus-alertmanager". A missing binary fails the test
// rather than skipping it: a skipped integration test looks like a passing
// one in CI.
//
// Servers run in their own process group, log to a file in their temporary
// directory and are stopped by t.Cleanup. On Linux they also receive SIGKILL
// when the test binary dies (for example on a go test -timeout panic, when
// cleanups do not run), so no server outlives its test.
package promtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// readyTimeout bounds the wait for /-/ready. Prometheus replays its WAL
	// and loads every block before it is ready, which takes a few seconds on
	// a loaded CI machine but never a minute.
	readyTimeout = 60 * time.Second
	// stopTimeout bounds the graceful shutdown; Prometheus may be compacting
	// or writing a WAL checkpoint when SIGTERM arrives.
	stopTimeout = 15 * time.Second
	// readyPollInterval is short because tests wait on it serially.
	readyPollInterval = 50 * time.Millisecond
	// logTailBytes is how much of a server log goes into a failure message:
	// enough for the startup error, little enough to keep test output readable.
	logTailBytes = 4 << 10
	// startAttempts covers the window between FreePort closing its listener
	// and the server binding the port, in which another process may take it.
	startAttempts = 3
)

// binary names an executable and the Debian package that installs it, so a
// missing one can be reported with the fix.
type binary struct {
	// names are tried in order: Debian and the upstream tarball name
	// Alertmanager differently.
	names []string
	pkg   string
}

func prometheusBinary() binary {
	return binary{names: []string{"prometheus"}, pkg: "prometheus"}
}

// ToolsDir is the cache scripts/install-deps.sh builds tools into:
// $VLLM_SENTINEL_TOOLS, else $XDG_CACHE_HOME/vllm-sentinel/tools, else
// $HOME/.cache/vllm-sentinel/tools (/tmp when HOME is unset): the same
// lookup as scripts/install-deps.sh, for every tool it builds.
func ToolsDir() string {
	if dir := os.Getenv("VLLM_SENTINEL_TOOLS"); dir != "" {
		return dir
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home := os.Getenv("HOME")
		if home == "" {
			home = "/tmp"
		}
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "vllm-sentinel", "tools")
}

// Prometheus3Version is the Prometheus 3 module version make deps builds.
const Prometheus3Version = "v0.316.0"

// Prometheus3Binary is Prometheus 3, as scripts/install-deps.sh builds it
// into the cache ($VLLM_SENTINEL_TOOLS, or ~/.cache/vllm-sentinel/tools).
// A missing one fails the test with the command that builds it.
func Prometheus3Binary(t testing.TB) string {
	t.Helper()
	p := filepath.Join(ToolsDir(), "prometheus-"+Prometheus3Version, "prometheus")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("promtest: Prometheus 3 not found at %s: run make deps (scripts/install-deps.sh) to build it", p)
	}
	return p
}

func promtoolBinary() binary {
	return binary{names: []string{"promtool"}, pkg: "prometheus"}
}

func alertmanagerBinary() binary {
	return binary{names: []string{"prometheus-alertmanager", "alertmanager"}, pkg: "prometheus-alertmanager"}
}

// path finds the binary in $PATH.
func (b binary) path() (string, error) {
	for _, name := range b.names {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("promtest: binary %s not found in $PATH; install the Debian package %q (apt-get install %s)",
		strings.Join(b.names, " or "), b.pkg, b.pkg)
}

// mustPath fails the test when the binary is missing: integration tests are
// never skipped silently.
func (b binary) mustPath(t testing.TB) string {
	t.Helper()
	p, err := b.path()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. Another
// process may take it before the caller binds it; StartPrometheus and
// StartAlertmanager retry with a new port when that happens.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatalf("promtest: %v", err)
	}
	return port
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port on 127.0.0.1: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// errAddrInUse marks a start that failed because the port was taken, the one
// failure worth retrying with another port.
var errAddrInUse = errors.New("address already in use")

// server is one run of an external server binary at a fixed address. The
// struct outlives runs so that Stop then Start brings the same server back.
type server struct {
	name    string // for messages: "prometheus", "alertmanager"
	bin     string
	args    []string
	addr    string // host:port of the web listener
	logPath string

	mu   sync.Mutex
	proc *process // nil when stopped
	// reported is the log size when its tail last went into an error, so
	// that the cleanup does not print the same tail twice.
	reported int64
}

// process is a started server process.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has been reaped
	err  error         // Wait's result; read only after done is closed
}

func (s *server) url() string { return "http://" + s.addr }

// start launches the server and waits until it is ready.
func (s *server) start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		select {
		case <-s.proc.done:
			// Exited on its own (crash); starting again is fine.
		default:
			return fmt.Errorf("%s on %s is already running", s.name, s.addr)
		}
	}
	p, runStart, err := s.launch()
	if err != nil {
		return err
	}
	s.proc = p
	if err := waitReady(ctx, s.url(), p); err != nil {
		s.stopLocked()
		// Only this run's output: an earlier attempt's bind error must not
		// make a different failure look retryable.
		tail, size := s.logTail(runStart)
		s.reported = size
		if strings.Contains(tail, "address already in use") {
			err = fmt.Errorf("%w: %w", errAddrInUse, err)
		}
		return fmt.Errorf("start %s on %s: %w\n%s", s.name, s.addr, err, s.formatTail(tail))
	}
	return nil
}

// launch starts the server process; runStart is the log offset where this
// run's output begins.
func (s *server) launch() (p *process, runStart int64, err error) {
	// Append so that the log of a restarted server keeps the previous runs.
	logFile, err := os.OpenFile(s.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, 0, fmt.Errorf("open %s log: %w", s.name, err)
	}
	// The child holds its own descriptor; ours is only needed until Start.
	defer logFile.Close()
	fi, err := logFile.Stat()
	if err != nil {
		return nil, 0, fmt.Errorf("stat %s log: %w", s.name, err)
	}
	runStart = fi.Size()
	fmt.Fprintf(logFile, "promtest: %s %s\n", s.bin, strings.Join(s.args, " "))

	cmd := exec.Command(s.bin, s.args...)
	// An *os.File is handed to the child directly, so no copying goroutine
	// has to be drained before Wait returns.
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, 0, fmt.Errorf("run %s: %w", s.bin, err)
	}
	p = &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, runStart, nil
}

// stop is idempotent: stopping a stopped server does nothing.
func (s *server) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

func (s *server) stopLocked() {
	if s.proc == nil {
		return
	}
	p := s.proc
	s.proc = nil
	select {
	case <-p.done:
		return
	default:
	}
	// The process is not reaped yet, so its pid still names its process
	// group and signalling -pid cannot hit an unrelated process.
	pgid := -p.cmd.Process.Pid
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-p.done
	}
}

// logTail returns the end of the server log from offset from on, cut at a
// line start, and the log's size.
func (s *server) logTail(from int64) (string, int64) {
	f, err := os.Open(s.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)\n", s.logPath, err), 0
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("(cannot stat %s: %v)\n", s.logPath, err), 0
	}
	size := fi.Size()
	off := max(size-logTailBytes, from, 0)
	b, err := io.ReadAll(io.NewSectionReader(f, off, size-off))
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)\n", s.logPath, err), size
	}
	if off > from {
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b), size
}

func (s *server) formatTail(tail string) string {
	return fmt.Sprintf("--- tail of %s log %s ---\n%s--- end of %s log ---", s.name, s.logPath, tail, s.name)
}

// logTailMessage is the formatted end of the log, for error messages.
func (s *server) logTailMessage() string {
	tail, _ := s.logTail(0)
	return s.formatTail(tail)
}

// cleanup stops the server at the end of the test and, if the test failed,
// logs the end of the server log, where the cause often is. The tail is
// taken before stopping so that shutdown noise does not push it out, and
// skipped when a failed start already reported it.
func (s *server) cleanup(t testing.TB) {
	t.Cleanup(func() {
		if t.Failed() {
			s.mu.Lock()
			tail, size := s.logTail(0)
			fresh := size > s.reported
			s.mu.Unlock()
			if fresh {
				t.Logf("promtest: %s", s.formatTail(tail))
			}
		}
		s.stop()
	})
}

// startWithFreePort starts the server on a fresh port, retrying when the port
// is taken between FreePort and the server's bind. argsFor builds the
// arguments for a listen address.
func (s *server) startWithFreePort(ctx context.Context, argsFor func(addr string) []string) error {
	var err error
	for range startAttempts {
		port, perr := freePort()
		if perr != nil {
			return perr
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		s.mu.Lock()
		s.addr, s.args = addr, argsFor(addr)
		s.mu.Unlock()
		if err = s.start(ctx); !errors.Is(err, errAddrInUse) {
			return err
		}
	}
	return err
}

// waitReady polls /-/ready until it answers 200, the context ends or the
// process exits; an exited process will never become ready.
func waitReady(ctx context.Context, baseURL string, p *process) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	ticker := time.NewTicker(readyPollInterval)
	defer ticker.Stop()
	var last error
	for {
		last = probeReady(ctx, client, baseURL+"/-/ready")
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s: %w (last probe: %v)", readyTimeout, ctx.Err(), last)
		case <-p.done:
			return fmt.Errorf("exited before becoming ready: %v", p.err)
		case <-ticker.C:
		}
	}
}

func probeReady(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("build readiness request: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// mergeArgs returns defaults followed by extra, minus every default flag that
// extra sets again: the servers' flag parser (kingpin) rejects a repeated
// flag instead of letting the last one win. Flags in defaults must use the
// --name=value form.
func mergeArgs(defaults, extra []string) []string {
	overridden := make(map[string]bool, len(extra))
	for _, a := range extra {
		if name, ok := flagName(a); ok {
			overridden[name] = true
		}
	}
	out := make([]string, 0, len(defaults)+len(extra))
	for _, a := range defaults {
		if name, ok := flagName(a); ok && overridden[name] {
			continue
		}
		out = append(out, a)
	}
	return append(out, extra...)
}

// flagName returns "x" for "--x" and "--x=v".
func flagName(arg string) (string, bool) {
	rest, ok := strings.CutPrefix(arg, "--")
	if !ok || rest == "" {
		return "", false
	}
	name, _, _ := strings.Cut(rest, "=")
	return name, true
}
