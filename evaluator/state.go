package evaluator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/vllm-sentinel/vllm-sentinel/internal/atomicfile"
)

// stateVersion changes when the file's shape does; an unknown version is
// treated like a corrupt file: moved aside, never misread.
const stateVersion = 1

// stateFile is what survives a restart: the alerts of every rule with their
// lifecycle timestamps.
type stateFile struct {
	Version int                  `json:"version"`
	SavedAt time.Time            `json:"saved_at"`
	Rules   map[ruleKey][]*Alert `json:"rules"`
}

// Store keeps alert state in one JSON file under the state directory.
type Store struct {
	path string
}

// NewStore returns a store writing dir/alerts.json; the directory is created.
func NewStore(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("state directory %s: %w", dir, err)
	}
	return &Store{path: filepath.Join(dir, "alerts.json")}, nil
}

// Path is the state file's path.
func (s *Store) Path() string { return s.path }

// ErrCorruptState is returned (wrapped) when the state file could not be
// read and was moved aside; the caller starts empty and says so loudly.
var ErrCorruptState = errors.New("corrupt state file")

// Load reads the saved state. A missing file is an empty state. A file that
// cannot be parsed is renamed to alerts.json.corrupt-<unix time> so that
// nothing is lost and the next save does not overwrite the evidence.
func (s *Store) Load(now time.Time) (*stateFile, error) {
	empty := &stateFile{Version: stateVersion, Rules: map[ruleKey][]*Alert{}}
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return empty, nil
	}
	var sf stateFile
	if err == nil {
		err = json.Unmarshal(b, &sf)
		if err == nil && sf.Version != stateVersion {
			err = fmt.Errorf("unknown state version %d (want %d)", sf.Version, stateVersion)
		}
		if err == nil {
			err = sf.check()
		}
	}
	if err != nil {
		aside := fmt.Sprintf("%s.corrupt-%d", s.path, now.Unix())
		if rerr := os.Rename(s.path, aside); rerr != nil {
			return empty, fmt.Errorf("%w %s: %v; moving it aside failed too: %v", ErrCorruptState, s.path, err, rerr)
		}
		return empty, fmt.Errorf("%w %s: %v; moved to %s, starting with no alert state", ErrCorruptState, s.path, err, aside)
	}
	if sf.Rules == nil {
		sf.Rules = map[ruleKey][]*Alert{}
	}
	return &sf, nil
}

// check refuses a file that parses but cannot be what Save wrote: a null
// alert, an alert without labels, a firing alert that never fired.
func (sf *stateFile) check() error {
	for key, alerts := range sf.Rules {
		for i, a := range alerts {
			switch {
			case a == nil:
				return fmt.Errorf("rule %s: alert %d is null", key, i)
			case len(a.Labels) == 0:
				return fmt.Errorf("rule %s: alert %d has no labels", key, i)
			case a.State == StateFiring && a.FiredAt.IsZero():
				return fmt.Errorf("rule %s: alert %d is firing but never fired", key, i)
			case a.State == StatePending && a.ActiveAt.IsZero():
				return fmt.Errorf("rule %s: alert %d is pending but never became active", key, i)
			}
		}
	}
	return nil
}

// Save writes the state atomically: a crash leaves either the old or the
// new file whole.
func (s *Store) Save(sf *stateFile) error {
	sf.Version = stateVersion
	b, err := json.Marshal(sf)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	if err := atomicfile.WriteFile(s.path, b, 0o600); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}
