package alertmanager

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

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
	return notify.BodyReason(code, s)
}

func labelSet(ls model.LabelSet) models.LabelSet {
	out := make(models.LabelSet, len(ls))
	for k, v := range ls {
		out[string(k)] = string(v)
	}
	return out
}
