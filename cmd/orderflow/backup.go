package main

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"seatd/internal/durable"
	"seatd/internal/settings"
	"seatd/orderflow"
	"seatd/orderflow/events"
	"seatd/orderflow/pay"
)

// Exit codes of `orderflow backup`, `orderflow restore` and `orderflow
// rebalance-plan`.
const (
	exitDone   = 0 // done
	exitFailed = 1 // a bad flag, an unreachable instance, a damaged or mismatched backup: the reason on stderr
)

// Names inside a backup: the stream's first entry and last entry, and the
// directory's manifest.
const (
	backupInfoName = "backup.json" // the instance's description (backupInfo), first in the stream
	backupEndName  = "backup.end"  // the number of files sent, last in the stream: a cut stream lacks it
	manifestName   = "manifest.json"
	backupFormat   = 1
	// backupTmp is where an instance checkpoints its stores before
	// streaming them: inside its data directory, so that pebble
	// hard-links the files rather than copying them.
	backupTmp = "backup-tmp"
)

// backupInfo is what an instance says of its stores at a backup.
type backupInfo struct {
	Format     int                         `json:"format"`
	Instance   int                         `json:"instance"`
	Instances  int                         `json:"instances"`
	Partitions int                         `json:"partitions"`
	CreatedAt  time.Time                   `json:"created_at"` // the instance's clock, before the first checkpoint
	Stores     []orderflow.StoreCheckpoint `json:"stores"`     // the order stores, partition-NN
	Pay        []string                    `json:"pay"`        // the pay stores, pay/pay-NN (none without the pay service)
}

// backupFile is one file of a backup, as the manifest lists it.
type backupFile struct {
	Path   string `json:"path"` // slash-separated, relative to the backup directory
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"` // hex
}

// backupManifest is a backup directory's manifest.json: the instance's
// description and every file with its size and checksum.
type backupManifest struct {
	backupInfo
	Files []backupFile `json:"files"`
}

// backupHandler serves POST /backup on the admin server: it checkpoints
// every owned partition's order store, then its pay store (in that
// order: see pay.Service.Checkpoint), into DATA/backup-tmp, and streams
// them as a tar: backup.json first, the stores' files, backup.end last.
// One backup at a time (a second gets 409); a service not ready to copy
// (a store being rebuilt, the pay service not started yet when
// payEnabled, a closing service) gets 503.
func backupHandler(dataDir string, svc *orderflow.Service, payEnabled bool, paySvc *atomic.Pointer[pay.Service]) http.HandlerFunc {
	var busy sync.Mutex
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "BACKUP_METHOD: POST /backup", http.StatusMethodNotAllowed)
			return
		}
		if !busy.TryLock() {
			http.Error(w, "BACKUP_RUNNING: a backup of this instance is under way", http.StatusConflict)
			return
		}
		defer busy.Unlock()
		tmp := filepath.Join(dataDir, backupTmp)
		if err := os.RemoveAll(tmp); err != nil { // a crashed backup's
			http.Error(w, "BACKUP_FAILED: "+err.Error(), http.StatusInternalServerError)
			return
		}
		defer os.RemoveAll(tmp)
		d := svc.Describe()
		info := backupInfo{Format: backupFormat, Instance: d.Instance, Instances: d.Instances, Partitions: d.Partitions, CreatedAt: time.Now().UTC()}
		var err error
		if info.Stores, err = svc.Checkpoint(tmp); err != nil {
			http.Error(w, "BACKUP_NOT_READY: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		if payEnabled {
			ps := paySvc.Load()
			if ps == nil {
				http.Error(w, "BACKUP_NOT_READY: the pay service has not started", http.StatusServiceUnavailable)
				return
			}
			if info.Pay, err = ps.Checkpoint(filepath.Join(tmp, "pay")); err != nil {
				http.Error(w, "BACKUP_NOT_READY: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		w.Header().Set("Content-Type", "application/x-tar")
		// Past this point an error can only cut the stream: the client
		// finds backup.end missing and refuses the backup.
		tw := tar.NewWriter(w)
		head, _ := json.Marshal(info)
		if err := writeTarFile(tw, backupInfoName, int64(len(head)), strings.NewReader(string(head))); err != nil {
			return
		}
		n := 0
		err = filepath.WalkDir(tmp, func(path string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				return err
			}
			rel, err := filepath.Rel(tmp, path)
			if err != nil {
				return err
			}
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			st, err := f.Stat()
			if err != nil {
				return err
			}
			n++
			return writeTarFile(tw, filepath.ToSlash(rel), st.Size(), f)
		})
		if err != nil {
			return
		}
		end := strconv.Itoa(n)
		if writeTarFile(tw, backupEndName, int64(len(end)), strings.NewReader(end)) == nil {
			tw.Close()
		}
	}
}

func writeTarFile(tw *tar.Writer, name string, size int64, r io.Reader) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	_, err := io.CopyN(tw, r, size)
	return err
}

