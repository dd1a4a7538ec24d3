package slack

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/notify"
)

// Slack's limits (https://api.slack.com/reference/block-kit/blocks), and
// tighter ones of our own so that a storm stays one readable message. Sizes
// are counted in bytes, which is never less than Slack's characters.
const (
	maxBlocks          = 50
	maxHeaderText      = 150
	maxSectionText     = 3000
	maxFields          = 10
	maxFieldText       = 2000
	maxContextElements = 10

	// maxAlertsShown and blocksBudget (encoded bytes) keep the message
	// small, under 16 KiB: past them the rest of the alerts are counted,
	// not shown.
	maxAlertsShown = 20
	blocksBudget   = 11000
	maxFallback    = 1000
	alertTextCap   = 1200
	summaryCap     = 300
	descriptionCap = 600
	labelsCap      = 300
	fieldCap       = 150
	contextCap     = 1000
	maxLinkURL     = 500
	fallbackLines  = 5

	colorFiring   = "#E01E5A"
	colorResolved = "#2EB67D"
)

// Annotations shown as fields of an alert when present, in this order. The
// engine's description carries the same figures as prose.
var annotationFields = []struct{ key, title string }{
	{"burn_rate", "Burn rate"},
	{"error_ratio", "Error ratio"},
	{"budget_left", "Budget left"},
	{"time_to_exhaustion", "Exhaustion"},
}

// Annotations linked from an alert, in this order; generatorURL follows.
var annotationLinks = []struct{ key, title string }{
	{"runbook_url", "Runbook"},
	{"dashboard_url", "Dashboard"},
	{"trace_url", "Traces"},
}

// modelLabels name the model an alert concerns, first match wins.
var modelLabels = []model.LabelName{"model_name", "model"}

type message struct {
	Text        string       `json:"text"`
	Attachments []attachment `json:"attachments"`
}

// attachment carries the colour bar; the content is Block Kit.
type attachment struct {
	Color    string  `json:"color"`
	Fallback string  `json:"fallback"`
	Blocks   []block `json:"blocks"`
}

type block struct {
	Type     string       `json:"type"`
	Text     *textObject  `json:"text,omitempty"`
	Fields   []textObject `json:"fields,omitempty"`
	Elements []textObject `json:"elements,omitempty"`
}

type textObject struct {
	Type  string `json:"type"` // plain_text or mrkdwn
	Text  string `json:"text"`
	Emoji bool   `json:"emoji,omitempty"`
}

// size is the block's share of the encoded message.
func (b block) size() int {
	var c countWriter
	_ = newEncoder(&c).Encode(b)
	return int(c)
}

type countWriter int

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}

// newEncoder writes JSON without escaping <, > and & as \u003c and so on:
// mrkdwn is full of them, and the message stays smaller.
func newEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc
}

// buildMessage renders one group as a message: a header with the status
// and the group, the labels all alerts share, one section per alert (firing
// first) as far as the limits allow, and a line that counts the alerts left
// out.
func buildMessage(alerts []*notify.Alert, groupLabels model.LabelSet, at time.Time, externalURL string) message {
	alerts = slices.Clone(alerts)
	slices.SortStableFunc(alerts, func(a, b *notify.Alert) int {
		ra, rb := notify.Resolved(a, at), notify.Resolved(b, at)
		switch {
		case ra != rb && rb:
			return -1
		case ra != rb:
			return 1
		case a.Labels.Before(b.Labels):
			return -1
		case b.Labels.Before(a.Labels):
			return 1
		}
		return 0
	})
	firing := 0
	for _, a := range alerts {
		if !notify.Resolved(a, at) {
			firing++
		}
	}
	common := commonLabels(alerts)
	title := titleOf(firing, groupLabels, common)

	blocks := []block{{Type: "header", Text: &textObject{Type: "plain_text", Text: truncate(title, maxHeaderText), Emoji: true}}}
	if s := commonContext(common, groupLabels); s != "" {
		blocks = append(blocks, contextBlock(s))
	}
	budget := blocksBudget
	for _, b := range blocks {
		budget -= b.size()
	}
	shown := 0
	for _, a := range alerts {
		// One block stays free for the closing line.
		if shown == maxAlertsShown || len(blocks) >= maxBlocks-1 {
			break
		}
		bs := []block{alertBlock(a, common, at)}
		if w, ok := whyBlock(a, at); ok {
			bs = append(bs, w)
		}
		size := 0
		for _, b := range bs {
			size += b.size()
		}
		if size > budget || len(blocks)+len(bs) > maxBlocks-1 {
			break
		}
		blocks = append(blocks, bs...)
		budget -= size
		shown++
	}
	left := len(alerts) - shown
	if s := closingLine(left, firing, len(alerts)-firing, externalURL); s != "" {
		blocks = append(blocks, contextBlock(s))
	}

	color := colorResolved
	if firing > 0 {
		color = colorFiring
	}
	fallback := fallbackText(title, alerts, at)
	return message{
		Text:        fallback,
		Attachments: []attachment{{Color: color, Fallback: fallback, Blocks: blocks}},
	}
}

