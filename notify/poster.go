package notify

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	commoncfg "github.com/prometheus/common/config"
)

// DefaultTimeout bounds each POST when a notifier's options leave the
// timeout zero.
const DefaultTimeout = 10 * time.Second

// Poster posts to one Endpoint with its own HTTP client, a timeout per
// attempt and the shared counters: the sending that the Slack and webhook
// notifiers do alike.
type Poster struct {
	ep      Endpoint
	client  *http.Client
	timeout time.Duration
	m       *PostMetrics
}

// PosterOptions are the options that every notifier posting to one
// receiver URL has, checked alike by NewPoster.
type PosterOptions struct {
	// Kind ("slack", "webhook") starts every error and names the HTTP
	// client to commoncfg.
	Kind string
	// Name is the notifier's name from the config; it is required.
	Name string
	// URL is the receiver's; errors never quote it, as it may be a secret.
	URL        string
	HTTPConfig commoncfg.HTTPClientConfig
	// Timeout bounds each attempt; zero means DefaultTimeout.
	Timeout    time.Duration
	Registerer prometheus.Registerer
}

// NewPoster checks o, builds the HTTP client and registers, or adopts, the
// notifier's metrics for the URL.
func NewPoster(o PosterOptions) (*Poster, error) {
	if o.Name == "" {
		return nil, fmt.Errorf("%s: a notifier name is required", o.Kind)
	}
	if o.Timeout < 0 {
		return nil, fmt.Errorf("%s %s: timeout must not be negative", o.Kind, o.Name)
	}
	ep, err := ParseEndpoint(o.URL)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", o.Kind, o.Name, err)
	}
	client, err := NewHTTPClient(o.HTTPConfig, o.Kind)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", o.Kind, o.Name, err)
	}
	m, err := NewPostMetrics(o.Name, ep.String(), o.Registerer)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", o.Kind, o.Name, err)
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	return &Poster{ep: ep, client: client, timeout: o.Timeout, m: m}, nil
}

// Endpoint is where p posts; it prints without secrets.
func (p *Poster) Endpoint() Endpoint { return p.ep }

// Post makes one attempt at delivering body, which holds alerts alerts, as
// Endpoint.Post does. check, when not nil, judges the start of a 2xx answer
// (Slack answers 200 with a refusal in the body), and a refusal it finds
// counts as a failed attempt. Attempts cut short by ctx are not counted:
// they say nothing about the receiver. Attempts that time out are.
func (p *Poster) Post(ctx context.Context, header http.Header, body []byte, alerts int, now time.Time, check func([]byte) error) error {
	reqCtx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	// Latency comes from the monotonic clock, not the injected one.
	start := time.Now()
	resp, err := p.ep.Post(reqCtx, p.client, header, body, now)
	if err == nil && check != nil {
		err = check(resp)
	}
	if ctx.Err() == nil {
		p.m.Observe(alerts, err, time.Since(start))
	}
	return err
}
