// Package localserver holds what the packages that run a server process
// on this machine share (internal/redisserver, internal/pgserver,
// internal/kafkatest): a free loopback port to give it, and the end of
// its log to show when it fails.
package localserver

import (
	"fmt"
	"net"
	"os"
	"strings"
)

// LogLines is how many lines of a server's log Tail returns.
const LogLines = 40

// FreePorts returns n loopback ports that were free a moment ago (held
// open together, so they differ).
func FreePorts(n int) ([]int, error) {
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}

// Tail returns the last LogLines lines of the log at path, or why it
// cannot be read.
func Tail(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-LogLines):], "\n")
}
