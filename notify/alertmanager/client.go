package alertmanager

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-openapi/runtime"
	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/client/alert"
	"github.com/prometheus/alertmanager/api/v2/models"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/internal/httpurl"
	"github.com/vllm-sentinel/vllm-sentinel/notify"
)

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

// parseEndpoint checks raw and folds any user:password in it into hc (which
// must be valid) as basic auth. Errors never quote raw, which may hold a
// password.
func parseEndpoint(raw string, hc commoncfg.HTTPClientConfig) (endpoint, error) {
	u, err := httpurl.Parse(raw)
	if err != nil {
		return endpoint{}, fmt.Errorf("invalid URL: %w", err)
	}
	if !utf8.ValidString(u.Host) {
		// A %-escape made it so; the URL is a metric label.
		return endpoint{}, errors.New("invalid URL: host is not valid UTF-8")
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
	if err := httpurl.Check(u, display); err != nil {
		return endpoint{}, err
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
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

// endpoints checks urls and hc and makes the endpoint and the client of
// each URL. It is the one check of these settings that New and
// DecodeConfig share, so that an entry that passes `check` is one that the
// daemon starts with. Each problem is a *notify.FieldError at urls,
// urls[i] or http_config; none quotes a URL, which may hold a password.
func endpoints(urls []string, hc commoncfg.HTTPClientConfig, now func() time.Time) ([]endpoint, []*client, []error) {
	if len(urls) == 0 {
		return nil, nil, []error{notify.FieldErrorf([]any{"urls"}, "no URLs")}
	}
	hc, err := notify.ValidHTTPConfig(hc)
	if err != nil {
		return nil, nil, []error{err}
	}
	var (
		eps     []endpoint
		clients []*client
		errs    []error
	)
	seen := make(map[string]bool, len(urls))
	for i, raw := range urls {
		path := []any{"urls", i}
		ep, err := parseEndpoint(raw, hc)
		switch {
		case err != nil:
			errs = append(errs, &notify.FieldError{Path: path, Err: err})
			continue
		case seen[ep.display]:
			errs = append(errs, notify.FieldErrorf(path, "duplicate URL %s", ep.display))
			continue
		}
		seen[ep.display] = true
		c, err := newClient(ep, now)
		if err != nil {
			// A *notify.FieldError at http_config, which the URL's
			// credentials have joined.
			errs = append(errs, err)
			continue
		}
		eps, clients = append(eps, ep), append(clients, c)
	}
	return eps, clients, errs
}

// client posts to one Alertmanager.
type client struct {
	api    alert.ClientService
	http   *http.Client
	reader runtime.ClientResponseReader
}

func newClient(ep endpoint, now func() time.Time) (*client, error) {
	hc, err := notify.NewHTTPClient(ep.http, "vllm-sentinel")
	if err != nil {
		return nil, err
	}
	hc.Transport = mediaTypeGuard{hc.Transport}
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

// mediaTypeGuard replaces a Content-Type that does not parse with
// application/octet-stream. The API client refuses such an answer before
// the reader below sees it, with an error that has no status code: a 400
// behind a broken proxy would be retried for ever, and its body never read.
type mediaTypeGuard struct {
	next http.RoundTripper
}

func (g mediaTypeGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := g.next.RoundTrip(req)
	if err != nil || resp == nil {
		return resp, err
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		if _, _, perr := mime.ParseMediaType(ct); perr != nil {
			resp.Header.Set("Content-Type", "application/octet-stream")
		}
	}
	return resp, nil
}

// CloseIdleConnections lets http.Client.CloseIdleConnections through.
func (g mediaTypeGuard) CloseIdleConnections() {
	if c, ok := g.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func (c *client) withReader(op *runtime.ClientOperation) { op.Reader = c.reader }

// responseReader replaces the generated one, which knows only 200, 400 and
// 500, keeps no body for other codes and leaves the body undrained.
type responseReader struct {
	now func() time.Time
}

func (r responseReader) ReadResponse(resp runtime.ClientResponse, _ runtime.Consumer) (any, error) {
	head := notify.Drain(resp.Body())
	code := resp.Code()
	if code >= 200 && code < 300 {
		return alert.NewPostAlertsOK(), nil
	}
	return nil, &notify.StatusError{
		Code:       code,
		Reason:     reason(code, head),
		RetryAfter: notify.ParseRetryAfter(resp.GetHeader("Retry-After"), r.now()),
	}
}

// reason makes a one-line message of an error body. Alertmanager answers
// with a JSON string, which is unquoted; a proxy's page is taken as it is.
func reason(code int, body []byte) string {
	var s string
	if err := json.Unmarshal(body, &s); err != nil {
		s = string(body)
	}
	return notify.BodyReason(code, notify.ReasonHead([]byte(s)))
}

func labelSet(ls model.LabelSet) models.LabelSet {
	out := make(models.LabelSet, len(ls))
	for k, v := range ls {
		out[string(k)] = string(v)
	}
	return out
}
