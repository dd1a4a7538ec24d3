package notify

import (
	"fmt"
	"regexp"

	"github.com/prometheus/common/model"
)

// Sender queues alerts for one notifier without blocking.
type Sender interface {
	Send(alerts ...*Alert)
}

// Route sends alerts whose labels match to the named notifiers. The
// config loader compiles MatchRE, anchored as Alertmanager anchors it.
type Route struct {
	Match     map[string]string
	MatchRE   map[string]*regexp.Regexp
	Notifiers []string
	Continue  bool
}

// Matches reports whether every matcher of the route holds for ls.
func (r Route) Matches(ls model.LabelSet) bool {
	for k, v := range r.Match {
		if string(ls[model.LabelName(k)]) != v {
			return false
		}
	}
	for k, re := range r.MatchRE {
		if !re.MatchString(string(ls[model.LabelName(k)])) {
			return false
		}
	}
	return true
}

// Router dispatches each alert by the first route that matches (and later
// ones while Continue is set). Without routes every alert goes to every
// notifier.
type Router struct {
	routes  []Route
	senders map[string]Sender
	order   []string
}

// NewRouter checks that every route names a known notifier. order lists the
// notifiers in config order, for the no-routes case.
func NewRouter(routes []Route, senders map[string]Sender, order []string) (*Router, error) {
	for i, r := range routes {
		for _, n := range r.Notifiers {
			if _, ok := senders[n]; !ok {
				return nil, fmt.Errorf("route %d: unknown notifier %q", i, n)
			}
		}
	}
	return &Router{routes: routes, senders: senders, order: order}, nil
}

// Send implements Sender: each notifier gets its alerts in one call.
func (r *Router) Send(alerts ...*Alert) {
	per := map[string][]*Alert{}
	for _, a := range alerts {
		for _, n := range r.Targets(a.Labels) {
			per[n] = append(per[n], a)
		}
	}
	for _, n := range r.order {
		if as := per[n]; len(as) > 0 {
			r.senders[n].Send(as...)
		}
	}
}

// Targets lists the notifiers an alert with labels ls goes to.
func (r *Router) Targets(ls model.LabelSet) []string {
	if len(r.routes) == 0 {
		return r.order
	}
	seen := map[string]bool{}
	var out []string
	for _, rt := range r.routes {
		if !rt.Matches(ls) {
			continue
		}
		for _, n := range rt.Notifiers {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
		if !rt.Continue {
			break
		}
	}
	return out
}
