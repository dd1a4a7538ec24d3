package promtest

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/vllm-sentinel/vllm-sentinel/internal/poll"
)

// ThanosVersion is the Thanos version make deps builds from the tool module
// tools/thanos (whose go.mod requires github.com/thanos-io/thanos at this
// version and copies its replace directives).
const ThanosVersion = "v0.40.1"

// ThanosReplicaLabel is the external label that tells StartThanos's
// Prometheus replicas apart, and that its querier deduplicates on.
const ThanosReplicaLabel = "replica"

// ThanosTenantHeader and ThanosTenantLabel are the querier's defaults for
// --query.tenant-header and --query.tenant-label-name: with
// --query.enforce-tenancy it answers only from series whose tenant label
// equals the header's value.
const (
	ThanosTenantHeader = "THANOS-TENANT"
	ThanosTenantLabel  = "tenant_id"
)

// ThanosBinary is Thanos, as scripts/install-deps.sh builds it into the tools
// cache (see ToolsDir). A missing one fails the test with the command that
// builds it.
func ThanosBinary(t testing.TB) string {
	t.Helper()
	p := filepath.Join(ToolsDir(), "thanos-"+ThanosVersion, "thanos")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("promtest: Thanos %s not found at %s: run make deps (scripts/install-deps.sh) to build it", ThanosVersion, p)
	}
	return p
}

// ThanosOptions configures StartThanos.
type ThanosOptions struct {
	// OpenMetrics files are backfilled into every replica, so that each
	// holds the same history and the querier has duplicates to remove.
	OpenMetrics []string
	// ExternalLabels are given to every replica besides
	// ThanosReplicaLabel, e.g. a ThanosTenantLabel.
	ExternalLabels map[string]string
	// QuerierArgs are appended to the querier's command line (a flag given
	// here replaces the harness's own).
	QuerierArgs []string
}

// Thanos is the high-availability pair large fleets run: two Prometheus
// replicas (external label replica="a" and "b") each with a Thanos sidecar,
// and a Thanos querier over both sidecars that deduplicates on the replica
// label. Everything listens on free ports of 127.0.0.1.
type Thanos struct {
	// URL is the querier's base URL: it serves the Prometheus query API.
	URL string
	// Replicas are the Prometheus servers behind the sidecars.
	Replicas []*Prometheus
	// Sidecars are the sidecars' gRPC StoreAPI addresses (host:port).
	Sidecars []string
}

// StartThanos starts the replicas, their sidecars and a querier, waits until
// the querier sees both sidecars and stops everything when the test ends.
func StartThanos(t testing.TB, opts ThanosOptions) *Thanos {
	t.Helper()
	bin := ThanosBinary(t)
	th := &Thanos{}
	for _, replica := range []string{"a", "b"} {
		labels := maps.Clone(opts.ExternalLabels)
		if labels == nil {
			labels = map[string]string{}
		}
		labels[ThanosReplicaLabel] = replica
		p := StartPrometheus(t, PrometheusOptions{OpenMetrics: opts.OpenMetrics, ExternalLabels: labels})
		th.Replicas = append(th.Replicas, p)
		th.Sidecars = append(th.Sidecars, startThanosSidecar(t, bin, p, replica))
	}
	th.URL = th.StartQuerier(t, opts.QuerierArgs...)
	return th
}

// startThanosSidecar starts a sidecar for p without object storage: it only
// serves p's data (through remote read) on its gRPC StoreAPI, whose address
// it returns. --tsdb.path names p's data dir only so that the sidecar does
// not default to ./data in the test's working directory.
func startThanosSidecar(t testing.TB, bin string, p *Prometheus, replica string) string {
	t.Helper()
	dir := t.TempDir()
	srv := &server{name: "thanos sidecar " + replica, bin: bin, logPath: filepath.Join(dir, "sidecar.log")}
	srv.cleanup(t)
	var grpcAddr string
	var portErr error
	err := srv.startWithFreePort(t.Context(), func(httpAddr string) []string {
		grpcAddr, portErr = freeAddr()
		return []string{"sidecar",
			"--prometheus.url=" + p.URL,
			"--tsdb.path=" + p.DataDir,
			"--http-address=" + httpAddr,
			"--grpc-address=" + grpcAddr,
		}
	})
	if portErr != nil {
		t.Fatalf("promtest: %v", portErr)
	}
	if err != nil {
		t.Fatalf("promtest: %v", err)
	}
	return grpcAddr
}

