// Package atomicfile replaces files so that a crash leaves either the old
// or the new version whole, never a torn one: what the sentinel keeps on
// disk (alert state, the notification outbox) is read back after exactly
// such a crash.
package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// TempPrefix starts the names of the temporary files WriteFile makes next
// to its target. A crash in the middle of a write leaves one behind; readers
// of the directory skip such names, and RemoveTemps clears them.
const TempPrefix = ".tmp-"

// WriteFile writes data to path through a temporary file in the same
// directory: written, fsynced, given perm and renamed into place, then the
// directory is fsynced so that the rename survives a power loss too. perm
// is set as given, not masked by the umask.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, TempPrefix+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if err := writeSynced(tmp, data, perm); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	syncDir(dir)
	return nil
}

// writeSynced writes data to f, fsyncs and closes it; f is closed even when
// a step fails.
func writeSynced(f *os.File, data []byte, perm os.FileMode) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir makes a rename in dir durable. Its errors are ignored: some file
// systems cannot fsync a directory, and the file itself is already safe.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}

// RemoveTemps removes what interrupted writes left in dir. It must not run
// while a WriteFile into dir is in progress.
func RemoveTemps(dir string) error {
	tmps, err := filepath.Glob(filepath.Join(dir, TempPrefix+"*"))
	if err != nil {
		return fmt.Errorf("remove temporary files in %s: %w", dir, err)
	}
	var errs []error
	for _, t := range tmps {
		if err := os.Remove(t); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("remove temporary files in %s: %w", dir, errors.Join(errs...))
	}
	return nil
}
