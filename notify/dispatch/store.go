package dispatch

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
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

// valid checks what a load cannot repair: a notification that is no
// notification, or that cannot be sent as it is (an ID with a line break
// in it would make every POST fail and be retried for ever).
func (n *notification) valid() error {
	switch {
	case n.Version != fileVersion:
		return fmt.Errorf("version %d, want %d", n.Version, fileVersion)
	case !validID(n.ID):
		return errors.New("no id, or not one the notifier can send")
	case n.Created.IsZero():
		return errors.New("no creation time")
	case n.Seq == math.MaxUint64:
		// The next sequence number would wrap around onto older files.
		return errors.New("sequence number out of range")
	case len(n.Alerts) == 0:
		return errors.New("no alerts")
	}
	return nil
}

// maxIDLen bounds a notification ID; NewID makes 36 bytes.
const maxIDLen = 256

// validID is a printable ASCII token: what a webhook-id header can carry.
func validID(id string) bool {
	if id == "" || len(id) > maxIDLen {
		return false
	}
	for i := range len(id) {
		if id[i] <= ' ' || id[i] >= 0x7f {
			return false
		}
	}
	return true
}

// stateFile is groups.json.
type stateFile struct {
	Version int      `json:"version"`
	GroupBy []string `json:"group_by"`
	// Pointers, so that a null in the file is told from an empty group.
	Groups []*groupState `json:"groups"`
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

// Bounds on what a load reads of one file. Save writes far less; a file
// larger than this is damage, and reading it whole could take the daemon
// down.
const (
	maxNotificationBytes = 64 << 20
	maxGroupsBytes       = 256 << 20
)

// Kinds of file, the file label of vllm_sentinel_outbox_corrupt_total.
const (
	kindOutbox = "outbox"
	kindGroups = "groups"
)

// store reads and writes one Dispatcher's directory.
type store struct {
	dir string
}

// newStore creates dir and its outbox. An outbox that is there but no
// directory is left for loadOutbox to move aside: damage on disk must not
// keep the daemon from starting.
func newStore(dir string) (*store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, outboxDir), 0o700); err != nil {
		if fi, lerr := os.Lstat(filepath.Join(dir, outboxDir)); lerr != nil || fi.IsDir() {
			return nil, fmt.Errorf("outbox: %w", err)
		}
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

// damage is a file that a load found damaged. It has been moved aside
// (movedTo, "" if that failed too), and what could be read of it is kept:
// kept says whether anything was.
type damage struct {
	kind, path, movedTo string
	// lost is the alerts lost, as far as can be told: at least 1 for a
	// notification that could not be read at all, 0 for one that lost
	// only null entries.
	lost int
	kept bool
	err  error
}

func (d damage) Error() string {
	what := "moved aside to " + d.movedTo
	if d.movedTo == "" {
		// err says why.
		what = "left in place"
	}
	if d.kept {
		what += "; what could be read of it is kept"
	}
	return fmt.Sprintf("%s: %v; %s", d.path, d.err, what)
}

// newDamage moves path aside and describes it.
func newDamage(kind, path string, now time.Time, lost int, kept bool, cause error) damage {
	d := damage{kind: kind, path: path, lost: lost, kept: kept, err: cause}
	d.movedTo, d.err = moveAside(path, now, cause)
	return d
}

// loadOutbox returns the notifications on disk in sequence order. Files
// that cannot be read are moved aside and reported, never fatal; one that
// is readable but for null alerts is moved aside too and written again
// without them. Temporary files of an interrupted write are removed.
func (s *store) loadOutbox(now time.Time) ([]*notification, []damage, error) {
	dir := filepath.Join(s.dir, outboxDir)
	var bad []damage
	if fi, err := os.Lstat(dir); err == nil && !fi.IsDir() {
		bad = append(bad, newDamage(kindOutbox, dir, now, 1, false, errors.New("not a directory")))
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, bad, fmt.Errorf("outbox: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, bad, fmt.Errorf("outbox: %w", err)
	}
	removeTemps(dir)
	var out []*notification
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(dir, name)
		if e.IsDir() || strings.HasPrefix(name, atomicfile.TempPrefix) || !strings.HasSuffix(name, ".json") {
			continue
		}
		if !e.Type().IsRegular() {
			// A FIFO would block the read for ever.
			bad = append(bad, newDamage(kindOutbox, path, now, 1, false, errors.New("not a regular file")))
			continue
		}
		n, nulls, err := readNotification(path, name)
		if err != nil {
			bad = append(bad, newDamage(kindOutbox, path, now, max(len(n.Alerts), 1), false, err))
			continue
		}
		if nulls > 0 {
			bad = append(bad, newDamage(kindOutbox, path, now, 0, true, fmt.Errorf("%d null alerts", nulls)))
			if s.writeNotification(n) != nil {
				// Delivered from memory; lost if the process ends first.
				out = append(out, n)
				continue
			}
		}
		n.persisted = true
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b *notification) int { return cmp.Compare(a.Seq, b.Seq) })
	return out, bad, nil
}