// titleOf follows Alertmanager's default Slack title: "[FIRING:2]" or
// "[RESOLVED]", then the group label values ("SLOBurnRate ttft").
func titleOf(firing int, groupLabels, common model.LabelSet) string {
	status := "[RESOLVED]"
	if firing > 0 {
		status = fmt.Sprintf("[FIRING:%d]", firing)
	}
	var vals []string
	for _, n := range sortedNames(groupLabels) {
		vals = append(vals, string(groupLabels[n]))
	}
	if len(vals) == 0 {
		if v, ok := common[model.AlertNameLabel]; ok {
			vals = append(vals, string(v))
		}
	}
	if len(vals) == 0 {
		vals = append(vals, "alerts")
	}
	return status + " " + strings.Join(vals, " ")
}

// commonContext lists the labels every alert has that the title does not
// show already: severity, tier, cluster.
func commonContext(common, groupLabels model.LabelSet) string {
	var parts []string
	for _, n := range sortedNames(common) {
		if _, inTitle := groupLabels[n]; inTitle || n == model.AlertNameLabel {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s: *%s*", escapeTrunc(string(n), fieldCap), escapeTrunc(string(common[n]), fieldCap)))
	}
	return truncateJoin(parts, " · ", contextCap)
}

func alertBlock(a *notify.Alert, common model.LabelSet, at time.Time) block {
	resolved := notify.Resolved(a, at)
	icon := ":red_circle:"
	if resolved {
		icon = ":large_green_circle:"
	}
	head := string(a.Annotations["summary"])
	if head == "" {
		head = string(a.Labels[model.AlertNameLabel])
	}
	first := icon + " *" + escapeTrunc(head, summaryCap) + "*"
	if resolved {
		first += " _resolved " + a.EndsAt.UTC().Format("15:04 UTC") + "_"
	}
	lines := []string{first}
	if d := a.Annotations["description"]; d != "" {
		lines = append(lines, escapeTrunc(string(d), descriptionCap))
	}
	var own []string
	for _, n := range sortedNames(a.Labels) {
		if _, shared := common[n]; shared || slices.Contains(modelLabels, n) {
			continue
		}
		own = append(own, fmt.Sprintf("%s=%s", n, a.Labels[n]))
	}
	if len(own) > 0 {
		lines = append(lines, "`"+escapeTrunc(strings.ReplaceAll(strings.Join(own, " "), "`", "'"), labelsCap)+"`")
	}
	text := truncateJoin(lines, "\n", alertTextCap)
	if l := truncateJoin(links(a), " · ", alertTextCap-len(text)-1); l != "" {
		text += "\n" + l
	}

	b := block{Type: "section", Text: &textObject{Type: "mrkdwn", Text: text}}
	for _, n := range modelLabels {
		if v, ok := a.Labels[n]; ok {
			b.Fields = append(b.Fields, field("Model", string(v)))
			break
		}
	}
	for _, f := range annotationFields {
		if v := a.Annotations[model.LabelName(f.key)]; v != "" && len(b.Fields) < maxFields {
			b.Fields = append(b.Fields, field(f.title, string(v)))
		}
	}
	return b
}

// whyBlock is the section under a firing alert that says why it fires and
// links its example slow requests.
func whyBlock(a *notify.Alert, at time.Time) (block, bool) {
	e := notify.Explain(a.Annotations)
	if e == nil || notify.Resolved(a, at) {
		return block{}, false
	}
	var lines []string
	if e.Cause != "" {
		line := "*Why:* `" + escapeTrunc(e.Cause, fieldCap) + "`"
		if e.Detail != "" {
			line += " " + escapeTrunc(e.Detail, descriptionCap)
		}
		lines = append(lines, line)
	}
	switch {
	case e.TracesUnavailable:
		lines = append(lines, "*Slow requests:* traces unavailable (the tracing backend did not answer)")
	case len(e.Traces) > 0:
		var ls []string
		for _, t := range e.Traces {
			short := t.TraceID
			if len(short) > 12 {
				short = short[:12]
			}
			if l := link(t.URL, short); l != "" {
				ls = append(ls, l)
			} else {
				ls = append(ls, "`"+escapeTrunc(t.TraceID, fieldCap)+"`")
			}
		}
		lines = append(lines, "*Slow requests:* "+strings.Join(ls, " · "))
	}
	return block{Type: "section", Text: &textObject{Type: "mrkdwn", Text: truncateJoin(lines, "\n", alertTextCap)}}, true
}

func field(title, value string) textObject {
	return textObject{Type: "mrkdwn", Text: "*" + title + "*\n" + escapeTrunc(value, fieldCap)}
}

func links(a *notify.Alert) []string {
	var out []string
	for _, l := range annotationLinks {
		if s := link(string(a.Annotations[model.LabelName(l.key)]), l.title); s != "" {
			out = append(out, s)
		}
	}
	if s := link(a.GeneratorURL, "Source"); s != "" {
		out = append(out, s)
	}
	return out
}

// link renders <url|title> for an http(s) URL. One that is too long to
// show whole, or cannot be one, is left out rather than cut.
func link(raw, title string) string {
	if raw == "" || len(raw) > maxLinkURL || strings.ContainsAny(raw, " \t\r\n") {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	safe := strings.NewReplacer("|", "%7C", "<", "%3C", ">", "%3E").Replace(raw)
	return "<" + safe + "|" + escape(title) + ">"
}

func closingLine(left, firing, resolved int, externalURL string) string {
	var parts []string
	if left > 0 {
		noun := "alerts"
		if left == 1 {
			noun = "alert"
		}
		parts = append(parts, fmt.Sprintf("…and %d more %s not shown (%d firing, %d resolved in all)", left, noun, firing, resolved))
	}
	if l := link(externalURL, "vllm-sentinel"); l != "" {
		parts = append(parts, l)
	}
	return strings.Join(parts, " · ")
}

func contextBlock(s string) block {
	return block{Type: "context", Elements: []textObject{{Type: "mrkdwn", Text: s}}}
}

// fallbackText is the plain notification text: the title and the first
// summaries.
func fallbackText(title string, alerts []*notify.Alert, at time.Time) string {
	lines := []string{escapeTrunc(title, summaryCap)}
	for i, a := range alerts {
		if i == fallbackLines {
			lines = append(lines, fmt.Sprintf("…and %d more", len(alerts)-i))
			break
		}
		s := string(a.Annotations["summary"])
		if s == "" {
			s = string(a.Labels[model.AlertNameLabel])
		}
		mark := "•"
		if notify.Resolved(a, at) {
			mark = "• resolved:"
		}
		lines = append(lines, mark+" "+escapeTrunc(s, 150))
	}
	return truncateJoin(lines, "\n", maxFallback)
}

func commonLabels(alerts []*notify.Alert) model.LabelSet {
	if len(alerts) == 0 {
		return model.LabelSet{}
	}
	common := alerts[0].Labels.Clone()
	for _, a := range alerts[1:] {
		for n, v := range common {
			if a.Labels[n] != v {
				delete(common, n)
			}
		}
	}
	return common
}

func sortedNames(ls model.LabelSet) []model.LabelName {
	names := make([]model.LabelName, 0, len(ls))
	for n := range ls {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// escape makes text safe for mrkdwn: &, < and > are control characters.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// escapeTrunc escapes s and cuts it to at most n bytes, at a character
// boundary and never inside an entity, marking the cut with "…".
func escapeTrunc(s string, n int) string {
	if e := escape(s); len(e) <= n {
		return e
	}
	var b strings.Builder
	for _, r := range s {
		piece := escape(string(r))
		if b.Len()+len(piece) > n-len("…") {
			break
		}
		b.WriteString(piece)
	}
	return b.String() + "…"
}

// truncate cuts text to at most n bytes at a character boundary, and
// before an entity (&amp;) that the cut would split.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	if amp := strings.LastIndexByte(s[max(cut-len("&amp;"), 0):cut], '&'); amp >= 0 {
		if start := max(cut-len("&amp;"), 0) + amp; !strings.Contains(s[start:cut], ";") {
			cut = start
		}
	}
	return s[:cut] + "…"
}

// truncateJoin joins whole parts while they fit in n bytes; parts are
// already escaped, so none is cut. The first part is cut if it alone is too
// long.
func truncateJoin(parts []string, sep string, n int) string {
	var b strings.Builder
	for i, p := range parts {
		add := len(p)
		if i > 0 {
			add += len(sep)
		}
		if b.Len()+add > n {
			if i == 0 {
				return truncate(p, n)
			}
			break
		}
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(p)
	}
	return b.String()
}