// backupConfig is the configuration of `orderflow backup`.
type backupConfig struct {
	Addr    string // the instance's admin (-metrics) address
	Out     string
	Timeout time.Duration
}

func parseBackup(args []string, getenv func(string) string) (backupConfig, error) {
	var cfg backupConfig
	fs := flag.NewFlagSet("orderflow backup", flag.ContinueOnError)
	fs.StringVar(&cfg.Addr, "metrics", "", "the running instance's admin address, host:port (its -metrics; required)")
	fs.StringVar(&cfg.Out, "out", "", "the backup directory to make: it must not exist, or be empty (required)")
	fs.DurationVar(&cfg.Timeout, "timeout", 30*time.Minute, "how long the whole backup may take")
	var errs []error
	if err := settings.Parse(fs, args, "ORDERFLOW_BACKUP", getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		errs = append(errs, err)
	}
	if cfg.Addr == "" {
		errs = append(errs, errors.New("-metrics: required (the instance's admin address, host:port)"))
	}
	if cfg.Out == "" {
		errs = append(errs, errors.New("-out: required (a new directory)"))
	}
	if cfg.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("-timeout %v: want a positive duration", cfg.Timeout))
	}
	return cfg, errors.Join(errs...)
}

// runBackup runs `orderflow backup args`: it asks a running instance for
// a copy of its stores (POST /backup on its admin address), writes the
// files into -out as they stream in, each with its SHA-256, and then
// manifest.json. Memory stays bounded whatever the stores' size. A
// stream cut short, or a refusal, leaves no backup directory behind.
func runBackup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := parseBackup(args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, strings.TrimSpace(strings.TrimPrefix(err.Error(), flag.ErrHelp.Error())))
		return exitDone
	}
	if err == nil {
		var m backupManifest
		if m, err = fetchBackup(ctx, cfg); err == nil {
			var size int64
			for _, f := range m.Files {
				size += f.Size
			}
			fmt.Fprintf(stdout, "backup of instance %d of %d (%d partitions): %d order stores, %d pay stores, %d files, %d bytes in %s\n",
				m.Instance, m.Instances, m.Partitions, len(m.Stores), len(m.Pay), len(m.Files), size, cfg.Out)
			return exitDone
		}
	}
	settings.Report(stderr, "orderflow backup", err)
	return exitFailed
}