// readNotification reads one outbox file. nulls counts the null alerts it
// held, which are left out.
func readNotification(path, name string) (n *notification, nulls int, err error) {
	n = &notification{}
	b, err := readFile(path, maxNotificationBytes)
	if err != nil {
		return n, 0, err
	}
	if err := json.Unmarshal(b, n); err != nil {
		return n, 0, err
	}
	all := len(n.Alerts)
	n.Alerts = slices.DeleteFunc(n.Alerts, func(a *notify.Alert) bool { return a == nil })
	nulls = all - len(n.Alerts)
	if err := n.valid(); err != nil {
		if len(n.Alerts) == 0 && nulls > 0 {
			err = fmt.Errorf("%w (%d null ones)", err, nulls)
		}
		return n, nulls, err
	}
	if seq, err := strconv.ParseUint(strings.TrimSuffix(name, ".json"), 10, 64); err != nil || seq != n.Seq {
		return n, nulls, fmt.Errorf("file name does not match sequence number %d", n.Seq)
	}
	return n, nulls, nil
}

// readFile reads path, a regular file of at most limit bytes.
func readFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// A regular file's size says at once whether it is over the cap, before
	// it costs its size in memory; the read below still bounds what a file
	// that grows, or is no regular file, can cost.
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > limit {
		return nil, fmt.Errorf("more than %d bytes", limit)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("more than %d bytes", limit)
	}
	return b, nil
}

// loadState reads groups.json; a missing file is no state. A file that
// cannot be read is moved aside and reported, and no state comes back.
// One that is readable but for some parts (null groups or alerts, an
// unreadable record of what was sent) is moved aside too, and comes back
// without them, for the caller to save.
func (s *store) loadState(now time.Time) (*stateFile, *damage, error) {
	removeTemps(s.dir)
	path := filepath.Join(s.dir, groupsFile)
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("group state: %w", err)
	}
	if !fi.Mode().IsRegular() {
		d := newDamage(kindGroups, path, now, 1, false, errors.New("not a regular file"))
		return nil, &d, nil
	}
	b, err := readFile(path, maxGroupsBytes)
	if err != nil && errors.Is(err, fs.ErrPermission) {
		// Not damage: moving it would not make it readable.
		return nil, nil, fmt.Errorf("group state: %w", err)
	}
	sf := &stateFile{}
	if err == nil {
		err = json.Unmarshal(b, sf)
	}
	if err == nil && sf.Version != fileVersion {
		err = fmt.Errorf("version %d, want %d", sf.Version, fileVersion)
	}
	if err != nil {
		d := newDamage(kindGroups, path, now, 1, false, err)
		return nil, &d, nil
	}
	if problems := sf.clean(); len(problems) > 0 {
		d := newDamage(kindGroups, path, now, 0, true, errors.New(strings.Join(problems, "; ")))
		return sf, &d, nil
	}
	return sf, nil, nil
}

// clean leaves out what Save never writes: null groups and alerts, and a
// record of what was sent that does not parse (the group is kept without
// it: its firing alerts are notified again). It says what it left out.
func (sf *stateFile) clean() []string {
	var problems []string
	nullGroups := 0
	sf.Groups = slices.DeleteFunc(sf.Groups, func(gs *groupState) bool {
		if gs == nil {
			nullGroups++
		}
		return gs == nil
	})
	if nullGroups > 0 {
		problems = append(problems, fmt.Sprintf("%d null groups", nullGroups))
	}
	for _, gs := range sf.Groups {
		all := len(gs.Alerts)
		gs.Alerts = slices.DeleteFunc(gs.Alerts, func(a *notify.Alert) bool { return a == nil })
		if n := all - len(gs.Alerts); n > 0 {
			problems = append(problems, fmt.Sprintf("group %s: %d null alerts", groupKey(gs.Labels), n))
		}
		if _, err := gs.Last.sent(); err != nil {
			problems = append(problems, fmt.Sprintf("group %s: last notification: %v", groupKey(gs.Labels), err))
			gs.Last = nil
		}
	}
	return problems
}

func (s *store) saveState(sf *stateFile) error {
	return writeJSON(filepath.Join(s.dir, groupsFile), sf)
}

// moveAside renames path to path.corrupt-<unix>, or to .corrupt-<unix>-<n>
// when that name is taken (two damaged loads in one second), so that no
// earlier evidence is overwritten.
func moveAside(path string, now time.Time, cause error) (string, error) {
	aside := fmt.Sprintf("%s.corrupt-%d", path, now.Unix())
	for i := 1; i < 100; i++ {
		if _, err := os.Lstat(aside); errors.Is(err, fs.ErrNotExist) {
			break
		}
		aside = fmt.Sprintf("%s.corrupt-%d-%d", path, now.Unix(), i)
	}
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
