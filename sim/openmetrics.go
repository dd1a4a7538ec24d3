package sim

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"time"
)

// Stats describes a written OpenMetrics file.
type Stats struct {
	Samples int64 // sample lines
	Series  int64 // distinct series
	Bytes   int64 // bytes written
	Scrapes int   // timestamps per series (fewer where the process was down)
}

// WriteOpenMetrics simulates cfg from start to end and writes what a
// Prometheus scraping every cfg.ScrapeInterval would have stored, as
// OpenMetrics text with timestamps (seconds), ending in "# EOF". The output
// loads with `promtool tsdb create-blocks-from openmetrics`.
//
// Samples are grouped by family and then by series, each series in time
// order: promtool accepts this, and it is about twice as fast to load as
// interleaving the series of a family by timestamp. The engines are
// simulated in parallel and kept in memory in compact form (about 0.7 KB per
// engine and scrape) before writing. The same config and times always give
// the same bytes.
func WriteOpenMetrics(ctx context.Context, w io.Writer, cfg Config, start, end time.Time) (Stats, error) {
	return writeOpenMetrics(ctx, w, cfg, start, end, nil)
}

// writeOpenMetrics is WriteOpenMetrics with a hook that sees each engine
// before it runs (tests attach finish callbacks with it).
func writeOpenMetrics(ctx context.Context, w io.Writer, cfg Config, start, end time.Time, hook func(*simEngine)) (Stats, error) {
	cfg, err := cfg.Normalize()
	if err != nil {
		return Stats{}, err
	}
	if !end.After(start) {
		return Stats{}, fmt.Errorf("%w: end %s is not after start %s", ErrInvalidConfig,
			end.Format(time.RFC3339), start.Format(time.RFC3339))
	}
	n := int(end.Sub(start)/cfg.ScrapeInterval) + 1
	engines, err := buildEngines(cfg, start)
	if err != nil {
		return Stats{}, err
	}
	if hook != nil {
		for _, e := range engines {
			hook(e)
		}
	}
	bounds := cfg.bucketsFor()
	lay := newLayout(bounds)
	recs := make([]*recording, len(engines))
	if err := recordAll(ctx, engines, recs, lay, n, int64(cfg.ScrapeInterval)); err != nil {
		return Stats{}, err
	}
	ow := &omWriter{
		bw:    bufio.NewWriterSize(w, 1<<20),
		ts:    timestamps(start, cfg.ScrapeInterval, n),
		buf:   make([]byte, 0, 256),
		acc:   make([]uint64, n),
		stats: Stats{Scrapes: n},
		extra: targetLabels(cfg.TargetLabels),
	}
	if err := ow.write(ctx, cfg, engines, recs, lay, bounds); err != nil {
		return ow.stats, err
	}
	return ow.stats, nil
}

// layout maps snapshot values to columns of a recording.
type layout struct {
	cells      int
	histOffset [numHists]int // first bucket column of each histogram
}

func newLayout(bounds [numHists][]float64) layout {
	l := layout{cells: numGauges + numCounters}
	for h := range bounds {
		l.histOffset[h] = l.cells
		l.cells += len(bounds[h]) + 1
	}
	return l
}

// recording holds one engine's scrapes column by column: gauges as values,
// counters and histogram buckets (not cumulative over le) as increments
// since the previous scrape, sums as increments in integer units.
type recording struct {
	cols    [][]uint32
	sums    [numHists][]int64
	present []bool // false while the process is down
	reset   []bool // counters restart from zero at this scrape
}

