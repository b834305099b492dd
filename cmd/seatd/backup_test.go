package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rpc "seatd/kitex_gen/inventoryrpc"
	"seatd/seatclient"
)

// runBackup runs `seatd backup` against procs' admin addresses into out
// and returns its manifest.
func runBackup(t *testing.T, bin string, procs []*proc, out string) backupManifest {
	t.Helper()
	var admin []string
	for _, p := range procs {
		admin = append(admin, p.admin)
	}
	b, err := exec.Command(bin, "backup", "-admin", strings.Join(admin, ","), "-out", out).CombinedOutput()
	if err != nil {
		t.Fatalf("seatd backup: %v\n%s", err, b)
	}
	t.Logf("seatd backup: %s", strings.TrimSpace(string(b)))
	var m backupManifest
	data, err := os.ReadFile(filepath.Join(out, manifestName))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// sameMaps waits until every replica of procs has the seat map want.
func sameMaps(t *testing.T, procs []*proc, want map[string]string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		ok := true
		for _, p := range procs {
			ok = ok && maps.Equal(seatMapOf(t, p.rpc), want)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			for i, p := range procs {
				got := seatMapOf(t, p.rpc)
				diff := 0
				for id, st := range want {
					if got[id] != st {
						if diff++; diff <= 3 {
							t.Errorf("node %d: seat %s %q, want %q", i+1, id, got[id], st)
						}
					}
				}
				t.Errorf("node %d: %d seats differ", i+1, diff)
			}
			t.Fatal("the restored seat maps are not the ones backed up")
		}
	}
}

// refusal runs seatd with args, which must exit non-zero within a minute
// saying want.
func refusal(t *testing.T, bin, want string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), want) {
		t.Errorf("seatd %s = %v:\n%s\nwant a refusal saying %q", strings.Join(args, " "), err, out, want)
	}
}

// TestBackupRestoreProcesses backs up a 3-node cluster with `seatd
// backup` after holds, confirms and releases, and starts a new 3-node
// cluster with `seatd run -bootstrap -restore`: every replica has the
// seat map backed up, the program is on the group the placement table
// said, holds go on (numbered after the backed-up ones), and the
// restored cluster has a new cluster id. A damaged backup, one of
// another group count, and -restore without -bootstrap are refused.
func TestBackupRestoreProcesses(t *testing.T) {
	procs, c, _ := startProcesses(t, arenaRPC(10, 20))
	bin := procs[0].bin
	ctx := context.Background()
	var last int64
	for u := range 20 {
		r, err := c.PlaceHold(ctx, &rpc.HoldRequest{ProgramId: "show", UserId: int64(u + 1), Count: 2, Together: true})
		if err != nil || r.Status.CodeName != "ok" {
			t.Fatalf("PlaceHold = %v, %v", r, err)
		}
		last = r.Hold.HoldId
		switch u % 3 {
		case 1:
			if r, err := c.Confirm(ctx, &rpc.ConfirmRequest{HoldId: r.Hold.HoldId}); err != nil || r.Status.CodeName != "ok" {
				t.Fatalf("Confirm = %v, %v", r, err)
			}
		case 2:
			if r, err := c.Release(ctx, &rpc.ReleaseRequest{HoldId: r.Hold.HoldId}); err != nil || r.Status.CodeName != "ok" {
				t.Fatalf("Release = %v, %v", r, err)
			}
		}
	}
	// Replicas may lag the acknowledged writes: the map is the one all
	// three agree on once they do.
	var want map[string]string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		want = seatMapOf(t, procs[0].rpc)
		if maps.Equal(want, seatMapOf(t, procs[1].rpc)) && maps.Equal(want, seatMapOf(t, procs[2].rpc)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the replicas' seat maps differ")
		}
	}
	counts := map[string]int{}
	for _, st := range want {
		counts[st]++
	}
	if counts["held"] != 14 || counts["sold"] != 14 {
		t.Fatalf("seat map before the backup: %v; want 14 held, 14 sold", counts)
	}

	dir := filepath.Join(t.TempDir(), "backup")
	m := runBackup(t, bin, procs, dir)
	if m.ClusterID == "" || m.Groups != 2 || len(m.Files) != 3 || len(m.Placements) != 1 || m.Placements[0].Program != "show" {
		t.Fatalf("manifest = %+v", m)
	}

	raftAddrs := []string{freePort(t), freePort(t), freePort(t)}
	var peers []string
	for i, a := range raftAddrs {
		peers = append(peers, fmt.Sprintf("r%d=%s", i+1, a))
	}
	base := func(id, raft string) []string {
		return []string{"run", "-id", id, "-data-dir", t.TempDir(), "-raft-addr", raft, "-rpc-addr", freePort(t), "-admin-addr", freePort(t),
			"-groups", "2", "-log-level", "warn", "-bootstrap", "-peers", strings.Join(peers, ",")}
	}
	damaged := filepath.Join(t.TempDir(), "damaged")
	if err := os.CopyFS(damaged, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	snap := filepath.Join(damaged, m.Files[m.Placements[0].Group].Path)
	b, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 0x01
	if err := os.WriteFile(snap, b, 0o644); err != nil {
		t.Fatal(err)
	}
	refusal(t, bin, "BACKUP_DAMAGED", append(base("r1", raftAddrs[0]), "-restore", damaged)...)
	refusal(t, bin, "BACKUP_MISMATCH", append(base("r1", raftAddrs[0]), "-restore", dir, "-groups", "3")...)
	refusal(t, bin, "restore: needs -bootstrap", "run", "-id", "r1", "-data-dir", t.TempDir(), "-restore", dir)

	var restored []*proc
	var seeds []string
	for i := range 3 {
		p := startProc(t, bin, fmt.Sprintf("r%d", i+1), raftAddrs[i], "-bootstrap", "-peers", strings.Join(peers, ","), "-restore", dir)
		restored = append(restored, p)
		seeds = append(seeds, p.rpc)
	}
	sameMaps(t, restored, want)
	c2, err := seatclient.New(seatclient.Config{Seeds: seeds, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var r *rpc.HoldResponse
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		r, err = c2.PlaceHold(ctx, &rpc.HoldRequest{ProgramId: "show", UserId: 99, Count: 2, Together: true})
		if err == nil && r.Status.CodeName == "ok" || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || r.Status.CodeName != "ok" || r.Hold.HoldId <= last {
		t.Fatalf("PlaceHold on the restored cluster = %v, %v; want ok with a hold id after %d", r, err, last)
	}
	again := runBackup(t, bin, restored, filepath.Join(t.TempDir(), "again"))
	if again.ClusterID == "" || again.ClusterID == m.ClusterID {
		t.Errorf("the restored cluster's id = %q; want a new one (the backed-up cluster's was %s)", again.ClusterID, m.ClusterID)
	}
	if len(again.Placements) != 1 || again.Placements[0] != m.Placements[0] {
		t.Errorf("restored placements %v; want %v", again.Placements, m.Placements)
	}
}
