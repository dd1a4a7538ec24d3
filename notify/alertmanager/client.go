package alertmanager

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-openapi/runtime"
	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/client/alert"
	"github.com/prometheus/alertmanager/api/v2/models"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
)

const (
	// maxReasonBytes keeps an error body (a proxy's HTML page, say) from
	// flooding logs; Alertmanager's own reasons are one line.
	maxReasonBytes = 512
	// maxDrainBytes is read past the reason so the connection can be
	// reused; a larger body costs a new connection, not a stall.
	maxDrainBytes = 64 << 10
)

// StatusError is a non-2xx answer from Alertmanager or a proxy in front of
// it.
type StatusError struct {
	Code int
	// Reason is the start of the response body (Alertmanager's validation
	// message on a 400), or the status text when the body is empty.
	Reason string
	// RetryAfter is the server's Retry-After, zero when absent.
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("HTTP %d: %s", e.Code, e.Reason)
}

// Retryable reports whether the same request may succeed later: a server
// error, a rate limit or a request timeout. Any other 4xx is a refusal
// (invalid alerts, bad credentials, wrong path) that resending cannot fix.
func (e *StatusError) Retryable() bool {
	return e.Code >= 500 || e.Code == http.StatusTooManyRequests || e.Code == http.StatusRequestTimeout
}

// retryable classifies a POST error. Everything without a status is a
// transport failure (refused connection, timeout, reset), worth retrying.
func retryable(err error) bool {
	if se, ok := errors.AsType[*StatusError](err); ok {
		return se.Retryable()
	}
	return true
}

// endpoint is one parsed Alertmanager URL.
type endpoint struct {
	// display is the URL without credentials or trailing slash: the only
	// form that goes into logs, errors and metric labels.
	display  string
	scheme   string
	host     string
	basePath string // escaped path prefix + /api/v2
	http     commoncfg.HTTPClientConfig
}

// validHTTPConfig returns a validated copy of hc. Validate normalises in
// place (bearer_token becomes authorization, an empty authorization type
// becomes Bearer), so the pointed-to parts it writes are copied first and the
// caller's config is left alone.
func validHTTPConfig(hc commoncfg.HTTPClientConfig) (commoncfg.HTTPClientConfig, error) {
	if hc.BasicAuth != nil {
		ba := *hc.BasicAuth
		hc.BasicAuth = &ba
	}
	if hc.Authorization != nil {
		az := *hc.Authorization
		hc.Authorization = &az
	}
	if err := hc.Validate(); err != nil {
		return hc, fmt.Errorf("http_config: %w", err)
	}
	return hc, nil
}

// parseEndpoint checks raw and folds any user:password in it into hc (which
// must be valid) as basic auth. Errors never quote raw, which may hold a
// password.
func parseEndpoint(raw string, hc commoncfg.HTTPClientConfig) (endpoint, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the whole URL; keep only the cause.
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return endpoint{}, fmt.Errorf("invalid URL: %w", err)
	}
	user := u.User
	u.User = nil
	prefix := strings.TrimRight(u.EscapedPath(), "/")
	display := u.Scheme + "://" + u.Host + prefix
	if user != nil {
		// Validate has turned bearer_token into authorization already.
		if hc.BasicAuth != nil || hc.Authorization != nil || hc.OAuth2 != nil {
			return endpoint{}, fmt.Errorf("URL %s: credentials both in the URL and in http_config", display)
		}
		pw, _ := user.Password()
		hc.BasicAuth = &commoncfg.BasicAuth{Username: user.Username(), Password: commoncfg.Secret(pw)}
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return endpoint{}, fmt.Errorf("URL %s: scheme must be http or https", display)
	case u.Host == "":
		return endpoint{}, fmt.Errorf("URL %s: no host", display)
	case u.Opaque != "":
		return endpoint{}, fmt.Errorf("URL %s: not a hierarchical URL", display)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		// The API client would silently drop them.
		return endpoint{}, fmt.Errorf("URL %s: query and fragment are not supported", display)
	}
	return endpoint{
		display:  display,
		scheme:   u.Scheme,
		host:     u.Host,
		basePath: prefix + "/api/v2",
		http:     hc,
	}, nil
}

// client posts to one Alertmanager.
type client struct {
	api    alert.ClientService
	http   *http.Client
	reader runtime.ClientResponseReader
}

func newClient(ep endpoint, now func() time.Time) (*client, error) {
	hc, err := commoncfg.NewClientFromConfig(ep.http, "vllm-sentinel", commoncfg.WithUserAgent("vllm-sentinel"))
	if err != nil {
		return nil, fmt.Errorf("http client: %w", err)
	}
	rt := httptransport.NewWithClient(ep.host, ep.basePath, []string{ep.scheme}, hc)
	// The runtime turns Debug on from $DEBUG and would then dump requests,
	// Authorization header included, to stderr.
	rt.Debug = false
	// The reader below handles any body; without a catch-all consumer an
	// unusual Content-Type on an error page would hide its status code.
	rt.Consumers["*/*"] = runtime.ByteStreamConsumer()
	return &client{
		api:    alert.New(rt, strfmt.Default),
		http:   hc,
		reader: responseReader{now: now},
	}, nil
}

func (c *client) withReader(op *runtime.ClientOperation) { op.Reader = c.reader }

// responseReader replaces the generated one, which knows only 200, 400 and
// 500, keeps no body for other codes and leaves the body undrained.
type responseReader struct {
	now func() time.Time
}

func (r responseReader) ReadResponse(resp runtime.ClientResponse, _ runtime.Consumer) (any, error) {
	body := resp.Body()
	head, _ := io.ReadAll(io.LimitReader(body, maxReasonBytes))
	_, _ = io.Copy(io.Discard, io.LimitReader(body, maxDrainBytes))
	code := resp.Code()
	if code >= 200 && code < 300 {
		return alert.NewPostAlertsOK(), nil
	}
	return nil, &StatusError{
		Code:       code,
		Reason:     reason(code, head),
		RetryAfter: parseRetryAfter(resp.GetHeader("Retry-After"), r.now()),
	}
}

// reason makes a one-line message of an error body. Alertmanager answers
// with a JSON string, which is unquoted.
func reason(code int, body []byte) string {
	var s string
	if err := json.Unmarshal(body, &s); err != nil {
		s = string(body)
	}
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		s = http.StatusText(code)
	}
	return s
}

// parseRetryAfter reads delay-seconds or an HTTP date (RFC 9110 10.2.3).
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
		return max(time.Duration(secs)*time.Second, 0)
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

func labelSet(ls model.LabelSet) models.LabelSet {
	out := make(models.LabelSet, len(ls))
	for k, v := range ls {
		out[string(k)] = string(v)
	}
	return out
}
