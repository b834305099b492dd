package inventory

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

// randomSnapshot runs a random command sequence and returns the engine's
// snapshot and config.
func randomSnapshot(t testing.TB, seed uint64, steps int) ([]byte, Config) {
	h := newHarness(t, rngChooser{rand.New(rand.NewPCG(seed, 0xf0))}, false)
	for range steps {
		h.run()
	}
	return h.e.AppendSnapshot(nil), h.cfg
}

// FuzzSnapshot feeds the decoder damaged snapshots. The checksum is fixed
// up first, so the fuzzer exercises the structural checks behind it. A
// snapshot either fails with an error or restores to a state that passes
// Check and encodes stably.
func FuzzSnapshot(f *testing.F) {
	for seed := range uint64(6) {
		snap, cfg := randomSnapshot(f, seed, 60)
		f.Add(snap, uint16(cfg.Group))
	}
	f.Fuzz(func(t *testing.T, data []byte, group uint16) {
		cfg := Config{Group: int(group % 4), MaxLiveHolds: 16, MaxHolds: 64, MaxSeats: 4096}
		if len(data) > 4 {
			body := data[:len(data)-4]
			binary.LittleEndian.PutUint32(data[len(data)-4:], crc32.Checksum(body, castagnoli))
		}
		e, err := Restore(cfg, data)
		if err != nil {
			return
		}
		if err := e.Check(); err != nil {
			t.Fatalf("restored state fails Check: %v", err)
		}
		once := e.AppendSnapshot(nil)
		e2, err := Restore(cfg, once)
		if err != nil {
			t.Fatalf("re-encoded snapshot does not restore: %v", err)
		}
		if twice := e2.AppendSnapshot(nil); !bytes.Equal(once, twice) {
			t.Fatalf("encoding not stable: %d then %d bytes", len(once), len(twice))
		}
	})
}

func TestSnapshotRoundTripLarge(t *testing.T) {
	for seed := range uint64(20) {
		snap, cfg := randomSnapshot(t, seed, 400)
		e, err := Restore(cfg, snap)
		if err != nil {
			t.Fatalf("seed %d: Restore = %v", seed, err)
		}
		if again := e.AppendSnapshot(nil); !bytes.Equal(snap, again) {
			t.Fatalf("seed %d: restored engine encodes differently", seed)
		}
	}
}

// TestAppendSpec checks that a program's own encoding of its description
// is AppendProgramSpec's of its Spec, whatever its state, and decodes.
func TestAppendSpec(t *testing.T) {
	for seed := range uint64(6) {
		h := newHarness(t, rngChooser{rand.New(rand.NewPCG(seed, 0xf0))}, false)
		for range 200 {
			h.run()
		}
		for _, p := range h.e.programs {
			spec := p.Spec()
			want, err := AppendProgramSpec(nil, &spec)
			if err != nil {
				t.Fatalf("seed %d: AppendProgramSpec(%s) = %v", seed, p.ID(), err)
			}
			got := p.AppendSpec(nil)
			if !bytes.Equal(got, want) {
				t.Fatalf("seed %d: %s: AppendSpec = %d bytes, AppendProgramSpec of Spec = %d", seed, p.ID(), len(got), len(want))
			}
			back, rest, err := ReadProgramSpec(got)
			if err != nil || len(rest) != 0 || back.HoldTTL != p.HoldTTL() {
				t.Fatalf("seed %d: %s: ReadProgramSpec = %v, %d bytes left, hold TTL %v; want %v", seed, p.ID(), err, len(rest), back.HoldTTL, p.HoldTTL())
			}
		}
	}
}

func TestCheckRange(t *testing.T) {
	l, _ := Grid{Sections: 1, Rows: 1, Cols: 4, Categories: []GridCategory{{ID: "a", First: 1, Last: 1}}}.Layout()
	p, err := compile(&ProgramSpec{ID: "t", Stops: []string{"a", "b", "c", "d"}, Categories: []Category{{ID: "a"}}, Layout: l})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		from, to int
		want     Fault
	}{
		{0, 0, noFault},
		{1, 3, noFault},
		{-1, 2, Fault{Field: FieldFrom, Index: -1, Limit: 2, Actual: -1}},
		{3, 0, Fault{Field: FieldFrom, Index: -1, Limit: 2, Actual: 3}},
		{1, 1, Fault{Field: FieldTo, Index: -1, Limit: 3, Actual: 1}},
		{0, 4, Fault{Field: FieldTo, Index: -1, Limit: 3, Actual: 4}},
	} {
		if got := p.CheckRange(c.from, c.to); got != c.want {
			t.Errorf("CheckRange(%d, %d) = %+v; want %+v", c.from, c.to, got, c.want)
		}
	}
}
