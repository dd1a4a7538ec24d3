package evaluator

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
)

// ClientConfig says how to reach Prometheus.
type ClientConfig struct {
	URL        string
	Timeout    time.Duration
	Headers    map[string]string
	HTTPConfig commoncfg.HTTPClientConfig
}

// NewPrometheusQuerier returns a Querier for a Prometheus-compatible query
// API, with a per-query timeout, retries, and query metrics on reg (nil: none).
func NewPrometheusQuerier(cfg ClientConfig, logger *slog.Logger, reg prometheus.Registerer) (Querier, error) {
	promAPI, err := NewPrometheusAPI(cfg)
	if err != nil {
		return nil, err
	}
	var q = NewAPIQuerier(promAPI, logger)
	if cfg.Timeout > 0 {
		q = &timeoutQuerier{q: q, timeout: cfg.Timeout}
	}
	return WithRetry(Instrument(q, reg), DefaultRetry), nil
}

// NewPrometheusAPI returns a client_golang API client with the configured
// HTTP settings (TLS, auth) and extra headers (e.g. X-Scope-OrgID).
func NewPrometheusAPI(cfg ClientConfig) (v1.API, error) {
	hc, err := commoncfg.NewClientFromConfig(cfg.HTTPConfig, "vllm-sentinel")
	if err != nil {
		return nil, fmt.Errorf("prometheus http_config: %w", err)
	}
	if len(cfg.Headers) > 0 {
		hc.Transport = &headerRoundTripper{headers: cfg.Headers, next: hc.Transport}
	}
	c, err := api.NewClient(api.Config{Address: cfg.URL, Client: hc})
	if err != nil {
		return nil, fmt.Errorf("prometheus client for %s: %w", cfg.URL, err)
	}
	return v1.NewAPI(c), nil
}

// NewAPIRangeQuerier adapts a client_golang API for RangeCache.
func NewAPIRangeQuerier(promAPI v1.API) RangeQuerier { return apiRangeQuerier{api: promAPI} }

type headerRoundTripper struct {
	headers map[string]string
	next    http.RoundTripper
}

func (h *headerRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h.headers {
		r.Header.Set(k, v)
	}
	return h.next.RoundTrip(r)
}

// timeoutQuerier bounds each attempt, so a retry still fits in the cycle.
type timeoutQuerier struct {
	q       Querier
	timeout time.Duration
}

func (t *timeoutQuerier) Query(ctx context.Context, q string, ts time.Time) (model.Value, error) {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	return t.q.Query(ctx, q, ts)
}
