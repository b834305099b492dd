// Package durable writes files that survive a crash once the call
// returns: the data synced to disk, and the directory entry too. The
// backup commands of seatd and orderflow write their manifests with it,
// last, so that a backup directory holding a manifest is a whole one.
package durable

import "os"

// WriteFile writes data to path (created or truncated, mode 0644) and
// syncs it before it returns. The directory entry is not synced: call
// SyncDir on the directory after the last file.
func WriteFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}

// SyncDir syncs a directory, so that the files created in it (their
// names) survive a crash.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
