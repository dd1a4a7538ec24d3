package webhook_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/notify"
	"github.com/vllm-sentinel/vllm-sentinel/notify/internal/notifytest"
)

var t0 = time.Unix(1_700_000_000, 0).UTC()

// secret is a Standard Webhooks signing secret; SECRETKEYMARKER is in its
// base64 so that a leak of the encoded form is caught.
const secret = "whsec_U0VDUkVUS0VZTUFSS0VSLTAxMjM0NTY3ODlhYmNkZWY="

// secretPath is the receiver's token part of the URL.
const secretPath = "/hooks/SECRETPATHMARKER?token=SECRETQUERYMARKER"

// amMessage is Alertmanager's own webhook message type
// (notify/webhook.Message in Alertmanager): what existing receivers decode.
type amMessage struct {
	*template.Data
	Version         string `json:"version"`
	GroupKey        string `json:"groupKey"`
	TruncatedAlerts uint64 `json:"truncatedAlerts"`
}

// verify checks a request as a Standard Webhooks receiver does, written
// from the spec: the three headers, a timestamp within tolerance of now,
// and one of the space-separated v1 signatures matching
// base64(HMAC-SHA256(key, id.timestamp.body)).
func verify(secret string, h http.Header, body []byte, now time.Time) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("missing webhook-id, webhook-timestamp or webhook-signature")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("timestamp %q: %w", ts, err)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("timestamp %s off by %s", ts, d)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte("."))
	mac.Write([]byte(ts))
	mac.Write([]byte("."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, s := range strings.Fields(sigs) {
		version, sig, ok := strings.Cut(s, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errors.New("no matching v1 signature")
}

// hookRequest is one request the receiver saw.
type hookRequest struct {
	id, ts   string
	at       time.Time
	accepted bool
	raw      []byte
	msg      amMessage
	header   http.Header
}

// fakeHook is a webhook receiver: it decodes the payload strictly into
// Alertmanager's types, checks the signature when it has a secret, and
// answers as respond says (200 by default). A status of -1 drops the
// connection without an answer.
type fakeHook struct {
	t      testing.TB
	srv    *httptest.Server
	clock  *notifytest.Clock
	secret string

	mu       sync.Mutex
	requests []hookRequest
	respond  func(n int) (status int, h http.Header)
}

func newFakeHook(t testing.TB, c *notifytest.Clock, secret string) *fakeHook {
	f := &fakeHook{t: t, clock: c, secret: secret}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeHook) URL() string { return f.srv.URL + secretPath }

func (f *fakeHook) setRespond(fn func(n int) (int, http.Header)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.respond = fn
}

func (f *fakeHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path+"?"+r.URL.RawQuery != secretPath {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	body, _ := io.ReadAll(r.Body)
	req := hookRequest{id: r.Header.Get("webhook-id"), ts: r.Header.Get("webhook-timestamp"), at: f.clock.Now(), raw: body, header: r.Header.Clone()}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		f.t.Errorf("content type %q", ct)
	}
	if f.secret != "" {
		if err := verify(f.secret, r.Header, body, f.clock.Now()); err != nil {
			f.t.Errorf("signature: %v", err)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
	}
	// Everything but the sentinel's one addition, each alert's
	// explanation, is Alertmanager's payload, field for field.
	dec := json.NewDecoder(bytes.NewReader(withoutExplanations(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req.msg); err != nil {
		f.t.Errorf("payload does not decode as Alertmanager's: %v\n%s", err, body)
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.requests = append(f.requests, req)
	n := len(f.requests)
	respond := f.respond
	f.mu.Unlock()
	status, h := http.StatusOK, http.Header(nil)
	if respond != nil {
		status, h = respond(n)
	}
	if status == -1 {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	if status < 300 {
		f.mu.Lock()
		f.requests[n-1].accepted = true
		f.mu.Unlock()
	}
	for k, vs := range h {
		w.Header()[k] = vs
	}
	w.WriteHeader(status)
}

func (f *fakeHook) all() []hookRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]hookRequest(nil), f.requests...)
}

func (f *fakeHook) accepted() []hookRequest {
	var out []hookRequest
	for _, r := range f.all() {
		if r.accepted {
			out = append(out, r)
		}
	}
	return out
}

func alert(modelName, slo string, startsAt, endsAt time.Time) *notify.Alert {
	return &notify.Alert{
		Labels: model.LabelSet{
			"alertname": "SLOBurnRate", "slo": model.LabelValue(slo), "severity": "critical", "model_name": model.LabelValue(modelName),
		},
		Annotations: model.LabelSet{
			"summary":     model.LabelValue("SLO " + slo + " burning for " + modelName),
			"runbook_url": "https://runbooks.example/" + model.LabelValue(slo),
		},
		StartsAt:     startsAt,
		EndsAt:       endsAt,
		GeneratorURL: "http://sentinel.example:9105/",
	}
}

// withoutExplanations drops the explanation field of every alert, so that
// the rest can be decoded strictly as Alertmanager's.
func withoutExplanations(body []byte) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return body
	}
	var alerts []map[string]json.RawMessage
	if json.Unmarshal(m["alerts"], &alerts) != nil {
		return body
	}
	for _, a := range alerts {
		delete(a, "explanation")
	}
	raw, err := json.Marshal(alerts)
	if err != nil {
		return body
	}
	m["alerts"] = raw
	out, err := json.Marshal(m)
	if err != nil {
		return body
	}
	return out
}
