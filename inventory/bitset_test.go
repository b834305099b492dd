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

		// runStarts and nearestStart
		k := 1 + r.IntN(MaxSeatsPerHoldLimit)
		starts := append([]uint64(nil), m...)
		runStarts(starts, k)
		sb := naiveBits(starts, width)
		best := -1
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
		}
		if got := nearestStart(starts, k, width); got != best {
			t.Fatalf("iter %d: nearestStart(k=%d, width=%d) = %d; want %d", iter, k, width, got, best)
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
