//go:build race

package gateway

// raceDetector reports whether the race detector is on: it slows the
// gateway and seatd about tenfold, so tests of programs of millions of
// seats leave the race runs to the smaller programs of the other tests.
const raceDetector = true