// StartQuerier starts another querier over the same sidecars, with extra
// arguments (e.g. tenancy flags), and returns its base URL. It waits until
// the querier has connected to every sidecar: until then it answers from
// whichever it has, or from none.
func (th *Thanos) StartQuerier(t testing.TB, extraArgs ...string) string {
	t.Helper()
	bin := ThanosBinary(t)
	dir := t.TempDir()
	srv := &server{name: "thanos query", bin: bin, logPath: filepath.Join(dir, "query.log")}
	srv.cleanup(t)
	var portErr error
	err := srv.startWithFreePort(t.Context(), func(httpAddr string) []string {
		var grpcAddr string
		grpcAddr, portErr = freeAddr()
		args := []string{"query",
			"--http-address=" + httpAddr,
			"--grpc-address=" + grpcAddr,
			"--query.replica-label=" + ThanosReplicaLabel,
		}
		for _, s := range th.Sidecars {
			args = append(args, "--endpoint="+s)
		}
		return mergeArgs(args, extraArgs)
	})
	if portErr != nil {
		t.Fatalf("promtest: %v", portErr)
	}
	if err != nil {
		t.Fatalf("promtest: %v", err)
	}
	if err := waitForStores(t.Context(), srv.url(), len(th.Sidecars)); err != nil {
		t.Fatalf("promtest: %v\n%s", err, srv.logTailMessage())
	}
	return srv.url()
}

// API returns a client for the querier's HTTP API.
func (th *Thanos) API(t testing.TB) v1.API {
	t.Helper()
	c, err := api.NewClient(api.Config{Address: th.URL})
	if err != nil {
		t.Fatalf("promtest: thanos query API client for %s: %v", th.URL, err)
	}
	return v1.NewAPI(c)
}

// thanosStores is the part of the querier's /api/v1/stores answer that
// says which StoreAPIs it uses: by type, each with its last error.
type thanosStores struct {
	Data map[string][]struct {
		Name      string  `json:"name"`
		LastError *string `json:"lastError"`
	} `json:"data"`
}

// waitForStores polls the querier's /api/v1/stores until want sidecars are
// healthy. The querier checks its endpoints every 5 seconds, so a first
// start takes up to that long.
func waitForStores(ctx context.Context, baseURL string, want int) error {
	client := &http.Client{Timeout: time.Second}
	var last string
	if poll.Wait(readyTimeout, readyPollInterval, func() bool {
		n, failing, err := healthyStores(ctx, client, baseURL)
		if err != nil {
			last = err.Error()
			return ctx.Err() != nil
		}
		last = fmt.Sprintf("%d healthy, failing: %v", n, failing)
		return n >= want
	}) != nil || ctx.Err() != nil {
		return fmt.Errorf("thanos query %s: not connected to %d sidecars after %s (last: %s)", baseURL, want, readyTimeout, last)
	}
	return nil
}

// healthyStores counts the querier's healthy StoreAPIs and returns the last
// error of each failing one, by address.
func healthyStores(ctx context.Context, client *http.Client, baseURL string) (int, map[string]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/api/v1/stores", nil)
	if err != nil {
		return 0, nil, fmt.Errorf("build stores request: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, nil, fmt.Errorf("GET %s/api/v1/stores: %s", baseURL, resp.Status)
	}
	var st thanosStores
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return 0, nil, fmt.Errorf("decode %s/api/v1/stores: %w", baseURL, err)
	}
	n, failing := 0, map[string]string{}
	for _, stores := range st.Data {
		for _, s := range stores {
			if s.LastError == nil || *s.LastError == "" {
				n++
			} else {
				failing[s.Name] = *s.LastError
			}
		}
	}
	return n, failing, nil
}

// freeAddr is a free 127.0.0.1 address for a server's second listener.
func freeAddr() (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
}
