package notify

import (
	"strings"

	"github.com/prometheus/common/model"
)

// The annotations in which the sentinel says why an alert fires. Receivers
// that show more than text (Slack's sections, the webhook's fields) read
// them back through Explain.
const (
	AnnotationCause            = "cause"
	AnnotationCauseDetail      = "cause_detail"
	AnnotationExampleTraces    = "example_traces"
	AnnotationExampleTraceURLs = "example_trace_urls"
	AnnotationTraces           = "traces"
)

// Explanation is why an alert fires and the slow requests behind it.
type Explanation struct {
	Cause  string `json:"cause"`
	Detail string `json:"detail,omitempty"`
	// Traces are the example requests; TracesUnavailable says the tracing
	// backend did not answer when the alert went out.
	Traces            []TraceLink `json:"traces,omitempty"`
	TracesUnavailable bool        `json:"traces_unavailable,omitempty"`
}

// TraceLink is one example request.
type TraceLink struct {
	TraceID string `json:"trace_id"`
	URL     string `json:"url,omitempty"`
}

// Explain reads an alert's explanation from its annotations; nil when it
// has none (the sentinel's own alerts, a resolve from an older version).
func Explain(ann model.LabelSet) *Explanation {
	cause := string(ann[AnnotationCause])
	ids := strings.Fields(string(ann[AnnotationExampleTraces]))
	unavailable := ann[AnnotationTraces] == "unavailable"
	if cause == "" && len(ids) == 0 && !unavailable {
		return nil
	}
	e := &Explanation{Cause: cause, Detail: string(ann[AnnotationCauseDetail]), TracesUnavailable: unavailable}
	urls := map[string]string{}
	for _, u := range strings.Fields(string(ann[AnnotationExampleTraceURLs])) {
		if i := strings.LastIndexByte(u, '/'); i >= 0 {
			urls[u[i+1:]] = u
		}
	}
	for _, id := range ids {
		e.Traces = append(e.Traces, TraceLink{TraceID: id, URL: urls[id]})
	}
	return e
}
