package notify

import (
	"context"
	"errors"
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
	ep, client, errs := postTarget(o.URL, o.HTTPConfig, o.Timeout, o.Kind)
	if len(errs) > 0 {
		err := errs[0]
		if fe, ok := err.(*FieldError); ok && fe.Path[0] == "url" {
			// "URL http://x: no host" says which setting already.
			err = fe.Err
		}
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

// postTarget makes what NewPoster posts with, out of the settings that come
// from a config entry: the endpoint of url and a client for hc. Each
// problem is a *FieldError at url, http_config or timeout.
func postTarget(url string, hc commoncfg.HTTPClientConfig, timeout time.Duration, kind string) (Endpoint, *http.Client, []error) {
	var errs []error
	if timeout < 0 {
		errs = append(errs, FieldErrorf([]any{"timeout"}, "must not be negative"))
	}
	ep, err := ParseEndpoint(url)
	if err != nil {
		errs = append(errs, &FieldError{Path: []any{"url"}, Err: err})
	}
	client, err := NewHTTPClient(hc, kind)
	if err != nil {
		errs = append(errs, err)
	}
	return ep, client, errs
}

// CheckPost runs the checks NewPoster makes of what comes from a config
// entry — url, which the entry gives at urlKey, its http_config and
// timeout — for the DecodeConfig of a notifier that posts with a Poster,
// so that an entry that decodes is one that NewPoster accepts. Each
// problem is a *FieldError at its setting. Errors never quote url.
func CheckPost(urlKey, url string, h HTTPSettings, kind string) []error {
	_, client, errs := postTarget(url, h.ClientConfig(), h.TimeoutDuration(), kind)
	if client != nil {
		client.CloseIdleConnections()
	}
	for _, err := range errs {
		if fe, ok := err.(*FieldError); ok && len(fe.Path) == 1 && fe.Path[0] == "url" {
			fe.Path = []any{urlKey}
		}
	}
	return errs
}

// Endpoint is where p posts; it prints without secrets.
func (p *Poster) Endpoint() Endpoint { return p.ep }

// Post makes one attempt at delivering body, which holds alerts alerts, as
// Endpoint.Post does. check, when not nil, judges the body of a 2xx answer
// (Slack answers 200 with a refusal in the body), and a refusal it finds
// counts as a failed attempt; Post scrubs the reason of the
// *StatusError it returns and cuts it to one short line. Attempts cut short by ctx are not counted:
// they say nothing about the receiver. Attempts that time out are.
func (p *Poster) Post(ctx context.Context, header http.Header, body []byte, alerts int, now time.Time, check func([]byte) error) error {
	reqCtx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	// Latency comes from the monotonic clock, not the injected one.
	start := time.Now()
	resp, err := p.ep.Post(reqCtx, p.client, header, body, now)
	if err == nil && check != nil {
		err = check(resp)
		if se, ok := errors.AsType[*StatusError](err); ok {
			// The answer may quote the request, URL included: scrubbed
			// whole, then cut, so that no part of a secret escapes.
			se.Reason = p.ep.ScrubReason(se.Code, se.Reason)
		}
	}
	if ctx.Err() == nil {
		p.m.Observe(alerts, err, time.Since(start))
	}
	return err
}
