package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"seatd/internal/kafkatest"
	"seatd/inventory"
	rpc "seatd/kitex_gen/inventoryrpc"
	"seatd/orderflow/events"
	"seatd/seatclient"
)

// moveLoad is what the buyers of TestMoveProgramUnderLoad were told: the
// holds placed, and what became of each after a confirm or a release they
// were answered ok for.
type moveLoad struct {
	mu       sync.Mutex
	seats    map[int64][]string // hold id -> its seats, as placed
	want     map[int64]string   // hold id -> HELD, CONFIRMED or RELEASED, as acknowledged
	before   []int64            // holds acknowledged before the move began
	errs     []error            // calls that got no answer: a buyer saw more than a retry
	refusals map[string]int     // code names of refusals (sold out and the like), for the log
}

func (l *moveLoad) failed(err error) {
	l.mu.Lock()
	l.errs = append(l.errs, err)
	l.mu.Unlock()
}

// buy holds seats, then confirms, releases or keeps every third hold, until
// stop closes.
func (l *moveLoad) buy(ctx context.Context, c *seatclient.Client, user int64, stop chan struct{}) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-time.After(20 * time.Millisecond): // a buyer's pace: the program lasts the test
		}
		r, err := c.PlaceHold(ctx, &rpc.HoldRequest{ProgramId: "show", UserId: user, Count: 1 + int32(i%2), Together: true})
		if err != nil {
			l.failed(fmt.Errorf("PlaceHold: %w", err))
			continue
		}
		if r.Status.Route != rpc.Route_OK || r.Status.Code != 0 {
			l.mu.Lock()
			l.refusals[r.Status.CodeName]++
			l.mu.Unlock()
			continue
		}
		id := r.Hold.HoldId
		var seats []string
		for _, s := range r.Hold.Seats {
			seats = append(seats, s.Id)
		}
		l.mu.Lock()
		l.seats[id], l.want[id] = seats, "HELD"
		l.mu.Unlock()
		var next string
		switch i % 3 {
		case 0:
			r, err = c.Confirm(ctx, &rpc.ConfirmRequest{HoldId: id})
			next = "CONFIRMED"
		case 1:
			r, err = c.Release(ctx, &rpc.ReleaseRequest{HoldId: id, UserId: user})
			next = "RELEASED"
		default:
			continue
		}
		if err != nil {
			l.failed(fmt.Errorf("%s hold %d: %w", next, id, err))
			continue
		}
		if r.Status.Route != rpc.Route_OK || r.Status.Code != 0 {
			l.failed(fmt.Errorf("%s hold %d: route %v, %s", next, id, r.Status.Route, r.Status.CodeName))
			continue
		}
		l.mu.Lock()
		l.want[id] = next
		l.mu.Unlock()
	}
}

