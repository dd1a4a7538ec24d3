package simtest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vllm-sentinel/vllm-sentinel/sim"
)

// Live is a vllm-sim serving /metrics on 127.0.0.1 whose model clock runs
// Speed times faster than the wall clock; each scrape advances it.
type Live struct {
	// Target is host:port, for a Prometheus scrape config.
	Target                string
	Speed                 float64
	wallStart, modelStart time.Time
}

// Wall is the wall-clock time of model time m.
func (l *Live) Wall(m time.Time) time.Time {
	return l.wallStart.Add(time.Duration(float64(m.Sub(l.modelStart)) / l.Speed))
}

// StartLive serves cfg with its model clock starting ago before now (the
// scenario's time that has passed when the first scrape comes) and running
// speed times the wall clock. setup, when set, sees the simulator before it
// serves (to record finished requests, say). The server stops with the
// test.
func StartLive(t testing.TB, cfg sim.Config, ago time.Duration, speed float64, setup func(*sim.Sim, *Live)) *Live {
	t.Helper()
	wallStart := time.Now()
	l := &Live{Speed: speed, wallStart: wallStart, modelStart: wallStart.Add(-ago)}
	s, err := sim.New(cfg, l.modelStart)
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(s, l)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(s)
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: sim.ServesOpenMetrics(s.Config().Flavour)})
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		s.AdvanceTo(l.modelStart.Add(time.Duration(float64(time.Since(wallStart)) * speed)))
		mu.Unlock()
		metrics.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	l.Target = strings.TrimPrefix(srv.URL, "http://")
	return l
}
