package inventory

import (
	"math/rand/v2"
	"testing"
)

// naiveBits is the bitset as a slice of bools, for checking the word tricks.
func naiveBits(m []uint64, width int) []bool {
	b := make([]bool, width)
	for p := range b {
		b[p] = m[p>>6]&(1<<(p&63)) != 0
	}
	return b
}

func TestBitsetHelpers(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for iter := range 20000 {
		width := 1 + r.IntN(300)
		words := (width + 63) / 64
		m := make([]uint64, words)
		density := r.Float64()
		for p := range width {
			if r.Float64() < density {
				m[p>>6] |= 1 << (p & 63)
			}
		}
		b := naiveBits(m, width)

		// longestRun
		want, cur := 0, 0
		for _, v := range b {
			if v {
				cur++
				want = max(want, cur)
			} else {
				cur = 0
			}
		}
		if got := longestRun(m); got != want {
			t.Fatalf("iter %d: longestRun(%x) = %d; want %d", iter, m, got, want)
		}
		if got, want := popcount(m), countTrue(b); got != want {
			t.Fatalf("popcount(%x) = %d; want %d", m, got, want)
		}

		// runStarts, nearestStart, and nearestTo for a target anywhere
		// near the row (a focal point's: step 10)
		k := 1 + r.IntN(MaxSeatsPerHoldLimit)
		target := r.IntN(20*width+40) - 20
		starts := append([]uint64(nil), m...)
		runStarts(starts, k)
		sb := naiveBits(starts, width)
		best, nearest := -1, -1
		for p := range width {
			ok := p+k <= width
			for j := 0; ok && j < k; j++ {
				ok = b[p+j]
			}
			if sb[p] != ok {
				t.Fatalf("iter %d: runStarts(k=%d) bit %d = %v; want %v", iter, k, p, sb[p], ok)
			}
			if ok && (best < 0 || abs(2*p+k-width) < abs(2*best+k-width)) {
				best = p
			}
			if ok && (nearest < 0 || abs(10*p-target) < abs(10*nearest-target)) {
				nearest = p
			}
		}
		if got := nearestStart(starts, k, width); got != best {
			t.Fatalf("iter %d: nearestStart(k=%d, width=%d) = %d; want %d", iter, k, width, got, best)
		}
		if got := nearestTo(starts, target, 10); got != nearest {
			t.Fatalf("iter %d: nearestTo(%d, 10) = %d; want %d", iter, target, got, nearest)
		}
	}
}

func countTrue(b []bool) int {
	n := 0
	for _, v := range b {
		if v {
			n++
		}
	}
	return n
}

// TestKeepStarts checks keepStarts, which filters every start at once with
// shifts across word boundaries, against the orphan rule read seat by seat,
// on rows up to five words wide, with blocks of 63 and 64 and runs ending
// at the words' edges (positions 63, 64, 127, 128) drawn often.
func TestKeepStarts(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 13))
	edges := []int{0, 1, 62, 63, 64, 65, 126, 127, 128, 129, 191, 192}
	for iter := range 20000 {
		width := 1 + r.IntN(320)
		words := (width + 63) / 64
		empty := make([]uint64, words)
		density := r.Float64()
		for p := range width {
			if r.Float64() < density {
				empty[p>>6] |= 1 << (p & 63)
			}
		}
		// Single empty seats and single gaps at the word edges.
		for range r.IntN(4) {
			if p := edges[r.IntN(len(edges))]; p < width {
				empty[p>>6] ^= 1 << (p & 63)
			}
		}
		k := 1 + r.IntN(MaxSeatsPerHoldLimit)
		if r.IntN(3) == 0 {
			k = []int{1, 2, 63, 64}[r.IntN(4)]
		}
		starts := make([]uint64, words)
		for w := range starts {
			starts[w] = ^uint64(0)
		}
		keepStarts(starts, empty, k)
		e, s := naiveBits(empty, words*64), naiveBits(starts, words*64)
		at := func(p int) bool { return p >= 0 && p < len(e) && e[p] }
		for p := range s {
			strands := at(p-1) && !at(p-2) || at(p+k) && !at(p+k+1)
			if s[p] == strands {
				t.Fatalf("iter %d: keepStarts(k=%d, empty %x) kept start %d = %v; want %v", iter, k, empty, p, s[p], !strands)
			}
		}
	}
}
