package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"seatd/internal/durable"
	"seatd/internal/settings"
	"seatd/inventory"
	"seatd/raftfsm"
)

// A backup directory holds group-NN.snap per Raft group (NN = group id,
// 00 the meta group) and manifest.json (backupManifest), written last.
const (
	manifestName = "manifest.json"
	backupFormat = 1
	// maxMetaBackup bounds the meta group's data, which the backup reads
	// into memory to list the placements (MaxPlacements programs and
	// MaxDirectoryNodes nodes of short strings are well under it).
	maxMetaBackup = 64 << 20
)

// backupManifest describes a backup of every group of one cluster.
type backupManifest struct {
	Format     int                 `json:"format"`
	ClusterID  string              `json:"cluster_id"` // the cluster backed up; a restore gets a new one
	Groups     int                 `json:"groups"`     // inventory groups (-groups); files has Groups+1 entries
	CreatedAt  time.Time           `json:"created_at"` // the backup tool's clock, when it began
	Placements []raftfsm.Placement `json:"placements"` // the meta group's placement table, by program
	Directory  []raftfsm.NodeInfo  `json:"directory"`  // the members' RPC addresses at the backup, by id
	Files      []backupGroupFile   `json:"files"`      // by group
}

// backupGroupFile is one group's file in a backup.
type backupGroupFile struct {
	Group  int    `json:"group"`
	Path   string `json:"path"`  // relative to the backup directory
	Index  uint64 `json:"index"` // the Raft log index the state reflects
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"` // hex
	Leader string `json:"leader"` // the admin address that answered
}

func groupFile(g int) string { return fmt.Sprintf("group-%02d.snap", g) }

// backupHandler serves POST /backup/group/{g}: the group's state as this
// node, its leader, has it after a consistent read (raftfsm.Node.Backup),
// with its log index in X-Seatd-Index. A node that does not lead the
// group answers 421 NOT_LEADER naming the leader it knows; a group that
// does not exist 404 NO_GROUP.
func backupHandler(node *raftfsm.Node) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "BACKUP_METHOD: POST /backup/group/{g}", http.StatusMethodNotAllowed)
			return
		}
		g, err := strconv.ParseUint(r.PathValue("g"), 10, 16)
		if err != nil {
			http.Error(w, "NO_GROUP: "+r.PathValue("g"), http.StatusNotFound)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		b, err := node.Backup(ctx, uint16(g))
		switch {
		case errors.Is(err, raftfsm.ErrNoGroup):
			http.Error(w, "NO_GROUP: "+err.Error(), http.StatusNotFound)
			return
		case errors.Is(err, raftfsm.ErrNotLeader):
			http.Error(w, "NOT_LEADER: "+err.Error(), http.StatusMisdirectedRequest)
			return
		case err != nil:
			http.Error(w, "BACKUP_FAILED: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(b.Data)))
		w.Header().Set("X-Seatd-Index", strconv.FormatUint(b.Index, 10))
		w.Write(b.Data)
	}
}

// backupConfig is the configuration of `seatd backup`.
type backupConfig struct {
	Admin   []string
	Out     string
	Timeout time.Duration
}

func parseBackup(args []string, getenv func(string) string) (backupConfig, error) {
	var cfg backupConfig
	fs := flag.NewFlagSet("seatd backup", flag.ContinueOnError)
	var admin string
	fs.StringVar(&admin, "admin", "", "the members' admin addresses (their -admin-addr), host:port,...: each group is read from its leader among them (required)")
	fs.StringVar(&cfg.Out, "out", "", "the backup directory to make: it must not exist, or be empty (required)")
	fs.DurationVar(&cfg.Timeout, "timeout", 10*time.Minute, "how long the whole backup may take")
	var errs []error
	if err := settings.Parse(fs, args, "SEATD_BACKUP", getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		errs = append(errs, err)
	}
	if cfg.Admin = settings.List(admin); len(cfg.Admin) == 0 {
		errs = append(errs, errors.New("-admin: required (the members' admin addresses, host:port,...)"))
	}
	if cfg.Out == "" {
		errs = append(errs, errors.New("-out: required (a new directory)"))
	}
	if cfg.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("-timeout %v: want a positive duration", cfg.Timeout))
	}
	return cfg, errors.Join(errs...)
}

