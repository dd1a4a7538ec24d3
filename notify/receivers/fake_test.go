package receivers_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/notify"
)

// receiver records the requests an httptest server gets.
type receiver struct {
	srv *httptest.Server

	mu   sync.Mutex
	reqs []request
}

type request struct {
	path   string
	header http.Header
	body   []byte
}

func newReceiver(t testing.TB, answer string) *receiver {
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, request{path: r.URL.Path, header: r.Header.Clone(), body: body})
		rc.mu.Unlock()
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.reqs...)
}

// firing is an alert that has fired for an hour, so a new group need not
// wait out group_wait for it.
func firing(name string) *notify.Alert {
	now := time.Now()
	return &notify.Alert{
		Labels:   model.LabelSet{"alertname": model.LabelValue(name), "severity": "critical"},
		StartsAt: now.Add(-time.Hour),
		EndsAt:   now.Add(time.Hour),
	}
}
