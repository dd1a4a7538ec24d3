package slack_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/notify"
	"github.com/vllm-sentinel/vllm-sentinel/notify/internal/notifytest"
)

var t0 = time.Unix(0, 0).UTC()

// secretPath is the webhook's token part. It must never show up in errors,
// logs or metrics.
const secretPath = "/services/T0SECRET/B0SECRET/SECRETMARKER42"

// The wire format as Slack documents it, decoded strictly: a field we send
// that Slack does not know fails the test.
type slackMessage struct {
	Text        string            `json:"text"`
	Attachments []slackAttachment `json:"attachments"`
}

type slackAttachment struct {
	Color    string       `json:"color"`
	Fallback string       `json:"fallback"`
	Blocks   []slackBlock `json:"blocks"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text"`
	Fields   []slackText `json:"fields"`
	Elements []slackText `json:"elements"`
}

type slackText struct {
	Type  string `json:"type"`
	Text  string `json:"text"`
	Emoji bool   `json:"emoji"`
}

// Limits from Slack's Block Kit reference, and "keep it small": a message
// under 16 KiB.
const (
	maxBlocks       = 50
	maxHeader       = 150
	maxSection      = 3000
	maxFields       = 10
	maxField        = 2000
	maxElements     = 10
	maxText         = 4000
	maxMessageBytes = 16 << 10
)

var (
	colorRE = regexp.MustCompile(`^#[0-9A-Fa-f]{6}$`)
	// In mrkdwn, < opens a link or mention and & an entity; a bare one
	// means text was not escaped.
	linkRE   = regexp.MustCompile(`<(https?://[^|<>\s]+)\|([^<>]*)>`)
	entityRE = regexp.MustCompile(`&(amp|lt|gt);`)
)