// TestMoveProgramUnderLoad runs three seatd processes with their outbox
// relays on an embedded Kafka broker, puts buyers on a program (holds,
// confirms, releases), and moves the program to the other group with
// `seatd move` while they buy. Then it audits: no call failed (buyers saw
// at most a retry); the placement names the new group; every acknowledged
// hold reads, by its id, in the state it was acknowledged in; no seat is
// in two live holds; the seat map's held and sold seats are exactly the
// live holds' seats; holds placed before the move are still confirmed and
// released by their old ids; running the move again finds every step done; holds
// left to lapse expire in the new group; and Kafka has every change of
// every hold once (one event id per change, none twice).
func TestMoveProgramUnderLoad(t *testing.T) {
	brokers := kafkatest.Embedded(t)
	bin := buildSeatd(t)
	raftAddrs := []string{freePort(t), freePort(t), freePort(t)}
	var peers, seeds []string
	for i, a := range raftAddrs {
		peers = append(peers, fmt.Sprintf("n%d=%s", i+1, a))
	}
	for i := range 3 {
		p := startProc(t, bin, fmt.Sprintf("n%d", i+1), raftAddrs[i], "-bootstrap", "-peers", strings.Join(peers, ","),
			"-kafka-brokers", strings.Join(brokers, ","), "-kafka-partitions", "2")
		seeds = append(seeds, p.rpc)
	}
	c, err := seatclient.New(seatclient.Config{Seeds: seeds, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	spec := arenaRPC(40, 50)
	spec.HoldTtlSeconds = 10
	cp := createOpen(t, c, spec)
	from := cp.Status.Group
	to := 3 - from // -groups 2
	ctx := context.Background()

	l := &moveLoad{seats: map[int64][]string{}, want: map[int64]string{}, refusals: map[string]int{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.buy(ctx, c, int64(w+1), stop)
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	l.mu.Lock()
	for id, st := range l.want {
		if st == "HELD" {
			l.before = append(l.before, id)
		}
	}
	l.mu.Unlock()
	start := time.Now()
	out, err := exec.Command(bin, "move", "-rpc", strings.Join(seeds, ","), "-program", "show", "-group", fmt.Sprint(to)).CombinedOutput()
	took := time.Since(start)
	if err != nil {
		t.Fatalf("seatd move: %v\n%s", err, out)
	}
	t.Logf("seatd move took %v:\n%s", took, out)
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	wg.Wait()

	if len(l.errs) > 0 {
		t.Fatalf("%d calls failed during the move, first: %v", len(l.errs), errors.Join(l.errs[:min(5, len(l.errs))]...))
	}
	t.Logf("%d holds acknowledged (%d held before the move), refusals %v", len(l.want), len(l.before), l.refusals)
	st, err := c.ClusterStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range st.Placements {
		if p.ProgramId == "show" && p.Group != to {
			t.Fatalf("placement of show: group %d; want %d", p.Group, to)
		}
	}
	var fromBefore, toAfter int
	for id := range l.want {
		switch int32(id & 1023) {
		case from:
			fromBefore++
		case to:
			toAfter++
		}
	}
	if fromBefore == 0 || toAfter == 0 || len(l.before) < 2 {
		t.Fatalf("holds of group %d: %d, of group %d: %d, held before the move: %d; want some of each", from, fromBefore, to, toAfter, len(l.before))
	}

	audit := func(when string, purged bool) {
		t.Helper()
		owner := map[string]int64{}
		live := 0
		for id, want := range l.want {
			r, err := c.GetHold(ctx, &rpc.GetHoldRequest{HoldId: id, Consistent: true})
			if purged && want == "RELEASED" && err == nil && r.Status.CodeName == "hold_not_found" {
				continue // purged one TTL after its expiry, as the engine does
			}
			if err != nil || r.Status.Route != rpc.Route_OK || r.Status.Code != 0 {
				t.Fatalf("%s: GetHold(%d) = %v, %v", when, id, r, err)
			}
			if r.Hold.Status != want {
				t.Fatalf("%s: hold %d (group %d) is %s %s; acknowledged %s", when, id, id&1023, r.Hold.Status, r.Hold.Reason, want)
			}
			if want == "RELEASED" {
				continue
			}
			for _, s := range l.seats[id] {
				if other, ok := owner[s]; ok {
					t.Fatalf("%s: seat %s in live holds %d and %d", when, s, other, id)
				}
				owner[s] = id
				live++
			}
		}
		sm, err := c.SeatMap(ctx, &rpc.SeatMapRequest{ProgramId: "show", Consistent: true})
		if err != nil || sm.Status.Code != 0 {
			t.Fatalf("%s: SeatMap = %v, %v", when, sm, err)
		}
		taken := 0
		for _, s := range sm.Statuses {
			if s == 1 || s == 2 { // held, sold
				taken++
			}
		}
		if taken != live || sm.Status.Group != to {
			t.Fatalf("%s: group %d's seat map has %d seats held or sold; the acknowledged live holds have %d", when, sm.Status.Group, taken, live)
		}
	}
	audit("after the move", false)

	// Holds placed before the move, by their old ids: one confirmed, one
	// released, in the new group.
	var old []int64
	for _, id := range l.before {
		if l.want[id] == "HELD" {
			old = append(old, id)
		}
	}
	if len(old) < 2 {
		t.Fatalf("%d holds placed before the move are still held; want 2", len(old))
	}
	if r, err := c.Confirm(ctx, &rpc.ConfirmRequest{HoldId: old[0]}); err != nil || r.Status.Code != 0 || r.Hold.Status != "CONFIRMED" {
		t.Fatalf("Confirm(old id %d) = %v, %v", old[0], r, err)
	}
	l.want[old[0]] = "CONFIRMED"
	r, err := c.Release(ctx, &rpc.ReleaseRequest{HoldId: old[1], UserId: 0})
	if err != nil || r.Status.Code != 0 || r.Hold.Status != "RELEASED" || r.Status.Group != to {
		t.Fatalf("Release(old id %d) = %v, %v; want released by group %d", old[1], r, err, to)
	}
	l.want[old[1]] = "RELEASED"

	// The move again, as after a mover that died: it resumes, and finds
	// every step done (no second import).
	if out, err := exec.Command(bin, "move", "-rpc", strings.Join(seeds, ","), "-program", "show", "-group", fmt.Sprint(to)).CombinedOutput(); err != nil ||
		!strings.Contains(string(out), "moved to group") || !strings.Contains(string(out), "already") ||
		strings.Contains(string(out), "imported") || strings.Contains(string(out), "frozen") {
		t.Fatalf("seatd move again: %v\n%s", err, out)
	}

	// Holds left held lapse (10 s TTL) and expire in the new group.
	time.Sleep(11 * time.Second)
	for id, want := range l.want {
		if want == "HELD" {
			l.want[id] = "RELEASED"
		}
	}
	audit("after the holds lapsed", true)

	checkEvents(t, brokers, l)
}

// checkEvents reads seat.holds until every acknowledged change of every
// hold is there, and fails if one is missing after a while or if any
// change came twice under different event ids.
func checkEvents(t *testing.T, brokers []string, l *moveLoad) {
	t.Helper()
	type change struct {
		hold int64
		typ  events.Type
	}
	seen := map[string]bool{}
	changes := map[change]int{}
	readers := make([]*kafka.Reader, 2)
	for p := range readers {
		readers[p] = kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: events.TopicHolds, Partition: p, MaxWait: 100 * time.Millisecond})
		defer readers[p].Close()
	}
	complete := func() bool {
		for id, want := range l.want {
			if changes[change{id, events.HoldPlaced}] == 0 ||
				want == "CONFIRMED" && changes[change{id, events.HoldConfirmed}] == 0 ||
				want == "RELEASED" && changes[change{id, events.HoldReleased}] == 0 {
				return false
			}
		}
		return true
	}
	for deadline := time.Now().Add(30 * time.Second); !complete(); {
		if time.Now().After(deadline) {
			t.Fatalf("seat.holds lacks changes of acknowledged holds after 30 s (%d events read)", len(seen))
		}
		for _, rd := range readers {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			for {
				m, err := rd.ReadMessage(ctx)
				if err != nil {
					break
				}
				ev, err := events.Decode(m.Value)
				if err != nil {
					t.Fatalf("seat.holds: %v", err)
				}
				if seen[ev.ID] {
					continue // at-least-once delivery: consumers drop a repeat by its id
				}
				seen[ev.ID] = true
				var id int64
				fmt.Sscan(ev.HoldID, &id)
				changes[change{id, ev.Type}]++
			}
			cancel()
		}
	}
	for ch, n := range changes {
		if n > 1 && ch.typ != events.SeatsRefunded {
			t.Fatalf("hold %d: %d %s events under different ids; want one", ch.hold, n, ch.typ)
		}
	}
	t.Logf("seat.holds: %d events, each change of %d holds once", len(seen), len(l.want))
}

// TestMoveResumeAndAbort: a mover that died after the freeze leaves the
// program's changes refused with program_moving (reads go on) and old
// ids unmoved; `seatd move -abort` puts it back on sale in its group. A
// mover that died after the import, the leaders of both groups killed
// (SIGKILL) and restarted, is finished by running `seatd move` again, and the hold placed before it reads on every node and is released
// by its old id in the new group; -abort then refuses, naming what to do.
func TestMoveResumeAndAbort(t *testing.T) {
	procs, c, cp := startProcesses(t, arenaRPC(4, 10))
	bin := procs[0].bin
	var seeds []string
	for _, p := range procs {
		seeds = append(seeds, p.rpc)
	}
	from := cp.Status.Group
	to := 3 - from
	ctx := context.Background()
	seatd := func(args ...string) (string, error) {
		out, err := exec.Command(bin, append([]string{"move", "-rpc", strings.Join(seeds, ","), "-program", "show", "-outbox-wait", "0"}, args...)...).CombinedOutput()
		return string(out), err
	}
	step := func(s rpc.MoveStep, group int32, parcel []byte) *rpc.MoveResponse {
		t.Helper()
		r, err := c.Move(ctx, &rpc.MoveRequest{Step: s, ProgramId: "show", Group: group, TargetGroup: to, Parcel: parcel})
		if err != nil || r.Status.Route != rpc.Route_OK || r.Status.Code != 0 {
			t.Fatalf("Move(%v, group %d) = %v, %v", s, group, r, err)
		}
		return r
	}
	h, err := c.PlaceHold(ctx, &rpc.HoldRequest{ProgramId: "show", UserId: 1, Count: 2, Together: true})
	if err != nil || h.Status.Code != 0 {
		t.Fatalf("PlaceHold = %v, %v", h, err)
	}
	old := h.Hold.HoldId

	// No relay publishes this cluster's events (no -kafka-brokers): a move
	// that waits for them gives up before it freezes anything, saying so,
	// and the program goes on selling.
	if out, err := seatd("-group", strconv.Itoa(int(to)), "-outbox-wait", "1s"); err == nil || !strings.Contains(out, "nothing was frozen") ||
		!strings.Contains(out, "-outbox-wait 0") {
		t.Fatalf("seatd move with no relay and -outbox-wait 1s: %v\n%s\nwant it to give up before the freeze, naming -outbox-wait 0", err, out)
	}
	if r, err := c.PlaceHold(ctx, &rpc.HoldRequest{ProgramId: "show", UserId: 3, Count: 1}); err != nil || r.Status.Code != 0 {
		t.Fatalf("PlaceHold after a move that gave up = %v, %v; want the program on sale", r, err)
	}

	// Died after the freeze: changes are refused (the client retries
	// until its deadline), reads answer.
	step(rpc.MoveStep_FREEZE, from, nil)
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	_, err = c.PlaceHold(short, &rpc.HoldRequest{ProgramId: "show", UserId: 2, Count: 1})
	cancel()
	if !errors.Is(err, seatclient.ErrUnavailable) || !strings.Contains(err.Error(), "program_moving") {
		t.Fatalf("PlaceHold while frozen = %v; want unavailable after retrying program_moving", err)
	}
	if a, err := c.Availability(ctx, &rpc.AvailabilityRequest{ProgramId: "show"}); err != nil || a.Status.Code != 0 {
		t.Fatalf("Availability while frozen = %v, %v", a, err)
	}
	if out, err := seatd("-abort"); err != nil || !strings.Contains(out, "on sale in group") {
		t.Fatalf("seatd move -abort: %v\n%s", err, out)
	}
	if r, err := c.PlaceHold(ctx, &rpc.HoldRequest{ProgramId: "show", UserId: 2, Count: 1}); err != nil || r.Status.Code != 0 || r.Status.Group != from {
		t.Fatalf("PlaceHold after the abort = %v, %v; want ok in group %d", r, err, from)
	}
	// The mover that froze goes on after the abort: its export is refused
	// by the source's log, so nothing is imported and the program is on
	// sale in one group only.
	if r, err := c.Move(ctx, &rpc.MoveRequest{Step: rpc.MoveStep_EXPORT, ProgramId: "show", Group: from, TargetGroup: to}); err != nil ||
		r.Status.Code != int32(inventory.ResultInvalidArgument) || len(r.Parcel) != 0 {
		t.Fatalf("EXPORT after the abort = %v, %v; want invalid_argument and no parcel", r, err)
	}
	if st := step(rpc.MoveStep_STATUS, to, nil); st.Exists {
		t.Fatalf("group %d has the program after a refused export: %v", to, st)
	}

	// Exported: an abort is refused, both the ABORT step (a -abort whose
	// STATUS read came before the export) and the command, so the mover
	// can go on; it dies after the import and is run again.
	step(rpc.MoveStep_FREEZE, from, nil)
	parcel := step(rpc.MoveStep_EXPORT, from, nil).Parcel
	if r, err := c.Move(ctx, &rpc.MoveRequest{Step: rpc.MoveStep_ABORT, ProgramId: "show", Group: from}); err != nil || r.Status.Code != int32(inventory.ResultProgramMoving) {
		t.Fatalf("ABORT after the export = %v, %v; want program_moving", r, err)
	}
	if out, err := seatd("-abort"); err == nil || !strings.Contains(out, fmt.Sprintf("exported to group %d: finish the move with -group %d", to, to)) {
		t.Fatalf("seatd move -abort after the export: %v\n%s; want a refusal naming group %d", err, out, to)
	}
	step(rpc.MoveStep_IMPORT, to, parcel)
	// The leaders of both groups die (SIGKILL) and come back: the move
	// resumes on their successors.
	for _, g := range []int32{from, to} {
		victim := waitLeaderOf(t, procs, g)
		victim.cmd.Process.Signal(syscall.SIGKILL)
		victim.cmd.Wait()
		victim.start(t)
	}
	if out, err := seatd("-abort"); err == nil || !strings.Contains(out, fmt.Sprintf("finish the move with -group %d", to)) {
		t.Fatalf("seatd move -abort after the import: %v\n%s; want a refusal naming group %d", err, out, to)
	}
	out, err := seatd("-group", fmt.Sprint(to))
	if err != nil || strings.Contains(out, "imported") {
		t.Fatalf("seatd move (resumed): %v\n%s; want it to finish without a second import", err, out)
	}
	// Every node's plain read of the old id answers the hold, or sends the
	// caller to a leader; none says there is no such hold.
	for _, p := range procs {
		cl, err := directClient(p.rpc)
		if err != nil {
			t.Fatal(err)
		}
		r, err := cl.GetHold(ctx, &rpc.GetHoldRequest{HoldId: old})
		if err == nil && r.Status.Route == rpc.Route_OK && (r.Status.Code != 0 || r.Hold.Status != "HELD") {
			t.Fatalf("plain GetHold(old id %d) on %s after the move = %v", old, p.rpc, r)
		}
	}
	r, err := c.Release(ctx, &rpc.ReleaseRequest{HoldId: old, UserId: 1})
	if err != nil || r.Status.Code != 0 || r.Hold.Status != "RELEASED" || r.Status.Group != to {
		t.Fatalf("Release(old id %d) after the move = %v, %v; want released in group %d", old, r, err, to)
	}
	// The source's forward record still has the hold as it was (held): a
	// read by the old id must come from the new group.
	if g, err := c.GetHold(ctx, &rpc.GetHoldRequest{HoldId: old, Consistent: true}); err != nil || g.Hold.Status != "RELEASED" || g.Status.Group != to {
		t.Fatalf("GetHold(old id %d) after its release = %v, %v; want RELEASED from group %d", old, g, err, to)
	}
	// A move back to the group it left, which keeps it as a forward
	// record, is refused before the freeze: the sale goes on.
	if out, err := seatd("-group", fmt.Sprint(from)); err == nil || !strings.Contains(out, fmt.Sprintf("once lived in group %d", from)) {
		t.Fatalf("seatd move back to group %d: %v\n%s; want a refusal", from, err, out)
	}
	if r, err := c.PlaceHold(ctx, &rpc.HoldRequest{ProgramId: "show", UserId: 3, Count: 1}); err != nil || r.Status.Code != 0 || r.Status.Group != to {
		t.Fatalf("PlaceHold after the move = %v, %v; want ok in group %d", r, err, to)
	}
	// A freeze toward the forward record (a mover of before the check) is
	// undone by -abort: the forward record is no import.
	if r, err := c.Move(ctx, &rpc.MoveRequest{Step: rpc.MoveStep_FREEZE, ProgramId: "show", Group: to, TargetGroup: from}); err != nil || r.Status.Code != 0 {
		t.Fatalf("FREEZE toward group %d = %v, %v", from, r, err)
	}
	if out, err := seatd("-abort"); err != nil || !strings.Contains(out, fmt.Sprintf("on sale in group %d", to)) {
		t.Fatalf("seatd move -abort of a freeze toward the forward record: %v\n%s", err, out)
	}
	if r, err := c.PlaceHold(ctx, &rpc.HoldRequest{ProgramId: "show", UserId: 4, Count: 1}); err != nil || r.Status.Code != 0 || r.Status.Group != to {
		t.Fatalf("PlaceHold after the abort = %v, %v; want ok in group %d", r, err, to)
	}
	if out, err := seatd("-group", "9"); err == nil || !strings.Contains(out, "groups 1-2") {
		t.Fatalf("seatd move -group 9: %v\n%s; want a refusal naming the groups", err, out)
	}
}

// TestMoveTwiceProcesses: a program moved from one group to a second
// moves on to a third (its parcel has holds of both groups' ids), and a
// hold placed in each earlier group is confirmed or released by its id in
// the third, through two forward records.
func TestMoveTwiceProcesses(t *testing.T) {
	procs, c, cp := startProcesses(t, arenaRPC(4, 10), "-groups", "3")
	var seeds []string
	for _, p := range procs {
		seeds = append(seeds, p.rpc)
	}
	ctx := context.Background()
	hold := func(user int64) int64 {
		t.Helper()
		h, err := c.PlaceHold(ctx, &rpc.HoldRequest{ProgramId: "show", UserId: user, Count: 1})
		if err != nil || h.Status.Code != 0 {
			t.Fatalf("PlaceHold = %v, %v", h, err)
		}
		return h.Hold.HoldId
	}
	move := func(to int32) {
		t.Helper()
		out, err := exec.Command(procs[0].bin, "move", "-rpc", strings.Join(seeds, ","), "-program", "show", "-outbox-wait", "0", "-group", fmt.Sprint(to)).CombinedOutput()
		if err != nil {
			t.Fatalf("seatd move -group %d: %v\n%s", to, err, out)
		}
	}
	first := cp.Status.Group
	second, third := first%3+1, (first+1)%3+1
	a := hold(1)
	move(second)
	b := hold(2)
	move(third)
	r, err := c.Release(ctx, &rpc.ReleaseRequest{HoldId: a, UserId: 1})
	if err != nil || r.Status.Code != 0 || r.Hold.Status != "RELEASED" || r.Status.Group != third {
		t.Fatalf("Release(hold %d of group %d) = %v, %v; want released in group %d", a, first, r, err, third)
	}
	r, err = c.Confirm(ctx, &rpc.ConfirmRequest{HoldId: b})
	if err != nil || r.Status.Code != 0 || r.Hold.Status != "CONFIRMED" || r.Status.Group != third {
		t.Fatalf("Confirm(hold %d of group %d) = %v, %v; want confirmed in group %d", b, second, r, err, third)
	}
}
