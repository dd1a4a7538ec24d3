package dispatch

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/internal/atomicfile"
	"github.com/vllm-sentinel/vllm-sentinel/notify"
)

// On-disk layout under Options.OutboxDir:
//
//	groups.json                   aggregation groups: their alerts, what was last
//	                              notified, when each flushes next
//	outbox/00000000000000000042.json
//	                              one notification not yet delivered, named by its
//	                              sequence number so that names sort in order
//	outbox/*.corrupt-<unix>       a file that could not be read, moved aside
//	groups.json.corrupt-<unix>    likewise
//
// Every file is replaced with atomicfile, so a crash leaves the old or the
// new version, never a torn one, and at worst a temporary file that the
// next load removes.
const (
	fileVersion = 1
	groupsFile  = "groups.json"
	outboxDir   = "outbox"
)

// notification is one flush of a group: the unit the outbox stores and the
// notifier delivers.
type notification struct {
	Version     int             `json:"version"`
	Seq         uint64          `json:"seq"`
	ID          string          `json:"id"`
	GroupKey    string          `json:"group_key"`
	GroupLabels model.LabelSet  `json:"group_labels"`
	Created     time.Time       `json:"created"`
	Alerts      []*notify.Alert `json:"alerts"`

	attempts    int
	nextAttempt time.Time
	persisted   bool
}

func (n *notification) valid() error {
	switch {
	case n.Version != fileVersion:
		return fmt.Errorf("version %d, want %d", n.Version, fileVersion)
	case n.ID == "":
		return errors.New("no id")
	case n.Created.IsZero():
		return errors.New("no creation time")
	case len(n.Alerts) == 0 || slices.Contains(n.Alerts, nil):
		return errors.New("no alerts, or a null one")
	}
	return nil
}

// stateFile is groups.json.
type stateFile struct {
	Version int          `json:"version"`
	GroupBy []string     `json:"group_by"`
	Groups  []groupState `json:"groups"`
}

type groupState struct {
	Labels  model.LabelSet  `json:"labels"`
	Alerts  []*notify.Alert `json:"alerts"`
	Next    time.Time       `json:"next_flush"`
	Flushed bool            `json:"flushed"`
	Last    *sentState      `json:"last_notified,omitempty"`
}

type sentState struct {
	Firing   []string  `json:"firing"`
	Resolved []string  `json:"resolved"`
	At       time.Time `json:"at"`
}

func toSentState(s *sent) *sentState {
	if s == nil {
		return nil
	}
	return &sentState{Firing: fpStrings(s.firing), Resolved: fpStrings(s.resolved), At: s.at}
}

func (s *sentState) sent() (*sent, error) {
	if s == nil {
		return nil, nil
	}
	firing, err := fpSet(s.Firing)
	if err != nil {
		return nil, err
	}
	resolved, err := fpSet(s.Resolved)
	if err != nil {
		return nil, err
	}
	return &sent{firing: firing, resolved: resolved, at: s.At}, nil
}

func fpStrings(m map[model.Fingerprint]bool) []string {
	out := make([]string, 0, len(m))
	for fp := range m {
		out = append(out, fp.String())
	}
	slices.Sort(out)
	return out
}

func fpSet(ss []string) (map[model.Fingerprint]bool, error) {
	out := make(map[model.Fingerprint]bool, len(ss))
	for _, s := range ss {
		fp, err := model.ParseFingerprint(s)
		if err != nil {
			return nil, fmt.Errorf("fingerprint %q: %w", s, err)
		}
		out[fp] = true
	}
	return out, nil
}

// store reads and writes one Dispatcher's directory.
type store struct {
	dir string
}

func newStore(dir string) (*store, error) {
	if err := os.MkdirAll(filepath.Join(dir, outboxDir), 0o700); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	return &store{dir: dir}, nil
}

func (s *store) notificationPath(seq uint64) string {
	return filepath.Join(s.dir, outboxDir, fmt.Sprintf("%020d.json", seq))
}

func (s *store) writeNotification(n *notification) error {
	return writeJSON(s.notificationPath(n.Seq), n)
}

func (s *store) removeNotification(n *notification) error {
	err := os.Remove(s.notificationPath(n.Seq))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// corruptFile is a file that could not be read and was moved aside.
type corruptFile struct {
	path, movedTo string
	alerts        int // as far as could be told; at least 1
	err           error
}

// loadOutbox returns the notifications on disk in sequence order. Files
// that cannot be read are moved aside and reported, never fatal; temporary
// files of an interrupted write are removed.
func (s *store) loadOutbox(now time.Time) ([]*notification, []corruptFile, error) {
	dir := filepath.Join(s.dir, outboxDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("outbox: %w", err)
	}
	removeTemps(dir)
	var out []*notification
	var bad []corruptFile
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(dir, name)
		if e.IsDir() || strings.HasPrefix(name, atomicfile.TempPrefix) || !strings.HasSuffix(name, ".json") {
			continue
		}
		n, err := readNotification(path, name)
		if err != nil {
			cf := corruptFile{path: path, alerts: max(len(n.Alerts), 1), err: err}
			cf.movedTo, cf.err = moveAside(path, now, err)
			bad = append(bad, cf)
			continue
		}
		n.persisted = true
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b *notification) int { return cmp.Compare(a.Seq, b.Seq) })
	return out, bad, nil
}

func readNotification(path, name string) (*notification, error) {
	n := &notification{}
	b, err := os.ReadFile(path)
	if err != nil {
		return n, err
	}
	if err := json.Unmarshal(b, n); err != nil {
		return n, err
	}
	if err := n.valid(); err != nil {
		return n, err
	}
	if seq, err := strconv.ParseUint(strings.TrimSuffix(name, ".json"), 10, 64); err != nil || seq != n.Seq {
		return n, fmt.Errorf("file name does not match sequence number %d", n.Seq)
	}
	return n, nil
}

// loadState reads groups.json; a missing file is no state. A corrupt one is
// moved aside and reported as corrupt.
func (s *store) loadState(now time.Time) (*stateFile, *corruptFile, error) {
	removeTemps(s.dir)
	path := filepath.Join(s.dir, groupsFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("group state: %w", err)
	}
	sf := &stateFile{}
	err = json.Unmarshal(b, sf)
	if err == nil && sf.Version != fileVersion {
		err = fmt.Errorf("version %d, want %d", sf.Version, fileVersion)
	}
	if err != nil {
		cf := &corruptFile{path: path, err: err}
		cf.movedTo, cf.err = moveAside(path, now, err)
		return nil, cf, nil
	}
	return sf, nil, nil
}

func (s *store) saveState(sf *stateFile) error {
	return writeJSON(filepath.Join(s.dir, groupsFile), sf)
}

func moveAside(path string, now time.Time, cause error) (string, error) {
	aside := fmt.Sprintf("%s.corrupt-%d", path, now.Unix())
	if err := os.Rename(path, aside); err != nil {
		return "", fmt.Errorf("%w; moving it aside failed too: %v", cause, err)
	}
	return aside, cause
}

// removeTemps removes what interrupted writes left in dir. A temporary
// file it cannot remove is skipped by every reader, so it is no reason to
// stop.
func removeTemps(dir string) {
	_ = atomicfile.RemoveTemps(dir)
}

// writeJSON replaces path with v as JSON. The files hold alerts and group
// labels, which need not be world-readable.
func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", filepath.Base(path), err)
	}
	return atomicfile.WriteFile(path, b, 0o600)
}