// backup runs `seatd backup args`: the meta group first (its placement
// table names the groups), then every inventory group, each from its
// leader, streamed into group-NN.snap with its SHA-256, then
// manifest.json. Each group is one consistent moment of that group; the
// groups are independent state machines, so their moments differ (a
// program lives in one group, and a hold in one program). A backup that
// fails leaves no directory behind.
func backup(args []string) error {
	cfg, err := parseBackup(args, os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	if err != nil {
		return usageError{err}
	}
	m, err := writeBackup(cfg)
	if err != nil {
		return err
	}
	var size int64
	for _, f := range m.Files {
		size += f.Size
	}
	fmt.Printf("backup of cluster %s: %d groups and meta, %d programs, %d bytes in %s\n", m.ClusterID, m.Groups, len(m.Placements), size, cfg.Out)
	return nil
}

func writeBackup(cfg backupConfig) (m backupManifest, err error) {
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
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	defer cancel()
	m = backupManifest{Format: backupFormat, CreatedAt: time.Now().UTC()}
	// The meta group is read first for the number of groups, and again
	// after them, and that second copy is kept: a program is placed
	// before it is created, so every program in a group's copy is placed
	// in it (one created during the backup would otherwise restore
	// unplaced, and a retried create could place it on another group).
	meta, err := fetchMeta(ctx, cfg)
	if err != nil {
		return m, err
	}
	groups := meta.st.Groups
	for g := 1; g <= groups; g++ {
		f, err := fetchGroup(ctx, cfg, uint16(g))
		if err != nil {
			return m, err
		}
		m.Files = append(m.Files, f)
	}
	if meta, err = fetchMeta(ctx, cfg); err != nil {
		return m, err
	}
	if meta.st.Groups != groups {
		return m, fmt.Errorf("BACKUP_BAD_GROUP: meta group: %d groups, then %d", groups, meta.st.Groups)
	}
	st := meta.st
	m.ClusterID, m.Groups, m.Placements, m.Directory = st.ClusterID, st.Groups, st.Placements, st.Directory
	m.Files = append([]backupGroupFile{meta.file}, m.Files...)
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return m, err
	}
	if err := durable.WriteFile(filepath.Join(cfg.Out, manifestName), out); err != nil {
		return m, err
	}
	return m, durable.SyncDir(cfg.Out)
}

// metaCopy is the meta group's file in a backup, and what it says.
type metaCopy struct {
	file backupGroupFile
	st   raftfsm.MetaState
}

// fetchMeta fetches the meta group (group-00.snap, replacing an earlier
// copy) and reads it.
func fetchMeta(ctx context.Context, cfg backupConfig) (metaCopy, error) {
	f, err := fetchGroup(ctx, cfg, raftfsm.MetaGroup)
	if err != nil {
		return metaCopy{}, err
	}
	data, err := os.ReadFile(filepath.Join(cfg.Out, f.Path))
	if err != nil {
		return metaCopy{}, err
	}
	st, err := raftfsm.ReadMeta(data)
	if err != nil {
		return metaCopy{}, fmt.Errorf("BACKUP_BAD_GROUP: meta group: %w", err)
	}
	return metaCopy{file: f, st: st}, nil
}