// validate checks a body the way Slack would, and more strictly.
func validate(body []byte) (slackMessage, error) {
	var m slackMessage
	if len(body) > maxMessageBytes {
		return m, fmt.Errorf("message is %d bytes, want at most %d", len(body), maxMessageBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return m, fmt.Errorf("invalid_payload: %w", err)
	}
	if m.Text == "" || len(m.Text) > maxText {
		return m, fmt.Errorf("text is %d bytes", len(m.Text))
	}
	if err := mrkdwn(m.Text); err != nil {
		return m, fmt.Errorf("text: %w", err)
	}
	if len(m.Attachments) != 1 {
		return m, fmt.Errorf("%d attachments, want 1", len(m.Attachments))
	}
	at := m.Attachments[0]
	if !colorRE.MatchString(at.Color) {
		return m, fmt.Errorf("color %q", at.Color)
	}
	if at.Fallback == "" {
		return m, fmt.Errorf("no fallback")
	}
	if n := len(at.Blocks); n == 0 || n > maxBlocks {
		return m, fmt.Errorf("invalid_blocks: %d blocks", n)
	}
	for i, b := range at.Blocks {
		if err := validBlock(b); err != nil {
			return m, fmt.Errorf("invalid_blocks: block %d (%s): %w", i, b.Type, err)
		}
	}
	return m, nil
}

func validBlock(b slackBlock) error {
	switch b.Type {
	case "header":
		if b.Text == nil || b.Text.Type != "plain_text" || b.Text.Text == "" || len(b.Text.Text) > maxHeader {
			return fmt.Errorf("header text %+v", b.Text)
		}
		if len(b.Fields)+len(b.Elements) > 0 {
			return fmt.Errorf("header with fields or elements")
		}
	case "section":
		if b.Text == nil && len(b.Fields) == 0 {
			return fmt.Errorf("empty section")
		}
		if b.Text != nil {
			if b.Text.Type != "mrkdwn" || b.Text.Text == "" || len(b.Text.Text) > maxSection {
				return fmt.Errorf("section text of %d bytes", len(b.Text.Text))
			}
			if err := mrkdwn(b.Text.Text); err != nil {
				return err
			}
		}
		if len(b.Fields) > maxFields {
			return fmt.Errorf("%d fields", len(b.Fields))
		}
		for _, f := range b.Fields {
			if f.Text == "" || len(f.Text) > maxField {
				return fmt.Errorf("field of %d bytes", len(f.Text))
			}
			if err := mrkdwn(f.Text); err != nil {
				return err
			}
		}
	case "context":
		if n := len(b.Elements); n == 0 || n > maxElements {
			return fmt.Errorf("%d elements", n)
		}
		for _, e := range b.Elements {
			if e.Text == "" || len(e.Text) > maxSection {
				return fmt.Errorf("element of %d bytes", len(e.Text))
			}
			if err := mrkdwn(e.Text); err != nil {
				return err
			}
		}
	case "divider":
	default:
		return fmt.Errorf("unknown block type")
	}
	return nil
}

// mrkdwn checks that control characters appear only as links and entities.
func mrkdwn(s string) error {
	rest := linkRE.ReplaceAllString(s, "")
	rest = entityRE.ReplaceAllString(rest, "")
	if strings.ContainsAny(rest, "<>&") {
		return fmt.Errorf("unescaped <, > or & in %q", s)
	}
	return nil
}

// request is one POST the fake received.
type request struct {
	at  time.Time
	msg slackMessage
	raw []byte
}

// fakeSlack is an incoming webhook: it checks the path (the token), the
// content type and the payload, and answers as respond says ("ok" by
// default).
type fakeSlack struct {
	t     testing.TB
	srv   *httptest.Server
	clock *notifytest.Clock

	mu       sync.Mutex
	requests []request
	respond  func(n int) (status int, body string, h http.Header)
}

func newFakeSlack(t testing.TB, c *notifytest.Clock) *fakeSlack {
	f := &fakeSlack{t: t, clock: c}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeSlack) URL() string { return f.srv.URL + secretPath }

func (f *fakeSlack) setRespond(fn func(n int) (int, string, http.Header)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.respond = fn
}

func (f *fakeSlack) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != secretPath {
		http.Error(w, "no_service", http.StatusNotFound)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		f.t.Errorf("content type %q", ct)
		return
	}
	body, _ := io.ReadAll(r.Body)
	msg, err := validate(body)
	if err != nil {
		f.t.Errorf("Slack would refuse the message: %v\n%s", err, body)
		http.Error(w, "invalid_blocks", http.StatusBadRequest)
		return
	}
	at := t0
	if f.clock != nil {
		at = f.clock.Now()
	}
	f.mu.Lock()
	f.requests = append(f.requests, request{at: at, msg: msg, raw: body})
	n := len(f.requests)
	respond := f.respond
	f.mu.Unlock()
	status, text, h := http.StatusOK, "ok", http.Header(nil)
	if respond != nil {
		status, text, h = respond(n)
	}
	for k, vs := range h {
		w.Header()[k] = vs
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, text)
}

func (f *fakeSlack) all() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.requests...)
}

// burning is an SLO burn alert as the engine makes it.
func burning(modelName string, now time.Time) *notify.Alert {
	return &notify.Alert{
		Labels: model.LabelSet{
			"alertname": "SLOBurnRate", "slo": "ttft", "severity": "critical", "slo_tier": "page",
			"long_window": "1h", "short_window": "5m", "model_name": model.LabelValue(modelName), "cluster": "prod-eu",
		},
		Annotations: model.LabelSet{
			"summary": model.LabelValue("SLO ttft{model_name=" + modelName + "} is burning its error budget 15.2x too fast over 1h and 5m"),
			"description": "ttft: 15.2% of events were bad over the last 1h against an objective of 99%. Burn rate 15.2 over 1h and 18.3 " +
				"over 5m (fires above 14.4). Error budget left: 71.3%; exhausted in 1d20h. <b>&</b>",
			"runbook_url":        "https://runbooks.example/ttft",
			"dashboard_url":      model.LabelValue("https://grafana.example/d/vllm?var-model=" + modelName + "&from=now-1h"),
			"burn_rate":          "15.2",
			"error_ratio":        "15.2%",
			"budget_left":        "71.3%",
			"time_to_exhaustion": "1d20h",
		},
		StartsAt:     now,
		EndsAt:       now.Add(4 * time.Minute),
		GeneratorURL: "http://sentinel.example:9105/",
	}
}

func models(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("meta-llama/Llama-3.1-%02dB-Instruct", i)
	}
	return out
}
