//go:build !race

package gateway

// raceDetector: see race_test.go.
const raceDetector = false