// fetchGroup asks each admin address in turn for group g until its
// leader answers, and writes the answer to group-NN.snap. Leadership may
// move meanwhile: the addresses are tried again, for up to a minute
// within the backup's deadline.
func fetchGroup(ctx context.Context, cfg backupConfig, g uint16) (backupGroupFile, error) {
	var why []string
	for round := 0; ; round++ {
		why = why[:0]
		for _, addr := range cfg.Admin {
			f, err := fetchFrom(ctx, addr, cfg.Out, g)
			if err == nil {
				return f, nil
			}
			why = append(why, addr+": "+err.Error())
		}
		if round == 120 || ctx.Err() != nil {
			return backupGroupFile{}, fmt.Errorf("BACKUP_NO_LEADER: group %d: no leader answered: %s", g, strings.Join(why, "; "))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func fetchFrom(ctx context.Context, addr, out string, g uint16) (backupGroupFile, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("http://%s/backup/group/%d", addr, g), nil)
	if err != nil {
		return backupGroupFile{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return backupGroupFile{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return backupGroupFile{}, fmt.Errorf("%s %s", resp.Status, strings.TrimSpace(string(body)))
	}
	index, err := strconv.ParseUint(resp.Header.Get("X-Seatd-Index"), 10, 64)
	if err != nil {
		return backupGroupFile{}, fmt.Errorf("X-Seatd-Index %q", resp.Header.Get("X-Seatd-Index"))
	}
	f := backupGroupFile{Group: int(g), Path: groupFile(int(g)), Index: index, Leader: addr}
	path := filepath.Join(out, f.Path)
	w, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return f, err
	}
	defer w.Close()
	h := sha256.New()
	body := io.Reader(resp.Body)
	if g == raftfsm.MetaGroup {
		body = io.LimitReader(body, maxMetaBackup)
	}
	if f.Size, err = io.Copy(io.MultiWriter(w, h), body); err != nil {
		return f, err
	}
	if resp.ContentLength >= 0 && f.Size != resp.ContentLength {
		return f, fmt.Errorf("group %d: %d bytes of %d", g, f.Size, resp.ContentLength)
	}
	f.SHA256 = hex.EncodeToString(h.Sum(nil))
	if err := w.Sync(); err != nil {
		return f, err
	}
	return f, w.Close()
}

// Errors of a restore's backup.
var (
	// errBackupDamaged is a backup whose files do not match its manifest,
	// or do not decode.
	errBackupDamaged = errors.New("BACKUP_DAMAGED")
	// errBackupMismatch is a backup that does not fit the node: another
	// group count, another format.
	errBackupMismatch = errors.New("BACKUP_MISMATCH")
)

// loadBackup reads a backup directory for `seatd run -restore`: every
// group's file is checked against the manifest (size, SHA-256) and
// decoded as a restore would (raftfsm.CheckBackup: the engine decodes
// and passes Check; the meta group has groups inventory groups). The
// groups' states are held in memory until the node has seeded its
// snapshot stores, as raft's own restore of a snapshot does.
func loadBackup(dir string, groups int, eng inventory.Config) ([]raftfsm.GroupBackup, error) {
	data, err := os.ReadFile(filepath.Join(dir, manifestName))
	if err != nil {
		return nil, fmt.Errorf("%w: %w (a backup that did not finish has no manifest)", errBackupDamaged, err)
	}
	var m backupManifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", errBackupDamaged, manifestName, err)
	}
	if m.Format != backupFormat {
		return nil, fmt.Errorf("%w: format %d; this build reads %d", errBackupMismatch, m.Format, backupFormat)
	}
	if m.Groups != groups {
		return nil, fmt.Errorf("%w: the backup has %d groups; this node runs -groups %d (a program's group is fixed by the placement table)", errBackupMismatch, m.Groups, groups)
	}
	if len(m.Files) != groups+1 {
		return nil, fmt.Errorf("%w: %d group files for %d groups and meta", errBackupDamaged, len(m.Files), groups)
	}
	out := make([]raftfsm.GroupBackup, 0, groups+1)
	for i, f := range m.Files {
		if f.Group != i || f.Path != groupFile(i) {
			return nil, fmt.Errorf("%w: file %d is %s of group %d", errBackupDamaged, i, f.Path, f.Group)
		}
		b, err := os.ReadFile(filepath.Join(dir, f.Path))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errBackupDamaged, err)
		}
		sum := sha256.Sum256(b)
		if int64(len(b)) != f.Size || hex.EncodeToString(sum[:]) != f.SHA256 {
			return nil, fmt.Errorf("%w: %s has %d bytes, sha256 %x; the manifest says %d bytes, sha256 %s", errBackupDamaged, f.Path, len(b), sum, f.Size, f.SHA256)
		}
		gb := raftfsm.GroupBackup{Group: uint16(i), Index: f.Index, Data: b}
		if err := raftfsm.CheckBackup(gb, groups, eng); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", errBackupDamaged, f.Path, err)
		}
		out = append(out, gb)
	}
	return out, nil
}
