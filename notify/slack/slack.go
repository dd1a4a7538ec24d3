// Package slack posts alerts to a Slack incoming webhook: one message per
// call (a group of alerts), with a colour bar, Block Kit content inside
// Slack's limits, and at most one message per second per webhook.
//
// The webhook URL is a secret: it never appears in errors, logs or metric
// labels, which show https://hooks.slack.com only.
package slack

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	commoncfg "github.com/prometheus/common/config"

	"github.com/vllm-sentinel/vllm-sentinel/internal/clock"
	"github.com/vllm-sentinel/vllm-sentinel/notify"
)

// Defaults for the zero fields of Options.
const (
	DefaultTimeout = notify.DefaultTimeout
	// DefaultMinInterval is Slack's rate limit for incoming webhooks.
	DefaultMinInterval = time.Second
)

// maxHold bounds how long a Retry-After holds back the next Notify, which
// waits inside the call: the Dispatcher's loop waits with it. A longer
// Retry-After (or a broken one, a date years ahead) is the caller's to wait
// out, between attempts, from the error.
const maxHold = time.Minute

// Options configures a Notifier. Zero fields take the defaults above.
type Options struct {
	// Name is the notifier's name from the config; it labels logs and
	// metrics.
	Name string
	// WebhookURL is the incoming webhook (https://hooks.slack.com/services/…),
	// a secret.
	WebhookURL string
	// HTTPConfig sets proxy and TLS settings.
	HTTPConfig commoncfg.HTTPClientConfig
	// Timeout bounds each POST.
	Timeout time.Duration
	// ExternalURL is the sentinel's own address, linked from each message.
	ExternalURL string
	// MinInterval is the least time between two messages.
	MinInterval time.Duration
	Logger      *slog.Logger
	// Registerer receives the metrics; nil registers none.
	Registerer prometheus.Registerer
	// Now and Sleep are the clock, for tests. Sleep returns early with
	// ctx's error.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// Notifier posts to one Slack incoming webhook.
type Notifier struct {
	name        string
	ep          notify.Endpoint
	poster      *notify.Poster
	externalURL string
	now         func() time.Time
	logger      *slog.Logger
	limit       limiter
}

var _ notify.Notifier = (*Notifier)(nil)

// New checks the options and builds a Notifier.
func New(o Options) (*Notifier, error) {
	poster, err := notify.NewPoster(notify.PosterOptions{Kind: "slack", Name: o.Name, URL: o.WebhookURL,
		HTTPConfig: o.HTTPConfig, Timeout: o.Timeout, Registerer: o.Registerer})
	if err != nil {
		return nil, err
	}
	if o.MinInterval < 0 {
		return nil, fmt.Errorf("slack %s: min interval must not be negative", o.Name)
	}
	o.MinInterval = cmp.Or(o.MinInterval, DefaultMinInterval)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = clock.Sleep
	}
	ep := poster.Endpoint()
	return &Notifier{
		name:        o.Name,
		ep:          ep,
		poster:      poster,
		externalURL: o.ExternalURL,
		now:         o.Now,
		logger:      notify.NotifierLogger(o.Logger, o.Name).With("url", ep),
		limit:       limiter{interval: o.MinInterval, now: o.Now, sleep: o.Sleep},
	}, nil
}

