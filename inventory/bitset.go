package inventory

import "math/bits"

// A row's seats are bits of a little bitset: bit p of the row is column
// minCol+p, word p/64, bit p%64. The helpers below work on one row's words
// and never loop per seat: runs, nearest starts and counts come from shifts,
// AND and leading/trailing-zero counts.

// runStarts turns m, in place, into the set of positions p where bits
// p..p+k-1 are all set in m. It doubles the run it has proved (1, 2, 4, ...),
// so k needs about log2(k) passes; k must be in 1..MaxSeatsPerHoldLimit.
func runStarts(m []uint64, k int) {
	have := 1
	for have < k {
		s := min(have, k-have)
		for w := range m {
			next := uint64(0)
			if w+1 < len(m) {
				next = m[w+1] << (64 - s)
			}
			m[w] &= m[w]>>s | next
		}
		have += s
	}
}

// popcount counts the set bits of m.
func popcount(m []uint64) int {
	n := 0
	for _, x := range m {
		n += bits.OnesCount64(x)
	}
	return n
}

// lastSetAtOrBelow returns the highest set position <= t in m, or -1.
func lastSetAtOrBelow(m []uint64, t int) int {
	if t < 0 {
		return -1
	}
	w := t >> 6
	if w >= len(m) {
		w = len(m) - 1
		t = w<<6 | 63
	}
	x := m[w] & (^uint64(0) >> (63 - uint(t&63)))
	for {
		if x != 0 {
			return w<<6 | (63 - bits.LeadingZeros64(x))
		}
		w--
		if w < 0 {
			return -1
		}
		x = m[w]
	}
}

// firstSetAbove returns the lowest set position > t in m, or -1.
func firstSetAbove(m []uint64, t int) int {
	p := t + 1
	if p < 0 {
		p = 0
	}
	w := p >> 6
	if w >= len(m) {
		return -1
	}
	x := m[w] & (^uint64(0) << uint(p&63))
	for {
		if x != 0 {
			return w<<6 | bits.TrailingZeros64(x)
		}
		w++
		if w >= len(m) {
			return -1
		}
		x = m[w]
	}
}

// nearestStart picks, among the set positions of starts, the block start
// whose block of k seats is nearest the centre of a row of the given width;
// on a tie the lower position wins. It returns -1 if starts is empty.
//
// The distance of a start p is |2p + k - width| (twice the distance of the
// block's centre from the row's centre), which falls as p rises to
// t = (width-k)/2 and rises after it; so the best start is either the last
// one at or below t or the first one above it.
func nearestStart(starts []uint64, k, width int) int {
	t := (width - k) >> 1
	if width < k {
		t = -1
	}
	lo := lastSetAtOrBelow(starts, t)
	hi := firstSetAbove(starts, t)
	switch {
	case lo < 0:
		return hi
	case hi < 0:
		return lo
	}
	if abs(2*hi+k-width) < abs(2*lo+k-width) {
		return hi
	}
	return lo
}

// nearestTo is nearestStart for any target: among the set positions of
// starts, the position p that minimises |step*p - target| (step > 0), the
// lower on a tie, or -1 if starts is empty. A focal point's target is
// focalTarget's. The distance falls as p rises to t = target/step and
// rises after it, as nearestStart's does; every negative t gives the same
// two candidates, as positions are not negative. nearestStart is this
// with target width-k and step 2, kept apart for the division it saves.
func nearestTo(starts []uint64, target, step int) int {
	t := -1
	if target >= 0 {
		t = target / step
	}
	lo := lastSetAtOrBelow(starts, t)
	hi := firstSetAbove(starts, t)
	switch {
	case lo < 0:
		return hi
	case hi < 0:
		return lo
	}
	if abs(step*hi-target) < abs(step*lo-target) {
		return hi
	}
	return lo
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// longestRun returns the length of the longest run of set bits in m,
// visiting each run once (not each seat).
func longestRun(m []uint64) int {
	best, cur := 0, 0 // cur: the run that reaches the top of the previous word
	for _, x := range m {
		if x == ^uint64(0) {
			cur += 64
			continue
		}
		low := bits.TrailingZeros64(^x) // the open run continues through x's low ones
		best = max(best, cur+low)
		cur = bits.LeadingZeros64(^x) // ones at the top of x carry into the next word
		x >>= uint(low)
		for x != 0 {
			x >>= uint(bits.TrailingZeros64(x))
			run := bits.TrailingZeros64(^x)
			best = max(best, run)
			x >>= uint(run)
		}
	}
	return max(best, cur)
}