func recordAll(ctx context.Context, engines []*simEngine, recs []*recording, lay layout, n int, interval int64) error {
	var wg sync.WaitGroup
	errs := make([]error, len(engines))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i, e := range engines {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			recs[i], errs[i] = record(ctx, e, lay, n, interval)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func record(ctx context.Context, e *simEngine, lay layout, n int, interval int64) (*recording, error) {
	rec := &recording{
		cols:    make([][]uint32, lay.cells),
		present: make([]bool, n),
		reset:   make([]bool, n),
	}
	backing := make([]uint32, lay.cells*n)
	for c := range rec.cols {
		rec.cols[c] = backing[c*n : (c+1)*n : (c+1)*n]
	}
	for h := range rec.sums {
		rec.sums[h] = make([]int64, n)
	}
	var prev, cur snapshot
	e.snapshotInto(&prev) // all zero at the start
	resets := e.resets
	put := func(col []uint32, k int, v uint64, what string) error {
		if v > math.MaxUint32 {
			return fmt.Errorf("engine %s/%s: %s grew by %d in one scrape interval, more than this writer stores; lower the rate or the interval",
				e.model, e.index, what, v)
		}
		col[k] = uint32(v)
		return nil
	}
	for k := range n {
		if k%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("simulating engine %s/%s: %w", e.model, e.index, err)
			}
		}
		t := int64(k) * interval
		e.advanceTo(t)
		if e.down(t) {
			continue
		}
		rec.present[k] = true
		e.snapshotInto(&cur)
		if e.resets != resets {
			resets = e.resets
			rec.reset[k] = true
			prev.counters = [numCounters]uint64{}
			for h := range prev.hists {
				clear(prev.hists[h].counts)
				prev.hists[h].sum = 0
			}
		}
		for g := range numGauges {
			if err := put(rec.cols[g], k, cur.gauges[g], "a gauge"); err != nil {
				return nil, err
			}
		}
		for c := range numCounters {
			if err := put(rec.cols[numGauges+c], k, cur.counters[c]-prev.counters[c], "a counter"); err != nil {
				return nil, err
			}
		}
		for h := range cur.hists {
			off := lay.histOffset[h]
			for b, v := range cur.hists[h].counts {
				if err := put(rec.cols[off+b], k, v-prev.hists[h].counts[b], "a histogram bucket"); err != nil {
					return nil, err
				}
			}
			rec.sums[h][k] = cur.hists[h].sum - prev.hists[h].sum
		}
		prev, cur = cur, prev
	}
	return rec, nil
}

// timestamps renders every scrape time once, in seconds with milliseconds
// only where needed.
func timestamps(start time.Time, interval time.Duration, n int) [][]byte {
	out := make([][]byte, n)
	buf := make([]byte, 0, n*15)
	ms0 := start.UnixMilli()
	step := interval.Milliseconds()
	for k := range n {
		ms := ms0 + int64(k)*step
		from := len(buf)
		if ms < 0 {
			buf = append(buf, '-')
			ms = -ms
		}
		sec, frac := ms/1000, ms%1000
		buf = strconv.AppendInt(buf, sec, 10)
		if frac != 0 {
			buf = append(buf, '.')
			buf = append(buf, byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
		}
		out[k] = buf[from:len(buf):len(buf)]
	}
	return out
}

type omWriter struct {
	bw    *bufio.Writer
	ts    [][]byte
	buf   []byte
	acc   []uint64 // per-scrape increments summed over buckets so far
	stats Stats
	err   error
	// extra renders Config.TargetLabels, sorted, each as `,name="value"`.
	extra []byte
}

// targetLabels renders the labels Prometheus would attach to a scrape.
func targetLabels(m map[string]string) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b []byte
	for _, k := range keys {
		b = append(b, ',')
		b = append(b, k...)
		b = append(b, '=')
		b = strconv.AppendQuote(b, m[k])
	}
	return b
}

func (ow *omWriter) write(ctx context.Context, cfg Config, engines []*simEngine, recs []*recording, lay layout, bounds [numHists][]float64) error {
	noEngine := namingOf(cfg.Flavour).noEngine
	for _, f := range flavourFamilies(cfg.Flavour) {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("writing OpenMetrics: %w", err)
		}
		name := familyName(f.key, cfg.Flavour)
		typ := f.typ.String()
		if f.typ == typeCounter && counterSuffix(cfg.Flavour) == "" {
			// OpenMetrics counters end in _total; a counter stored
			// without it is declared unknown, which promtool stores the
			// same way (TSDB blocks keep no metric types).
			typ = "unknown"
		}
		ow.str("# HELP " + name + " " + f.help + "\n# TYPE " + name + " " + typ + "\n")
		for i, e := range engines {
			rec := recs[i]
			switch f.typ {
			case typeGauge:
				for j, cell := range f.cells {
					prefix := ow.prefix(name, "", e, noEngine, f.label, value(f.values, j), "")
					if f.ratio {
						ow.ratioSeries(prefix, rec, rec.cols[cell], e.spec)
					} else {
						ow.gaugeSeries(prefix, rec, rec.cols[cell])
					}
				}
			case typeCounter:
				for j, cell := range f.cells {
					prefix := ow.prefix(name, counterSuffix(cfg.Flavour), e, noEngine, f.label, value(f.values, j), "")
					clear(ow.acc)
					ow.addColumn(rec.cols[numGauges+cell])
					ow.cumulativeSeries(prefix, rec)
				}
			case typeHistogram:
				clear(ow.acc)
				off := lay.histOffset[f.hist]
				var le []byte
				for b := 0; b <= len(bounds[f.hist]); b++ {
					le = le[:0]
					if b < len(bounds[f.hist]) {
						le = appendLe(le, bounds[f.hist][b], cfg.Flavour)
					} else {
						le = appendLe(le, math.Inf(1), cfg.Flavour)
					}
					ow.addColumn(rec.cols[off+b])
					ow.cumulativeSeries(ow.prefix(name, "_bucket", e, noEngine, "", "", string(le)), rec)
				}
				ow.cumulativeSeries(ow.prefix(name, "_count", e, noEngine, "", "", ""), rec)
				ow.sumSeries(ow.prefix(name, "_sum", e, noEngine, "", "", ""), rec, rec.sums[f.hist], f.hist)
			}
		}
	}
	ow.str("# EOF\n")
	if ow.err == nil {
		ow.err = ow.bw.Flush()
	}
	if ow.err != nil {
		return fmt.Errorf("writing OpenMetrics: %w", ow.err)
	}
	return nil
}