func fetchBackup(ctx context.Context, cfg backupConfig) (m backupManifest, err error) {
	if entries, err := os.ReadDir(cfg.Out); err == nil && len(entries) > 0 {
		return m, fmt.Errorf("BACKUP_OUT_EXISTS: %s is not empty: a backup goes into a new directory", cfg.Out)
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return m, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(cfg.Out)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+cfg.Addr+"/backup", nil)
	if err != nil {
		return m, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return m, fmt.Errorf("BACKUP_UNREACHABLE: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return m, fmt.Errorf("the instance at %s refused: %s %s", cfg.Addr, resp.Status, strings.TrimSpace(string(body)))
	}
	tr := tar.NewReader(resp.Body)
	gotInfo, ended := false, false
	for !ended {
		h, err := tr.Next()
		if err != nil {
			return m, fmt.Errorf("BACKUP_CUT: the stream from %s ended early (%w): no backup written", cfg.Addr, err)
		}
		if h.Typeflag != tar.TypeReg || !filepath.IsLocal(h.Name) || h.Name == manifestName {
			return m, fmt.Errorf("BACKUP_BAD_STREAM: entry %q", h.Name)
		}
		switch {
		case h.Name == backupInfoName:
			if err := json.NewDecoder(io.LimitReader(tr, 1<<20)).Decode(&m.backupInfo); err != nil {
				return m, fmt.Errorf("BACKUP_BAD_STREAM: %s: %w", backupInfoName, err)
			}
			gotInfo = true
		case h.Name == backupEndName:
			b, _ := io.ReadAll(io.LimitReader(tr, 32))
			if n, err := strconv.Atoi(string(b)); err != nil || n != len(m.Files) || !gotInfo {
				return m, fmt.Errorf("BACKUP_BAD_STREAM: %d files received, the instance says %q", len(m.Files), b)
			}
			ended = true
		default:
			f, err := writeVerified(filepath.Join(cfg.Out, filepath.FromSlash(h.Name)), tr)
			if err != nil {
				return m, err
			}
			f.Path = h.Name
			m.Files = append(m.Files, f)
		}
	}
	if m.Format != backupFormat {
		return m, fmt.Errorf("BACKUP_BAD_STREAM: format %d; this build reads %d", m.Format, backupFormat)
	}
	slices.SortFunc(m.Files, func(a, b backupFile) int { return strings.Compare(a.Path, b.Path) })
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return m, err
	}
	if err := durable.WriteFile(filepath.Join(cfg.Out, manifestName), data); err != nil {
		return m, err
	}
	return m, durable.SyncDir(cfg.Out)
}

// writeVerified copies r into a new file at path (making its directory),
// synced, and returns its size and SHA-256.
func writeVerified(path string, r io.Reader) (backupFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return backupFile{}, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return backupFile{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), r)
	if err != nil {
		return backupFile{}, fmt.Errorf("%s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return backupFile{}, err
	}
	return backupFile{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, f.Close()
}

// restoreConfig is the configuration of `orderflow restore`.
type restoreConfig struct {
	From       []string // backup directories
	DataDir    string
	Instance   int
	Instances  int // 0: the one backup's
	Partitions int // 0: the backups'
}

func parseRestore(args []string, getenv func(string) string) (restoreConfig, error) {
	var cfg restoreConfig
	fs := flag.NewFlagSet("orderflow restore", flag.ContinueOnError)
	var from string
	fs.StringVar(&from, "from", "", "backup directories (orderflow backup -out), dir,dir,...: every partition the instance owns must be in exactly one (required)")
	fs.StringVar(&cfg.DataDir, "data", "", "the instance's data directory to fill: it must hold no store (required)")
	fs.IntVar(&cfg.Instance, "instance", 0, "the instance the data directory is for (with -instances)")
	fs.IntVar(&cfg.Instances, "instances", 0, "the instance count it will run with (0: the one backup's instance and count)")
	var errs []error
	if err := settings.Parse(fs, args, "ORDERFLOW_RESTORE", getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		errs = append(errs, err)
	}
	cfg.From = settings.List(from)
	if len(cfg.From) == 0 {
		errs = append(errs, errors.New("-from: required (one or more backup directories)"))
	}
	if cfg.DataDir == "" {
		errs = append(errs, errors.New("-data: required (the instance's data directory)"))
	}
	if cfg.Instances < 0 || cfg.Instance < 0 || (cfg.Instances > 0 && cfg.Instance >= cfg.Instances) {
		errs = append(errs, fmt.Errorf("-instance %d -instances %d: want 0 <= instance < instances", cfg.Instance, cfg.Instances))
	}
	if cfg.Instances == 0 && len(cfg.From) > 1 {
		errs = append(errs, errors.New("-instances: required with more than one backup (the instance count to restore for)"))
	}
	return cfg, errors.Join(errs...)
}

// errBackupDamaged is a backup whose files do not match its manifest.
var errBackupDamaged = errors.New("BACKUP_DAMAGED")

// errBackupMismatch is backups that do not fit together or the target.
var errBackupMismatch = errors.New("BACKUP_MISMATCH")

// readManifest reads and checks a backup directory's manifest.
func readManifest(dir string) (backupManifest, error) {
	var m backupManifest
	data, err := os.ReadFile(filepath.Join(dir, manifestName))
	if err != nil {
		return m, fmt.Errorf("%w: %s: %w (a backup that did not finish has none)", errBackupDamaged, dir, err)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("%w: %s: %w", errBackupDamaged, filepath.Join(dir, manifestName), err)
	}
	if m.Format != backupFormat {
		return m, fmt.Errorf("%w: %s: format %d; this build reads %d", errBackupMismatch, dir, m.Format, backupFormat)
	}
	if m.Partitions < 1 || m.Partitions > events.MaxPartitions {
		return m, fmt.Errorf("%w: %s: %d partitions", errBackupDamaged, dir, m.Partitions)
	}
	return m, nil
}

// runRestore runs `orderflow restore args`: it fills an instance's empty
// data directory with the stores of the partitions it owns (under
// -instance/-instances, by default the backup's own), taken from one or
// more backups, each file checked against its manifest's size and
// SHA-256 as it is copied. Nothing is placed unless every file checked:
// the stores are copied into DATA/restore-tmp and renamed into place at
// the end. A partition missing from the backups, in two of them, a
// damaged file, or a data directory that already holds a store is
// refused with the reason.
func runRestore(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := parseRestore(args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, strings.TrimSpace(strings.TrimPrefix(err.Error(), flag.ErrHelp.Error())))
		return exitDone
	}
	if err == nil {
		var msg string
		if msg, err = restore(cfg); err == nil {
			fmt.Fprintln(stdout, msg)
			return exitDone
		}
	}
	settings.Report(stderr, "orderflow restore", err)
	return exitFailed
}

