package promtest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/client"
	"github.com/prometheus/alertmanager/api/v2/client/alert"
	"github.com/prometheus/alertmanager/api/v2/models"
)

// DefaultAlertmanagerConfig routes every alert to a receiver with no
// integrations: alerts are kept and listed by the API, and sent nowhere.
const DefaultAlertmanagerConfig = `route:
  receiver: blackhole
receivers:
  - name: blackhole
`

// Alertmanager is a running (or stopped, see Stop and Start) Alertmanager
// listening on 127.0.0.1, without clustering.
type Alertmanager struct {
	// URL is the base URL, http://127.0.0.1:PORT; it does not change across
	// Stop and Start.
	URL string

	srv server
}

// StartAlertmanager starts Alertmanager with DefaultAlertmanagerConfig on a
// free port, waits until it is ready and stops it when the test ends.
func StartAlertmanager(t testing.TB) *Alertmanager {
	t.Helper()
	return StartAlertmanagerWithConfig(t, DefaultAlertmanagerConfig)
}

// StartAlertmanagerWithConfig is StartAlertmanager with the given
// alertmanager.yml content, for tests that need routes or receivers (a
// webhook receiver pointing at an httptest server, for example).
func StartAlertmanagerWithConfig(t testing.TB, config string) *Alertmanager {
	t.Helper()
	bin := alertmanagerBinary().mustPath(t)
	dir := t.TempDir()
	storage := filepath.Join(dir, "data")
	if err := os.Mkdir(storage, 0o755); err != nil {
		t.Fatalf("promtest: create alertmanager storage dir: %v", err)
	}
	configPath := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		t.Fatalf("promtest: write alertmanager config: %v", err)
	}
	a := &Alertmanager{srv: server{name: "alertmanager", bin: bin, logPath: filepath.Join(dir, "alertmanager.log")}}
	// Registered before the first start so that a failed start is cleaned
	// up too, and after t.TempDir so that it runs before the directory is
	// removed from under the server.
	a.srv.cleanup(t)
	err := a.srv.startWithFreePort(t.Context(), func(addr string) []string {
		return []string{
			"--config.file=" + configPath,
			"--storage.path=" + storage,
			"--web.listen-address=" + addr,
			// Empty disables gossip: the default binds 0.0.0.0:9094, off
			// loopback and the same port for every parallel test.
			"--cluster.listen-address=",
		}
	})
	if err != nil {
		t.Fatalf("promtest: %v", err)
	}
	a.URL = a.srv.url()
	return a
}

// Start brings a stopped Alertmanager back on the same port and storage.
// Alertmanager keeps alerts in memory only: after a restart the API lists
// none until they are posted again (silences survive).
func (a *Alertmanager) Start(t testing.TB) {
	t.Helper()
	if err := a.srv.start(t.Context()); err != nil {
		t.Fatalf("promtest: %v", err)
	}
}

// Stop shuts Alertmanager down: SIGTERM, then SIGKILL if it has not exited
// in time. Stopping a stopped Alertmanager does nothing.
func (a *Alertmanager) Stop() { a.srv.stop() }

// Client returns an API v2 client.
func (a *Alertmanager) Client() *client.AlertmanagerAPI {
	cfg := client.DefaultTransportConfig().WithHost(a.srv.addr).WithSchemes([]string{"http"})
	return client.NewHTTPClientWithConfig(strfmt.Default, cfg)
}

// Alerts returns the alerts Alertmanager currently holds: active,
// suppressed and not yet processed ones; resolved ones are never listed.
func (a *Alertmanager) Alerts(t testing.TB) models.GettableAlerts {
	t.Helper()
	resp, err := a.Client().Alert.GetAlerts(alert.NewGetAlertsParamsWithContext(t.Context()))
	if err != nil {
		t.Fatalf("promtest: get alerts from %s: %v", a.URL, err)
	}
	return resp.Payload
}