// Notify posts one message for the alerts, waiting first if the last
// message went out less than MinInterval ago. Firing and resolved are
// judged at the Created time of the notify.Meta on ctx (now without one).
// retry is true for rate limits (the error is a *notify.StatusError with
// RetryAfter), server and network errors; refusals such as invalid_payload,
// channel_not_found or channel_is_archived are permanent.
func (n *Notifier) Notify(ctx context.Context, alerts ...*notify.Alert) (retry bool, err error) {
	alerts, meta := notify.Prepare(ctx, alerts, n.now)
	if len(alerts) == 0 {
		return false, nil
	}
	var buf bytes.Buffer
	if err := newEncoder(&buf).Encode(buildMessage(alerts, meta.GroupLabels, meta.Created, n.externalURL)); err != nil {
		return false, fmt.Errorf("slack %s: encode message: %w", n.name, err)
	}
	body := buf.Bytes()
	if err := n.limit.wait(ctx); err != nil {
		return true, fmt.Errorf("slack %s: waiting for the rate limit: %w", n.name, err)
	}
	if err := n.poster.Post(ctx, nil, body, len(alerts), n.now(), checkBody); err != nil {
		if ra := notify.RetryAfter(err); ra > 0 {
			// The error carries all of it, for the caller to wait out
			// between attempts; Notify itself waits for no more than
			// maxHold of it.
			n.limit.holdUntil(n.now().Add(min(ra, maxHold)))
		}
		return notify.Retryable(err), fmt.Errorf("slack %s: post %d alerts to %s: %w", n.name, len(alerts), n.ep, err)
	}
	n.logger.Debug("message posted", "alerts", len(alerts), "bytes", len(body))
	return false, nil
}

// checkBody reads the answer to a 2xx. Incoming webhooks answer "ok", and
// services that speak their protocol answer "ok", nothing, or a JSON
// object: all success. A JSON {"ok": false, "error": …} (from a proxy or
// the Web API) is a refusal, retried when its error is one of Slack's
// transient ones. Anything else (a proxy's HTML page, invalid JSON,
// garbage) says the message did not reach Slack: a refusal, not retried,
// since the same answer would come again and the request may have been
// taken after all.
func checkBody(body []byte) error {
	s := bytes.TrimSpace(body)
	if len(s) == 0 || string(s) == "ok" {
		return nil
	}
	if s[0] == '{' {
		var r struct {
			OK    *bool           `json:"ok"`
			Error json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(s, &r); err != nil {
			return &notify.StatusError{Code: http.StatusOK, Reason: "unreadable JSON answer: " + string(s)}
		}
		if r.OK == nil || *r.OK {
			return nil
		}
		code := errorCode(r.Error)
		return &notify.StatusError{Code: http.StatusOK, Reason: code, Transient: transientErrors[strings.TrimSpace(code)]}
	}
	return &notify.StatusError{Code: http.StatusOK, Reason: "unexpected answer: " + string(s)}
}

// errorCode is the error of a {"ok": false} answer, a string by Slack's
// documentation; whatever else a proxy put there, as it is. The Poster
// scrubs and cuts the reason.
func errorCode(raw json.RawMessage) string {
	var code string
	if json.Unmarshal(raw, &code) != nil {
		code = string(raw)
	}
	if strings.TrimSpace(code) == "" {
		return "ok: false"
	}
	return code
}

// transientErrors are the errors of Slack's Web API that say to try again
// later (https://api.slack.com/web#errors); they come with a 200.
var transientErrors = map[string]bool{
	"ratelimited":         true,
	"rate_limited":        true,
	"internal_error":      true,
	"fatal_error":         true,
	"service_unavailable": true,
	"request_timeout":     true,
}

// limiter spaces messages at least interval apart. Callers reserve a slot
// under the lock and sleep outside it, so concurrent calls queue up in
// order.
type limiter struct {
	interval time.Duration
	now      func() time.Time
	sleep    func(context.Context, time.Duration) error

	mu   sync.Mutex
	next time.Time
}

func (l *limiter) wait(ctx context.Context) error {
	l.mu.Lock()
	now := l.now()
	slot := now
	if l.next.After(now) {
		slot = l.next
	}
	l.next = slot.Add(l.interval)
	l.mu.Unlock()
	if d := slot.Sub(now); d > 0 {
		return l.sleep(ctx, d)
	}
	return nil
}

// holdUntil keeps the next message from going out before t (Slack's
// Retry-After).
func (l *limiter) holdUntil(t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t.After(l.next) {
		l.next = t
	}
}
