package notify

import (
	"reflect"
	"regexp"
	"testing"

	"github.com/prometheus/common/model"
)

type rec struct{ got []*Alert }

func (r *rec) Send(a ...*Alert) { r.got = append(r.got, a...) }

func TestRouterFirstMatchWinsAndContinue(t *testing.T) {
	crit := Route{Match: map[string]string{"severity": "critical"}, Notifiers: []string{"am", "oncall"}}
	team := Route{MatchRE: map[string]*regexp.Regexp{"model_name": regexp.MustCompile(`^(?:llama-.*)$`)}, Notifiers: []string{"hooks"}, Continue: true}
	all := Route{Notifiers: []string{"am"}}
	senders := map[string]Sender{"am": &rec{}, "oncall": &rec{}, "hooks": &rec{}}
	r, err := NewRouter([]Route{crit, team, all}, senders, []string{"am", "oncall", "hooks"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ls   model.LabelSet
		want []string
	}{
		{model.LabelSet{"severity": "critical", "model_name": "llama-3"}, []string{"am", "oncall"}},
		{model.LabelSet{"severity": "warning", "model_name": "llama-3"}, []string{"hooks", "am"}},
		{model.LabelSet{"severity": "warning", "model_name": "xllama-3"}, []string{"am"}},
	} {
		if got := r.Targets(tc.ls); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%v: %v, want %v", tc.ls, got, tc.want)
		}
	}
	r.Send(&Alert{Labels: model.LabelSet{"severity": "critical"}}, &Alert{Labels: model.LabelSet{"severity": "info"}})
	if n := len(senders["am"].(*rec).got); n != 2 {
		t.Errorf("am got %d", n)
	}
	if n := len(senders["oncall"].(*rec).got); n != 1 {
		t.Errorf("oncall got %d", n)
	}
	if _, err := NewRouter([]Route{{Notifiers: []string{"nope"}}}, senders, nil); err == nil {
		t.Error("unknown notifier accepted")
	}
	none, _ := NewRouter(nil, senders, []string{"am", "oncall", "hooks"})
	if got := none.Targets(model.LabelSet{}); len(got) != 3 {
		t.Errorf("no routes: %v", got)
	}
}
