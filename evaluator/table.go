package evaluator

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

func fmtRatio(p *float64) string {
	if p == nil {
		return "-"
	}
	return strconv.FormatFloat(*p, 'f', 5, 64)
}

func fmtBurn(p *float64) string {
	if p == nil {
		return "-"
	}
	return strconv.FormatFloat(*p, 'f', 2, 64)
}

func fmtLabels(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	return GroupString(m)
}

// WriteTable prints the report for a person: the SLOs with budget and
// firing pairs, each SLO's windows, the indicators and the errors.
func (res *Report) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "Evaluation at %s\n\n", res.Time.UTC().Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SLO\tGROUP\tSTATE\tBUDGET LEFT\tEXHAUSTS IN\tFIRING")
	for _, r := range res.SLOs {
		budget := "-"
		if r.BudgetRemaining != nil {
			budget = strconv.FormatFloat(*r.BudgetRemaining*100, 'f', 1, 64) + "%"
		}
		exh := "-"
		if r.Exhaustion != nil {
			exh = r.Exhaustion.String()
		}
		var firing []string
		for _, f := range r.Firing {
			firing = append(firing, fmt.Sprintf("%s/%s %s (burn %.1f/%.1f > %.2f)", f.LongWindow, f.ShortWindow, f.Severity, f.LongBurnRate, f.ShortBurnRate, f.Factor))
		}
		if len(firing) == 0 {
			firing = []string{"-"}
		}
		name := r.SLO
		if r.Approximate {
			name += " (approx.)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", name, fmtLabels(r.Labels), r.State, budget, exh, strings.Join(firing, "; "))
	}
	tw.Flush()
	for _, r := range res.SLOs {
		metric := ""
		if r.Metric != "" {
			metric = ", " + r.Metric
		}
		fmt.Fprintf(w, "\n%s %s (objective %g%%%s)\n", r.SLO, fmtLabels(r.Labels), r.Objective, metric)
		if r.Note != "" {
			fmt.Fprintf(w, "  note: %s\n", r.Note)
		}
		if r.Warning != "" {
			fmt.Fprintf(w, "  warning: %s\n", r.Warning)
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "  window\terror ratio\tburn rate\tevents\t")
		for _, win := range append(r.Windows, r.Budget) {
			if win.Warming {
				fmt.Fprintf(tw, "  %s\twarming\twarming\twarming\t\n", win.Window)
				continue
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%.0f\t\n", win.Window, fmtRatio(win.ErrorRatio), fmtBurn(win.BurnRate), win.Events)
		}
		tw.Flush()
		writeExplanation(w, "  ", r.Diagnosis, r.TraceLookup)
	}
	if len(res.Indicators) > 0 {
		fmt.Fprintln(w, "\nLeading indicators")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "INDICATOR\tGROUP\tVALUE\tTHRESHOLD\tSTATE")
		for _, in := range res.Indicators {
			fmt.Fprintf(tw, "%s\t%s\t%.4g\t%.4g\t%s\n", in.Indicator, fmtLabels(in.Group()), float64(in.Value), float64(in.Threshold), in.State)
		}
		tw.Flush()
		for _, in := range res.Indicators {
			if in.Diagnosis != nil || len(in.Traces) > 0 || in.TracesUnavailable {
				fmt.Fprintf(w, "\n%s %s\n", in.Indicator, fmtLabels(in.Group()))
				writeExplanation(w, "  ", in.Diagnosis, in.TraceLookup)
			}
		}
	}
	for _, e := range res.Errors {
		fmt.Fprintf(w, "\nERROR %s: %s\n", e.Subject(), e.Error)
	}
}

// writeExplanation prints why an alert fires and its example requests.
func writeExplanation(w io.Writer, indent string, d *Diagnosis, tl TraceLookup) {
	if d != nil {
		fmt.Fprintf(w, "%scause: %s (last %s vs the %s before)\n%s  %s\n", indent, d.Cause, d.Window, d.Window, indent, d.Evidence)
	}
	if tl.TracesUnavailable {
		fmt.Fprintf(w, "%straces: unavailable (%s)\n", indent, tl.TracesError)
	}
	for _, t := range tl.Traces {
		fmt.Fprintf(w, "%strace %s  ttft %.2fs (queue %.2fs, prefill %.2fs), decode %.2fs  %s\n", indent, t.TraceID, t.TTFT, t.Queue, t.Prefill, t.Decode, t.URL)
	}
}
