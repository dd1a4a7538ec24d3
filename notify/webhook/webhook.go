// Package webhook posts alerts in Alertmanager's webhook format (version
// "4"), so receivers written for Alertmanager work unchanged, optionally
// signed the Standard Webhooks way (https://www.standardwebhooks.com):
//
//	webhook-id:        the notification's ID, the same on every retry
//	webhook-timestamp: Unix seconds of the attempt
//	webhook-signature: v1,<base64 HMAC-SHA256(key, id + "." + timestamp + "." + body)>
//
// The URL and the signing key are secrets: errors, logs and metric labels
// show scheme://host only. A receiver that answers 410 Gone disables the
// notifier until it is built again (a reload or a restart).
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/internal/promreg"
	"github.com/vllm-sentinel/vllm-sentinel/notify"
)

// Defaults and limits.
const (
	DefaultTimeout = notify.DefaultTimeout
	// Version is Alertmanager's webhook payload version.
	Version = "4"
	// SecretPrefix starts a Standard Webhooks signing secret.
	SecretPrefix = "whsec_"
	// MinKeyBytes is the shortest signing key accepted; the Standard
	// Webhooks spec asks for 24 to 64 random bytes.
	MinKeyBytes = 24
)

// ErrDisabled is returned by every Notify after the receiver answered 410
// Gone.
var ErrDisabled = errors.New("receiver disabled after HTTP 410 Gone; reload the configuration to enable it again")

// Options configures a Notifier. Zero fields take the defaults above.
type Options struct {
	// Name is the notifier's name from the config; it labels logs and
	// metrics and is the payload's receiver.
	Name string
	// URL receives the POSTs. It may hold a secret in its path or query.
	URL string
	// SigningKey is "whsec_<base64 key>"; empty sends unsigned.
	SigningKey string
	// Headers are added to every request. Their values are never logged.
	// Content-Type and the webhook-* headers cannot be set.
	Headers map[string]string
	// HTTPConfig sets authentication, proxy and TLS settings.
	HTTPConfig commoncfg.HTTPClientConfig
	// Timeout bounds each POST.
	Timeout time.Duration
	// MaxAlerts bounds the alerts in one payload; the rest are counted in
	// truncatedAlerts, as Alertmanager's max_alerts does. 0 sends all.
	MaxAlerts int
	// ExternalURL is the payload's externalURL: the sentinel's address.
	ExternalURL string
	Logger      *slog.Logger
	// Registerer receives the metrics; nil registers none.
	Registerer prometheus.Registerer
	// Now is the clock for webhook-timestamp and, without a notify.Meta,
	// for telling firing from resolved.
	Now func() time.Time
}

// Notifier posts to one webhook receiver.
type Notifier struct {
	name        string
	ep          notify.Endpoint
	key         []byte
	headers     http.Header
	poster      *notify.Poster
	maxAlerts   int
	externalURL string
	now         func() time.Time
	logger      *slog.Logger
	disabledG   prometheus.Gauge
	disabled    atomic.Bool
}

var _ notify.Notifier = (*Notifier)(nil)

// New checks the options and builds a Notifier. Errors never quote the URL,
// the key or a header value.
func New(o Options) (*Notifier, error) {
	if o.MaxAlerts < 0 {
		return nil, fmt.Errorf("webhook %s: max alerts must not be negative", o.Name)
	}
	var key []byte
	if o.SigningKey != "" {
		var err error
		if key, err = ParseSigningKey(o.SigningKey); err != nil {
			return nil, fmt.Errorf("webhook %s: %w", o.Name, err)
		}
	}
	headers, errs := checkHeaders(o.Headers)
	if len(errs) > 0 {
		return nil, fmt.Errorf("webhook %s: %w", o.Name, errs[0])
	}
	poster, err := notify.NewPoster(notify.PosterOptions{Kind: "webhook", Name: o.Name, URL: o.URL,
		HTTPConfig: o.HTTPConfig, Timeout: o.Timeout, Registerer: o.Registerer})
	if err != nil {
		return nil, err
	}
	ep := poster.Endpoint()
	disabled, err := promreg.Register(o.Registerer, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name:        "vllm_sentinel_notifier_disabled",
		Help:        "1 while a notifier is disabled because its receiver answered 410 Gone.",
		ConstLabels: prometheus.Labels{"notifier": o.Name},
	}, []string{"url"}))
	if err != nil {
		return nil, fmt.Errorf("webhook %s: %w", o.Name, err)
	}
	g := disabled.WithLabelValues(ep.String())
	g.Set(0)
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Notifier{
		name:        o.Name,
		ep:          ep,
		key:         key,
		headers:     headers,
		poster:      poster,
		maxAlerts:   o.MaxAlerts,
		externalURL: o.ExternalURL,
		now:         o.Now,
		logger:      notify.NotifierLogger(o.Logger, o.Name).With("url", ep),
		disabledG:   g,
	}, nil
}

