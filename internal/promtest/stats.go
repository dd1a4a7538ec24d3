package promtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// QueryStats runs a query against a Prometheus API path (/api/v1/query or
// /api/v1/query_range) with stats=all, and returns its result, the samples
// Prometheus read for it (totalQueryableSamples) and the bytes of the
// answer: what benchmarks of query cost report.
func QueryStats(ctx context.Context, base, path string, form url.Values) (result json.RawMessage, samples, bytes int64, err error) {
	form.Set("stats", "all")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, 0, 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, 0, 0, err
	}
	defer resp.Body.Close()
	cr := &countingReader{r: resp.Body}
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result json.RawMessage `json:"result"`
			Stats  struct {
				Samples struct {
					TotalQueryableSamples int64 `json:"totalQueryableSamples"`
				} `json:"samples"`
			} `json:"stats"`
		} `json:"data"`
	}
	if err := json.NewDecoder(cr).Decode(&body); err != nil {
		return nil, 0, cr.n, fmt.Errorf("query %q: %w", form.Get("query"), err)
	}
	if body.Status != "success" {
		return nil, 0, cr.n, fmt.Errorf("query %q: %s", form.Get("query"), body.Error)
	}
	return body.Data.Result, body.Data.Stats.Samples.TotalQueryableSamples, cr.n, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
