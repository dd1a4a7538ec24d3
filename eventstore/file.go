package eventstore

import (
	"bufio"
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/prometheus/common/model"
)

// Version is the format of an encoded store. A file of another version is
// not misread: the store is rebuilt from Prometheus.
const Version = 1

// magic starts every encoded store, so a stray file is told apart from a
// store of an unknown version.
const magic = "vllm-sentinel event store\n"

// ErrFormat is a store that cannot be decoded: damaged, truncated, or of
// another version.
var ErrFormat = errors.New("not a readable event store")

type fileStore struct {
	Version int
	ID      string
	Tiers   []Tier
	Through int64
	From    []int64
	Marks   map[string]int64
	Groups  []fileGroup
}

type fileGroup struct {
	Labels map[string]string
	Seen   int64
	Rings  []fileRing
}

type fileRing struct {
	Newest     int64
	Bad, Total []float32
}

// Encode writes the store: its id, layout, coverage and every group's slots.
func (s *Store) Encode(w io.Writer) error {
	f := fileStore{Version: Version, ID: s.id, Tiers: s.tiers, Through: unixNano(s.through)}
	for _, t := range s.from {
		f.From = append(f.From, unixNano(t))
	}
	f.Marks = map[string]int64{}
	for k, t := range s.marks {
		f.Marks[k] = unixNano(t)
	}
	for _, g := range s.groups {
		fg := fileGroup{Labels: map[string]string{}, Seen: unixNano(g.seen)}
		for k, v := range g.labels {
			fg.Labels[string(k)] = string(v)
		}
		for _, r := range g.rings {
			fg.Rings = append(fg.Rings, fileRing{Newest: r.newest, Bad: r.bad, Total: r.total})
		}
		f.Groups = append(f.Groups, fg)
	}
	bw := bufio.NewWriter(w)
	if _, err := bw.WriteString(magic); err != nil {
		return err
	}
	if err := gob.NewEncoder(bw).Encode(&f); err != nil {
		return fmt.Errorf("encode event store %s: %w", s.id, err)
	}
	return bw.Flush()
}

// Decode reads a store that Encode wrote. Anything else — another version,
// a truncated file, slots that do not fit the layout — is ErrFormat.
func Decode(data []byte) (*Store, error) {
	if !bytes.HasPrefix(data, []byte(magic)) {
		return nil, fmt.Errorf("%w: no event store header", ErrFormat)
	}
	var f fileStore
	if err := gob.NewDecoder(bytes.NewReader(data[len(magic):])).Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if f.Version != Version {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrFormat, f.Version, Version)
	}
	if err := f.check(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	s := New(f.ID, f.Tiers)
	s.through = fromNano(f.Through)
	for i, t := range f.From {
		s.from[i] = fromNano(t)
	}
	for k, t := range f.Marks {
		s.marks[k] = fromNano(t)
	}
	for _, fg := range f.Groups {
		ls := model.LabelSet{}
		for k, v := range fg.Labels {
			ls[model.LabelName(k)] = model.LabelValue(v)
		}
		g := &group{labels: ls, seen: fromNano(fg.Seen)}
		for _, r := range fg.Rings {
			g.rings = append(g.rings, ring{newest: r.Newest, bad: r.Bad, total: r.Total})
		}
		s.groups[ls.Fingerprint()] = g
	}
	return s, nil
}

// check refuses what Encode cannot have written.
func (f *fileStore) check() error {
	if len(f.Tiers) == 0 || len(f.From) != len(f.Tiers) {
		return fmt.Errorf("%d tiers, %d coverage marks", len(f.Tiers), len(f.From))
	}
	for i, t := range f.Tiers {
		if t.Width <= 0 || t.Span < t.Width || (i > 0 && t.Width <= f.Tiers[i-1].Width) {
			return fmt.Errorf("tier %d: slots of %s kept %s", i, t.Width, t.Span)
		}
	}
	if len(f.Groups) > DefaultMaxGroups {
		return fmt.Errorf("%d groups, more than %d", len(f.Groups), DefaultMaxGroups)
	}
	for _, g := range f.Groups {
		if len(g.Rings) != len(f.Tiers) {
			return fmt.Errorf("group %v: %d rings for %d tiers", g.Labels, len(g.Rings), len(f.Tiers))
		}
		for i, r := range g.Rings {
			n := f.Tiers[i].slots()
			if len(r.Bad) != n || len(r.Total) != n {
				return fmt.Errorf("group %v, tier %d: %d and %d slots, want %d", g.Labels, i, len(r.Bad), len(r.Total), n)
			}
			for j := range r.Bad {
				if b, t := float64(r.Bad[j]), float64(r.Total[j]); !finite(b) || !finite(t) || b < 0 || t < 0 {
					return fmt.Errorf("group %v, tier %d: slot %d holds bad %g of %g", g.Labels, i, j, b, t)
				}
			}
		}
	}
	return nil
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNano(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}