func value(values []string, i int) string {
	if values == nil {
		return ""
	}
	return values[i]
}

// prefix renders `name{model_name="m",engine="0",label="v",le="x"} `,
// without the engine label where the flavour has none.
func (ow *omWriter) prefix(name, suffix string, e *simEngine, noEngine bool, label, val, le string) []byte {
	b := make([]byte, 0, 128)
	b = append(b, name...)
	b = append(b, suffix...)
	b = append(b, `{model_name="`...)
	b = append(b, e.model...)
	if !noEngine {
		b = append(b, `",engine="`...)
		b = append(b, e.index...)
	}
	b = append(b, '"')
	b = append(b, ow.extra...)
	if label != "" {
		b = append(b, ',')
		b = append(b, label...)
		b = append(b, `="`...)
		b = append(b, val...)
		b = append(b, '"')
	}
	if le != "" {
		b = append(b, `,le="`...)
		b = append(b, le...)
		b = append(b, '"')
	}
	return append(b, "} "...)
}

func (ow *omWriter) str(s string) {
	if ow.err != nil {
		return
	}
	n, err := ow.bw.WriteString(s)
	ow.stats.Bytes += int64(n)
	ow.err = err
}

// line writes one sample: prefix, the value already in ow.buf, timestamp.
func (ow *omWriter) line(prefix []byte, k int) {
	if ow.err != nil {
		return
	}
	b := ow.bw.AvailableBuffer()
	b = append(b, prefix...)
	b = append(b, ow.buf...)
	b = append(b, ' ')
	b = append(b, ow.ts[k]...)
	b = append(b, '\n')
	n, err := ow.bw.Write(b)
	ow.stats.Bytes += int64(n)
	ow.stats.Samples++
	ow.err = err
}

func (ow *omWriter) addColumn(col []uint32) {
	for k, v := range col {
		ow.acc[k] += uint64(v)
	}
}

func (ow *omWriter) gaugeSeries(prefix []byte, rec *recording, col []uint32) {
	ow.stats.Series++
	for k, v := range col {
		if rec.present[k] {
			ow.buf = strconv.AppendUint(ow.buf[:0], uint64(v), 10)
			ow.line(prefix, k)
		}
	}
}

func (ow *omWriter) ratioSeries(prefix []byte, rec *recording, col []uint32, p engineParams) {
	ow.stats.Series++
	for k, v := range col {
		if rec.present[k] {
			ow.buf = strconv.AppendFloat(ow.buf[:0], p.kvRatio(uint64(v)), 'g', -1, 64)
			ow.line(prefix, k)
		}
	}
}

// cumulativeSeries writes the running total of ow.acc, restarting at resets.
func (ow *omWriter) cumulativeSeries(prefix []byte, rec *recording) {
	ow.stats.Series++
	var total uint64
	for k, v := range ow.acc {
		if rec.reset[k] {
			total = 0
		}
		total += v
		if rec.present[k] {
			ow.buf = strconv.AppendUint(ow.buf[:0], total, 10)
			ow.line(prefix, k)
		}
	}
}

func (ow *omWriter) sumSeries(prefix []byte, rec *recording, col []int64, hist int) {
	ow.stats.Series++
	var total int64
	for k, v := range col {
		if rec.reset[k] {
			total = 0
		}
		total += v
		if rec.present[k] {
			ow.buf = strconv.AppendFloat(ow.buf[:0], histSum(hist, total), 'g', -1, 64)
			ow.line(prefix, k)
		}
	}
}
