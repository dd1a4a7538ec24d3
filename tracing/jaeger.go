// Package tracing finds the slow requests behind an alert in a tracing
// backend: vLLM's llm_request spans, one per request, whose gen_ai.latency.*
// attributes break a request's time into queue, prefill and decode.
package tracing

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// SpanName is the name of vLLM's per-request span.
const SpanName = "llm_request"

// The span's attributes, as vLLM's SpanAttributes names them. vllm-sim
// (sim/simtrace) writes the same names.
const (
	AttrTTFT             = "gen_ai.latency.time_to_first_token"
	AttrQueue            = "gen_ai.latency.time_in_queue"
	AttrPrefill          = "gen_ai.latency.time_in_model_prefill"
	AttrDecode           = "gen_ai.latency.time_in_model_decode"
	AttrInference        = "gen_ai.latency.time_in_model_inference"
	AttrE2E              = "gen_ai.latency.e2e"
	AttrPromptTokens     = "gen_ai.usage.prompt_tokens"
	AttrCompletionTokens = "gen_ai.usage.completion_tokens"
	AttrRequestID        = "gen_ai.request.id"
	AttrResponseModel    = "gen_ai.response.model"
)

// Trace is one slow request: its phases in seconds and a link to it.
type Trace struct {
	TraceID string    `json:"trace_id"`
	Start   time.Time `json:"start"`
	TTFT    float64   `json:"ttft"`
	Queue   float64   `json:"queue"`
	Prefill float64   `json:"prefill"`
	Decode  float64   `json:"decode"`
	URL     string    `json:"url,omitempty"`
}

// Query asks for requests of one model that started between Start and End
// and whose TTFT exceeded MinTTFT seconds, the slowest first.
type Query struct {
	// Model is the gen_ai.response.model to match; empty matches any.
	Model      string
	Start, End time.Time
	MinTTFT    float64
	Limit      int
}

// Jaeger reads spans from Jaeger's query API (/api/traces), which Jaeger v1
// and v2 both serve.
type Jaeger struct {
	base    *url.URL
	uiBase  string
	service string
	client  *http.Client
}

// NewJaeger returns a client of the query service at baseURL for service's
// spans. Links point at uiURL (baseURL when empty), the address people open.
func NewJaeger(baseURL, uiURL, service string, client *http.Client) (*Jaeger, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("jaeger url %q: want an http:// or https:// URL", baseURL)
	}
	if uiURL == "" {
		uiURL = baseURL
	}
	if client == nil {
		// Lookups are rare (an alert firing), so connections are not kept.
		client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true, Proxy: http.ProxyFromEnvironment}}
	}
	return &Jaeger{base: u, uiBase: strings.TrimSuffix(uiURL, "/"), service: service, client: client}, nil
}

// Link is the UI's address of a trace.
func (j *Jaeger) Link(traceID string) string { return j.uiBase + "/trace/" + traceID }

// scanFactor is how many candidates are asked for per trace wanted: the
// span-duration pre-filter keeps requests that were slow end to end but not
// before their first token, and those are dropped here.
const scanFactor = 20

// SlowRequests returns up to q.Limit requests whose TTFT exceeded q.MinTTFT,
// slowest first. The span lasts at least as long as its TTFT, so the span's
// duration pre-filters in Jaeger (minDuration) and the attribute decides.
func (j *Jaeger) SlowRequests(ctx context.Context, q Query) ([]Trace, error) {
	v := url.Values{}
	v.Set("service", j.service)
	v.Set("operation", SpanName)
	v.Set("start", strconv.FormatInt(q.Start.UnixMicro(), 10))
	v.Set("end", strconv.FormatInt(q.End.UnixMicro(), 10))
	v.Set("limit", strconv.Itoa(max(1, q.Limit)*scanFactor))
	if q.MinTTFT > 0 {
		v.Set("minDuration", time.Duration(q.MinTTFT*float64(time.Second)).String())
	}
	if q.Model != "" {
		tags, _ := json.Marshal(map[string]string{AttrResponseModel: q.Model})
		v.Set("tags", string(tags))
	}
	u := j.base.JoinPath("api", "traces")
	u.RawQuery = v.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("jaeger: %w", err)
	}
	resp, err := j.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("jaeger: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("jaeger %s: reading the answer: %w", u.Redacted(), err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jaeger %s: %s: %s", u.Redacted(), resp.Status, strings.TrimSpace(string(body[:min(len(body), 200)])))
	}
	var ans tracesAnswer
	if err := json.Unmarshal(body, &ans); err != nil {
		return nil, fmt.Errorf("jaeger %s: not a traces answer: %w", u.Redacted(), err)
	}
	return j.pick(ans, q), nil
}

// tracesAnswer is the part of /api/traces's JSON read here.
type tracesAnswer struct {
	Data []struct {
		TraceID string `json:"traceID"`
		Spans   []struct {
			OperationName string `json:"operationName"`
			StartTime     int64  `json:"startTime"` // microseconds
			Tags          []struct {
				Key   string          `json:"key"`
				Value json.RawMessage `json:"value"`
			} `json:"tags"`
		} `json:"spans"`
	} `json:"data"`
}

// pick keeps the llm_request spans of the asked model inside the window
// whose TTFT exceeds the minimum, slowest first.
func (j *Jaeger) pick(ans tracesAnswer, q Query) []Trace {
	var out []Trace
	for _, tr := range ans.Data {
		for _, sp := range tr.Spans {
			if sp.OperationName != SpanName {
				continue
			}
			start := time.UnixMicro(sp.StartTime).UTC()
			if start.Before(q.Start) || start.After(q.End) {
				continue
			}
			t := Trace{TraceID: tr.TraceID, Start: start, URL: j.Link(tr.TraceID)}
			model, hasTTFT := "", false
			for _, tag := range sp.Tags {
				switch tag.Key {
				case AttrResponseModel:
					_ = json.Unmarshal(tag.Value, &model)
				case AttrTTFT:
					t.TTFT, hasTTFT = number(tag.Value)
				case AttrQueue:
					t.Queue, _ = number(tag.Value)
				case AttrPrefill:
					t.Prefill, _ = number(tag.Value)
				case AttrDecode:
					t.Decode, _ = number(tag.Value)
				}
			}
			if !hasTTFT || t.TTFT <= q.MinTTFT || (q.Model != "" && model != q.Model) {
				continue
			}
			out = append(out, t)
			break
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].TTFT > out[b].TTFT })
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out
}

// number reads a tag value: Jaeger writes float64 attributes as JSON
// numbers, and some exporters send numbers as strings.
func number(raw json.RawMessage) (float64, bool) {
	var f float64
	if err := json.Unmarshal(raw, &f); err == nil {
		return f, true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f, true
		}
	}
	return 0, false
}