// checkHeaders canonicalises the extra headers. Each problem is a
// *notify.FieldError at headers.<name>, in the order of the names; none
// quotes a value. A value the HTTP client would refuse to send (a control
// character) is refused here, or every POST would fail as a transport
// error and be retried for ever.
func checkHeaders(in map[string]string) (http.Header, []error) {
	headers := http.Header{}
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(in)) {
		v := in[k]
		ck := http.CanonicalHeaderKey(k)
		path := []any{"headers", k}
		switch {
		case reservedHeader(ck):
			errs = append(errs, notify.FieldErrorf(path, "header %s is set by the notifier", ck))
		case !validHeaderName(k):
			errs = append(errs, notify.FieldErrorf(path, "invalid header %q", k))
		case !validHeaderValue(v):
			errs = append(errs, notify.FieldErrorf(path, "the value of header %s holds a control character", ck))
		case headers.Get(ck) != "":
			errs = append(errs, notify.FieldErrorf(path, "header %s is given twice, in different cases", ck))
		default:
			headers.Set(ck, v)
		}
	}
	return headers, errs
}

// validHeaderName is RFC 9110's token: what net/http sends.
func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if r >= 0x80 || !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return true
}

// validHeaderValue holds no control character but tabs, as net/http
// demands.
func validHeaderValue(v string) bool {
	for i := range len(v) {
		if b := v[i]; b < ' ' && b != '\t' || b == 0x7f {
			return false
		}
	}
	return true
}

func reservedHeader(canonical string) bool {
	switch canonical {
	case "Content-Type", "Content-Length", "Host", "Webhook-Id", "Webhook-Timestamp", "Webhook-Signature":
		return true
	}
	return false
}

// ParseSigningKey decodes a Standard Webhooks secret, "whsec_<base64>" (the
// prefix may be left out). Errors do not quote the secret.
func ParseSigningKey(secret string) ([]byte, error) {
	s := strings.TrimPrefix(strings.TrimSpace(secret), SecretPrefix)
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("signing key: not whsec_ followed by standard base64")
	}
	if len(key) < MinKeyBytes {
		return nil, fmt.Errorf("signing key: %d bytes, want at least %d", len(key), MinKeyBytes)
	}
	return key, nil
}

