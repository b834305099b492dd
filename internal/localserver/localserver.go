// Package localserver holds what the packages that run a server process
// on this machine share (internal/redisserver, internal/pgserver,
// internal/kafkatest, the in-process systems of bench/cluster and
// cmd/seatdev, and the tests that start seatd and orderflow processes):
// loopback ports reserved for it (FreePorts), the end of its log to show
// when it fails, and a run directory that a later run removes if this
// one is killed before it can.
//
// Concurrency: every function is safe for concurrent use, by goroutines
// and by processes.
package localserver

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// LogLines is how many lines of a server's log Tail returns.
const LogLines = 40

// Tail returns the last LogLines lines of the log at path, or why it
// cannot be read.
func Tail(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-LogLines):], "\n")
}

// OwnerFile is the file in each MkdirTemp directory that its process
// holds an exclusive flock on. The kernel lets go of the lock when the
// process dies, however it dies (SIGKILL, a test binary's timeout), so a
// lock nobody holds marks a directory nobody will remove.
const OwnerFile = ".owner"

// owned holds the open owner file of each directory this process made,
// keeping its lock; mu guards it.
var (
	mu    sync.Mutex
	owned = map[string]*os.File{}
)

// MkdirTemp makes a new directory in the system's temporary directory,
// named prefix and a random suffix as os.MkdirTemp names it, and locks its
// OwnerFile for as long as this process lives. It first removes the
// directories of the same prefix whose OwnerFile nobody holds: the data
// of a server killed with its run (a Postgres cluster, a Kafka log) is
// hundreds of megabytes, and runs that are killed add up. Directories
// without an OwnerFile (another build's) are left alone. The caller
// removes its directory as before; the lock goes with the process, or
// with a later call once the directory is gone.
func MkdirTemp(prefix string) (string, error) {
	removeStale(prefix)
	// Made under a name the sweep does not match, locked, then renamed:
	// another process's sweep never sees it unlocked.
	tmp, err := os.MkdirTemp("", "."+prefix)
	if err != nil {
		return "", fmt.Errorf("localserver: %w", err)
	}
	f, err := lock(filepath.Join(tmp, OwnerFile), os.O_CREATE)
	if err != nil {
		return "", errors.Join(err, os.RemoveAll(tmp))
	}
	dir := filepath.Join(filepath.Dir(tmp), strings.TrimPrefix(filepath.Base(tmp), "."))
	if err := os.Rename(tmp, dir); err != nil {
		f.Close()
		return "", errors.Join(fmt.Errorf("localserver: %w", err), os.RemoveAll(tmp))
	}
	mu.Lock()
	owned[dir] = f
	mu.Unlock()
	return dir, nil
}

// lock opens the file at path (with flag added to O_RDWR) and takes an
// exclusive flock on it without waiting, failing if another open file
// has it.
func lock(path string, flag int) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|flag, 0o600)
	if err != nil {
		return nil, fmt.Errorf("localserver: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("localserver: lock %s: %w", path, err)
	}
	return f, nil
}

// removeStale removes the directories of prefix whose owner is gone, and
// lets go of this process's locks on directories removed since. It is
// best effort: a directory it cannot lock or remove (another user's in a
// shared /tmp) is left as it would be without it, and never stops the
// caller's run.
func removeStale(prefix string) {
	mu.Lock()
	for dir, f := range owned {
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			f.Close()
			delete(owned, dir)
		}
	}
	mu.Unlock()
	entries, _ := os.ReadDir(os.TempDir()) // what it read before an error
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		dir := filepath.Join(os.TempDir(), e.Name())
		f, err := lock(filepath.Join(dir, OwnerFile), 0)
		if err != nil {
			continue // held, without an owner file, or not ours to open
		}
		// Removed while locked: a process that opens the file now fails
		// to lock it, or finds it gone.
		os.RemoveAll(dir)
		f.Close()
	}
}