func restore(cfg restoreConfig) (string, error) {
	type source struct {
		dir string
		m   backupManifest
	}
	var srcs []source
	for _, dir := range cfg.From {
		m, err := readManifest(dir)
		if err != nil {
			return "", err
		}
		if len(srcs) > 0 && m.Partitions != srcs[0].m.Partitions {
			return "", fmt.Errorf("%w: %s has %d partitions, %s %d", errBackupMismatch, dir, m.Partitions, srcs[0].dir, srcs[0].m.Partitions)
		}
		srcs = append(srcs, source{dir, m})
	}
	partitions := srcs[0].m.Partitions
	if cfg.Instances == 0 {
		cfg.Instance, cfg.Instances = srcs[0].m.Instance, srcs[0].m.Instances
	}
	if cfg.Instances > partitions {
		return "", fmt.Errorf("%w: %d instances for %d partitions", errBackupMismatch, cfg.Instances, partitions)
	}
	// Every owned partition's order store from exactly one backup, with
	// its pay store when that backup has one.
	type pick struct {
		src     source
		dirs    []string // partition-NN, and pay/pay-NN
		cluster string
	}
	picks := map[int]pick{}
	var owned []int
	for p := range partitions {
		if orderflow.Owner(p, cfg.Instances) != cfg.Instance {
			continue
		}
		owned = append(owned, p)
		for _, s := range srcs {
			i := slices.IndexFunc(s.m.Stores, func(c orderflow.StoreCheckpoint) bool { return c.Partition == p })
			if i < 0 {
				continue
			}
			if prev, dup := picks[p]; dup {
				return "", fmt.Errorf("%w: partition %d is in %s and %s: name one backup of it", errBackupMismatch, p, prev.src.dir, s.dir)
			}
			pk := pick{src: s, dirs: []string{s.m.Stores[i].Dir}, cluster: s.m.Stores[i].Cluster}
			if name := fmt.Sprintf("pay-%02d", p); slices.Contains(s.m.Pay, name) {
				pk.dirs = append(pk.dirs, "pay/"+name)
			}
			picks[p] = pk
		}
		if _, ok := picks[p]; !ok {
			return "", fmt.Errorf("%w: partition %d (owned by instance %d of %d) is in none of %s", errBackupMismatch, p, cfg.Instance, cfg.Instances, strings.Join(cfg.From, ", "))
		}
	}
	var clusters []string
	for _, p := range owned {
		if c := picks[p].cluster; c != "" && !slices.Contains(clusters, c) {
			clusters = append(clusters, c)
		}
	}
	if len(clusters) > 1 {
		return "", fmt.Errorf("%w: the backups' stores applied events of different seatd clusters (%s)", errBackupMismatch, strings.Join(clusters, ", "))
	}
	for _, sub := range []struct{ dir, prefix string }{{cfg.DataDir, "partition-"}, {filepath.Join(cfg.DataDir, "pay"), "pay-"}} {
		if ps, err := orderflow.StoreDirs(sub.dir, sub.prefix); err != nil {
			return "", err
		} else if len(ps) > 0 {
			return "", fmt.Errorf("%w: %s already holds stores (%s%02d, ...): restore into a data directory without any", errBackupMismatch, sub.dir, sub.prefix, ps[0])
		}
	}
	tmp := filepath.Join(cfg.DataDir, "restore-tmp")
	if err := os.RemoveAll(tmp); err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	stores := 0
	for _, p := range owned {
		pk := picks[p]
		for _, d := range pk.dirs {
			if err := copyChecked(pk.src.dir, d, pk.src.m.Files, tmp); err != nil {
				return "", err
			}
			stores++
		}
	}
	if err := os.MkdirAll(filepath.Join(cfg.DataDir, "pay"), 0o755); err != nil {
		return "", err
	}
	for _, p := range owned {
		for _, d := range picks[p].dirs {
			if err := os.Rename(filepath.Join(tmp, filepath.FromSlash(d)), filepath.Join(cfg.DataDir, filepath.FromSlash(d))); err != nil {
				return "", err
			}
		}
	}
	for _, d := range []string{cfg.DataDir, filepath.Join(cfg.DataDir, "pay")} {
		if err := durable.SyncDir(d); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("restored %d stores of partitions %v into %s: start orderflow -instance %d -instances %d -partitions %d -data %s",
		stores, owned, cfg.DataDir, cfg.Instance, cfg.Instances, partitions, cfg.DataDir), nil
}

// copyChecked copies the backup's store directory sub (slash-separated)
// into tmp/sub, checking each file against the manifest as it goes: a
// file missing, one the manifest does not list, or one of another size
// or SHA-256 is errBackupDamaged.
func copyChecked(backup, sub string, files []backupFile, tmp string) error {
	want := map[string]backupFile{}
	for _, f := range files {
		if strings.HasPrefix(f.Path, sub+"/") {
			want[f.Path] = f
		}
	}
	if len(want) == 0 {
		return fmt.Errorf("%w: %s: the manifest lists no file of %s", errBackupDamaged, backup, sub)
	}
	root := filepath.Join(backup, filepath.FromSlash(sub))
	seen := 0
	err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, err := filepath.Rel(backup, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		w, ok := want[rel]
		if !ok {
			return fmt.Errorf("%w: %s: %s is not in the manifest", errBackupDamaged, backup, rel)
		}
		src, err := os.Open(path)
		if err != nil {
			return err
		}
		defer src.Close()
		got, err := writeVerified(filepath.Join(tmp, filepath.FromSlash(rel)), src)
		if err != nil {
			return err
		}
		if got.Size != w.Size || got.SHA256 != w.SHA256 {
			return fmt.Errorf("%w: %s: %s has %d bytes, sha256 %s; the manifest says %d bytes, sha256 %s", errBackupDamaged, backup, rel, got.Size, got.SHA256, w.Size, w.SHA256)
		}
		seen++
		return nil
	})
	if err != nil {
		return err
	}
	if seen != len(want) {
		return fmt.Errorf("%w: %s: %d files of %s in the manifest, %d found", errBackupDamaged, backup, len(want), sub, seen)
	}
	return nil
}
