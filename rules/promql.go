package rules

import (
	"fmt"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// PromQL parses and builds queries. It wraps one parser instance because
// recent Prometheus versions no longer offer package-level parse functions.
type PromQL struct {
	p parser.Parser
}

// NewPromQL returns a PromQL with Prometheus's default parser options.
func NewPromQL() *PromQL {
	return &PromQL{p: parser.NewParser(parser.Options{})}
}

// ParseExpr parses a PromQL expression; the error names the query.
func (q *PromQL) ParseExpr(s string) (parser.Expr, error) {
	e, err := q.p.ParseExpr(s)
	if err != nil {
		return nil, fmt.Errorf("PromQL %q: %w", s, err)
	}
	return e, nil
}

// ParseSelector parses a selector such as '{job="vllm"}'; an empty string is
// no matchers at all.
func (q *PromQL) ParseSelector(s string) ([]*labels.Matcher, error) {
	if s == "" {
		return nil, nil
	}
	ms, err := q.p.ParseMetricSelector(s)
	if err != nil {
		return nil, fmt.Errorf("selector %q: %w", s, err)
	}
	return ms, nil
}
