package sim

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testStart is a Monday 00:00 UTC, so diurnal effects are easy to reason about.
var testStart = time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC)

// om is a parsed OpenMetrics backfill, read with a small parser that also
// checks the structure promtool relies on.
type om struct {
	types  map[string]string // family name -> type
	series map[string]*omSeries
	order  []string // series keys in file order
}

type omSeries struct {
	family string
	name   string
	labels map[string]string
	ts     []int64 // milliseconds
	vals   []float64
}

func (s *omSeries) at(ms int64) (float64, bool) {
	i := sort.Search(len(s.ts), func(i int) bool { return s.ts[i] >= ms })
	if i < len(s.ts) && s.ts[i] == ms {
		return s.vals[i], true
	}
	return 0, false
}

// atOrBefore returns the last value at or before ms, as PromQL's lookback would.
func (s *omSeries) atOrBefore(ms int64) float64 {
	i := sort.Search(len(s.ts), func(i int) bool { return s.ts[i] > ms })
	if i == 0 {
		return 0
	}
	return s.vals[i-1]
}

func backfill(t testing.TB, cfg Config, start time.Time, dur time.Duration) ([]byte, Stats) {
	t.Helper()
	var buf bytes.Buffer
	stats, err := WriteOpenMetrics(context.Background(), &buf, cfg, start, start.Add(dur))
	if err != nil {
		t.Fatalf("WriteOpenMetrics(%+v): %v", cfg, err)
	}
	if int64(buf.Len()) != stats.Bytes {
		t.Fatalf("Stats.Bytes = %d, wrote %d", stats.Bytes, buf.Len())
	}
	return buf.Bytes(), stats
}

// parseOM parses and checks: families declared once and not interleaved,
// every sample of a declared family, series contiguous and in time order,
// the file ending in "# EOF\n".
func parseOM(t testing.TB, data []byte) *om {
	t.Helper()
	if !bytes.HasSuffix(data, []byte("\n# EOF\n")) {
		t.Fatalf("output does not end with # EOF")
	}
	o := &om{types: map[string]string{}, series: map[string]*omSeries{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	family, lastKey := "", ""
	done := map[string]bool{}
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "# EOF":
			continue
		case strings.HasPrefix(line, "# HELP "):
			continue
		case strings.HasPrefix(line, "# TYPE "):
			f := strings.Fields(line)
			if len(f) != 4 {
				t.Fatalf("bad TYPE line %q", line)
			}
			if _, dup := o.types[f[2]]; dup {
				t.Fatalf("family %s declared twice", f[2])
			}
			o.types[f[2]], family = f[3], f[2]
			continue
		case strings.HasPrefix(line, "#"):
			t.Fatalf("unexpected comment %q", line)
		}
		brace := strings.IndexByte(line, '{')
		end := strings.IndexByte(line, '}')
		if brace < 0 || end < brace {
			t.Fatalf("sample without labels: %q", line)
		}
		name := line[:brace]
		if !strings.HasPrefix(name, family) {
			t.Fatalf("sample %s outside its family %s", name, family)
		}
		labels := map[string]string{}
		for _, kv := range strings.Split(line[brace+1:end], ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
				t.Fatalf("bad label %q in %q", kv, line)
			}
			labels[k] = v[1 : len(v)-1]
		}
		rest := strings.Fields(line[end+1:])
		if len(rest) != 2 {
			t.Fatalf("want value and timestamp in %q", line)
		}
		v, err := strconv.ParseFloat(rest[0], 64)
		if err != nil {
			t.Fatalf("value in %q: %v", line, err)
		}
		tsec, err := strconv.ParseFloat(rest[1], 64)
		if err != nil {
			t.Fatalf("timestamp in %q: %v", line, err)
		}
		key := line[:end+1]
		s := o.series[key]
		if s == nil {
			if done[key] {
				t.Fatalf("series %s is not contiguous", key)
			}
			s = &omSeries{family: family, name: name, labels: labels}
			o.series[key] = s
			o.order = append(o.order, key)
		} else if key != lastKey {
			t.Fatalf("series %s is not contiguous", key)
		}
		if lastKey != "" && lastKey != key {
			done[lastKey] = true
		}
		lastKey = key
		ms := int64(math.Round(tsec * 1000))
		if n := len(s.ts); n > 0 && s.ts[n-1] >= ms {
			t.Fatalf("series %s: timestamp %d after %d", key, ms, s.ts[n-1])
		}
		s.ts = append(s.ts, ms)
		s.vals = append(s.vals, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return o
}

// get returns the one series with the name and labels.
func (o *om) get(t testing.TB, name string, labels ...string) *omSeries {
	t.Helper()
	var found *omSeries
	for _, key := range o.order {
		s := o.series[key]
		if s.name != name || !matches(s.labels, labels) {
			continue
		}
		if found != nil {
			t.Fatalf("more than one series %s%v", name, labels)
		}
		found = s
	}
	if found == nil {
		t.Fatalf("no series %s%v", name, labels)
	}
	return found
}

func (o *om) all(name string, labels ...string) []*omSeries {
	var out []*omSeries
	for _, key := range o.order {
		if s := o.series[key]; s.name == name && matches(s.labels, labels) {
			out = append(out, s)
		}
	}
	return out
}

func matches(have map[string]string, want []string) bool {
	for i := 0; i+1 < len(want); i += 2 {
		if have[want[i]] != want[i+1] {
			return false
		}
	}
	return true
}

// increase is a counter's growth over (from, to], ignoring resets.
func increase(s *omSeries, from, to time.Time) float64 {
	return s.atOrBefore(to.UnixMilli()) - s.atOrBefore(from.UnixMilli())
}

// ratioLE is the share of histogram observations at or below le in (from, to].
func (o *om) ratioLE(t testing.TB, family, le string, from, to time.Time, labels ...string) float64 {
	t.Helper()
	good := increase(o.get(t, family+"_bucket", append(slices.Clone(labels), "le", le)...), from, to)
	all := increase(o.get(t, family+"_count", labels...), from, to)
	if all == 0 {
		return math.NaN()
	}
	return good / all
}

// quantile estimates a histogram quantile over (from, to] from the buckets,
// returning the upper bound of the bucket it falls in.
func (o *om) quantileBound(t testing.TB, family string, q float64, from, to time.Time, labels ...string) float64 {
	t.Helper()
	buckets := o.all(family+"_bucket", labels...)
	sort.Slice(buckets, func(i, j int) bool { return leValue(buckets[i]) < leValue(buckets[j]) })
	total := increase(buckets[len(buckets)-1], from, to)
	for _, b := range buckets {
		if increase(b, from, to) >= q*total {
			return leValue(b)
		}
	}
	return math.Inf(1)
}

func leValue(s *omSeries) float64 {
	v, err := strconv.ParseFloat(s.labels["le"], 64)
	if err != nil {
		panic(fmt.Sprintf("le %q: %v", s.labels["le"], err))
	}
	return v
}