// Sign returns the webhook-signature value for one message.
func Sign(key []byte, id string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + strconv.FormatInt(ts, 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Message is Alertmanager's webhook payload (notify/webhook in
// Alertmanager, version 4).
type Message struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   uint64            `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []Alert           `json:"alerts"`
}

// Alert is one alert of a Message. A firing alert's endsAt is the zero
// time, as Alertmanager sends it.
type Alert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
	// Explanation is why the alert fires and its example requests, from
	// its annotations (an addition to Alertmanager's payload).
	Explanation *notify.Explanation `json:"explanation,omitempty"`
}

// Status values.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

// Notify posts one payload for the alerts. The notify.Meta on ctx gives
// the webhook-id, the group and the time at which firing and resolved are
// judged; without one a fresh ID, no group labels and now are used.
// retry is true for rate limits, server and network errors. A 410 disables
// the notifier: this and every later call return ErrDisabled.
func (n *Notifier) Notify(ctx context.Context, alerts ...*notify.Alert) (retry bool, err error) {
	alerts, meta := notify.Prepare(ctx, alerts, n.now)
	if len(alerts) == 0 {
		return false, nil
	}
	if n.disabled.Load() {
		return false, fmt.Errorf("webhook %s: %w", n.name, ErrDisabled)
	}
	body, err := json.Marshal(n.message(alerts, meta))
	if err != nil {
		return false, fmt.Errorf("webhook %s: encode payload: %w", n.name, err)
	}
	now := n.now()
	h := n.headers.Clone()
	ts := now.Unix()
	h.Set("Webhook-Id", meta.ID)
	h.Set("Webhook-Timestamp", strconv.FormatInt(ts, 10))
	if n.key != nil {
		h.Set("Webhook-Signature", Sign(n.key, meta.ID, ts, body))
	}
	err = n.poster.Post(ctx, h, body, len(alerts), now, nil)
	if err == nil {
		n.logger.Debug("payload posted", "id", meta.ID, "alerts", len(alerts), "bytes", len(body))
		return false, nil
	}
	if se, ok := errors.AsType[*notify.StatusError](err); ok && se.Code == http.StatusGone {
		if n.disabled.CompareAndSwap(false, true) {
			n.disabledG.Set(1)
			n.logger.Error("webhook receiver is gone (HTTP 410): notifier disabled until the configuration is reloaded or the daemon restarts", "err", se)
		}
		return false, fmt.Errorf("webhook %s: post to %s: %w: %w", n.name, n.ep, err, ErrDisabled)
	}
	return notify.Retryable(err), fmt.Errorf("webhook %s: post %d alerts to %s: %w", n.name, len(alerts), n.ep, err)
}

func (n *Notifier) message(alerts []*notify.Alert, meta notify.Meta) Message {
	m := Message{
		Version:           Version,
		GroupKey:          meta.GroupKey,
		Status:            StatusResolved,
		Receiver:          n.name,
		GroupLabels:       kv(meta.GroupLabels),
		CommonLabels:      kv(common(alerts, func(a *notify.Alert) model.LabelSet { return a.Labels })),
		CommonAnnotations: kv(common(alerts, func(a *notify.Alert) model.LabelSet { return a.Annotations })),
		ExternalURL:       n.externalURL,
	}
	if m.GroupKey == "" {
		m.GroupKey = "{}:" + meta.GroupLabels.String()
	}
	if n.maxAlerts > 0 && len(alerts) > n.maxAlerts {
		m.TruncatedAlerts = uint64(len(alerts) - n.maxAlerts)
	}
	for i, a := range alerts {
		firing := !notify.Resolved(a, meta.Created)
		if firing {
			m.Status = StatusFiring
		}
		if n.maxAlerts > 0 && i >= n.maxAlerts {
			continue
		}
		wa := Alert{
			Status:       StatusResolved,
			Labels:       kv(a.Labels),
			Annotations:  kv(a.Annotations),
			StartsAt:     a.StartsAt,
			EndsAt:       a.EndsAt,
			GeneratorURL: a.GeneratorURL,
			Fingerprint:  a.Fingerprint().String(),
			Explanation:  notify.Explain(a.Annotations),
		}
		if firing {
			wa.Status, wa.EndsAt = StatusFiring, time.Time{}
		}
		m.Alerts = append(m.Alerts, wa)
	}
	return m
}

func common(alerts []*notify.Alert, of func(*notify.Alert) model.LabelSet) model.LabelSet {
	out := of(alerts[0]).Clone()
	for _, a := range alerts[1:] {
		ls := of(a)
		for k, v := range out {
			if ls[k] != v {
				delete(out, k)
			}
		}
	}
	return out
}

// kv turns a label set into a JSON object; never null, as Alertmanager
// sends {}.
func kv(ls model.LabelSet) map[string]string {
	out := make(map[string]string, len(ls))
	for k, v := range ls {
		out[string(k)] = string(v)
	}
	return out
}
