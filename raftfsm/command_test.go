package raftfsm

import (
	"errors"
	"reflect"
	"testing"

	"seatd/inventory"
)

func sampleCommands(t testing.TB) []*Command {
	spec := arena(t)
	return []*Command{
		{Op: OpCreateProgram, Spec: spec},
		{Op: OpOpenSale, Program: "show"},
		{Op: OpCloseSale, Program: "show"},
		{Op: OpBlock, Block: &inventory.BlockRequest{Program: "show", Seats: []string{"A/1/1", "A/1/2"}, From: 0, To: 1}},
		{Op: OpUnblock, Block: &inventory.BlockRequest{Program: "show", Seats: []string{"A/1/1"}}},
		{Op: OpHold, Hold: &inventory.HoldRequest{Program: "show", User: 7, RequestID: inventory.RequestID{1, 2}, Category: "a", Count: 2,
			Together: true, Accessible: true, From: 1, To: 2, CheckTotal: true, ExpectedTotalCents: 500,
			Seats: []string{"A/1/3"}, Holders: []inventory.Holder{{Name: "N", IDType: inventory.IDPassport, IDNumber: "E12345678"}}}},
		{Op: OpHold, Hold: &inventory.HoldRequest{Program: "show", User: 8, Count: 1, Prefer: inventory.PositionAisle}},
		{Op: OpConfirm, HoldID: 1025},
		{Op: OpRelease, HoldID: 1025, Owner: 7, Reason: inventory.ReleaseCancelled},
		{Op: OpRefund, HoldID: 1025, Seats: []string{"A/1/3"}},
		{Op: OpTick},
		{Op: OpAckOutbox, Seq: 42},
		{Op: OpFreeze, Program: "show", Group: 3},
		{Op: OpMarkExported, Program: "show", Group: 3},
		{Op: OpAbortMove, Program: "show"},
		{Op: OpImport, Parcel: []byte("seatdmv\x01parcel")},
		{Op: OpActivate, Program: "show"},
		{Op: OpCompleteMove, Program: "show"},
	}
}

// TestMoveCommandsRefused: a freeze or an export mark for no group and an empty or oversize
// parcel are refused before they reach the log.
func TestMoveCommandsRefused(t *testing.T) {
	for _, c := range []*Command{
		{Op: OpFreeze, Program: "show", Group: 0},
		{Op: OpFreeze, Program: "show", Group: inventory.MaxGroup + 1},
		{Op: OpMarkExported, Program: "show", Group: 0},
		{Op: OpImport},
		{Op: OpImport, Parcel: make([]byte, inventory.MaxParcelBytes+1)},
	} {
		if _, err := encodeCommand(c); !errors.Is(err, ErrBadCommand) {
			t.Errorf("encodeCommand(%v, group %d, %d bytes) = %v; want ErrBadCommand", c.Op, c.Group, len(c.Parcel), err)
		}
	}
}

// TestEntryRoundTrip checks every op decodes to the command encoded.
func TestEntryRoundTrip(t *testing.T) {
	cmds := sampleCommands(t)
	var enc []encodedCommand
	for _, c := range cmds {
		e, err := encodeCommand(c)
		if err != nil {
			t.Fatalf("encodeCommand(%v) = %v", c.Op, err)
		}
		enc = append(enc, e)
	}
	stamp, got, err := decodeEntry(appendEntry(nil, -12345, enc))
	if err != nil || stamp != -12345 || len(got) != len(cmds) {
		t.Fatalf("decodeEntry = %d, %d commands, %v", stamp, len(got), err)
	}
	for i, c := range cmds {
		want := *c
		if c.Op == OpCreateProgram {
			spec := c.Spec
			p, _ := inventory.New(inventory.Config{})
			p.CreateProgram(0, spec)
			prog, _ := p.Program(spec.ID)
			canonical := prog.Spec()
			want.Spec = &canonical
		}
		if !reflect.DeepEqual(got[i], want) {
			t.Errorf("op %v: decoded %+v; want %+v", c.Op, got[i], want)
		}
	}
}

// FuzzDecodeEntry feeds the entry decoder arbitrary bytes: it must return
// an error or commands, never panic.
func FuzzDecodeEntry(f *testing.F) {
	var enc []encodedCommand
	for _, c := range sampleCommands(f) {
		e, _ := encodeCommand(c)
		enc = append(enc, e)
		f.Add(appendEntry(nil, 1, []encodedCommand{e}))
	}
	f.Add(appendEntry(nil, 99, enc))
	f.Fuzz(func(t *testing.T, data []byte) {
		stamp, cmds, err := decodeEntry(data)
		if err != nil {
			return
		}
		// What decodes re-encodes, and decodes to the same commands.
		var again []encodedCommand
		for i := range cmds {
			e, err := encodeCommand(&cmds[i])
			if err != nil {
				return // e.g. a decoded spec that compile now refuses
			}
			again = append(again, e)
		}
		_, cmds2, err := decodeEntry(appendEntry(nil, stamp, again))
		if err != nil || !reflect.DeepEqual(cmds, cmds2) {
			t.Fatalf("re-encoded entry decodes to %v, %v", cmds2, err)
		}
	})
}
