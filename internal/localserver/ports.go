package localserver

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// A port that is free when probed and closed again before its server
// binds can be taken in between: by a connection's source port, which
// the kernel picks from its ephemeral range, by another test process's
// probe, or by a server that process starts. FreePorts closes that gap
// for the processes that use it: the ports come from outside the
// ephemeral range, and each is locked (an exclusive flock on a file named
// after it in PortLockDir) for as long as this process lives, so a
// killed server is restarted on its ports, and no other process using
// FreePorts is given them meanwhile.

// PortLockDir is the directory, under the system's temporary directory,
// of the lock files of reserved ports: one empty file a port.
const PortLockDir = "localserver-ports"

// MaxReservedPorts bounds the ports one process reserves over its life
// (each holds an open lock file until the process exits).
const MaxReservedPorts = 2048

// ephemeralRangeFile is where Linux keeps the range it picks source
// ports and bind-to-port-0 ports from (ip-sysctl.rst,
// net.ipv4.ip_local_port_range).
const ephemeralRangeFile = "/proc/sys/net/ipv4/ip_local_port_range"

// minReservable is the lowest port FreePorts gives: below it are the
// registered ports of common servers (PostgreSQL's 5432, Redis's 6379,
// Kafka's 9092).
const minReservable = 10000

// reservedPorts holds the lock file of each port this process reserved;
// mu guards it and nextPort, where the next search starts.
var (
	reservedPorts = map[int]*os.File{}
	nextPort      int
)

// FreePorts reserves n loopback TCP ports for this process and returns
// them, each different, free when probed (a listener on 127.0.0.1 could
// bind it), outside the kernel's ephemeral range, and given to no other
// process that calls FreePorts while this one lives. Where the ephemeral
// range leaves fewer than 1,000 ports above minReservable on either
// side, it falls back to ports the kernel picks, held open together so
// that they differ. It fails when no free port is left in the range, or
// past MaxReservedPorts.
func FreePorts(n int) ([]int, error) {
	lo, hi := reservableRange()
	if lo == 0 {
		return kernelPorts(n)
	}
	dir := filepath.Join(os.TempDir(), PortLockDir)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, fmt.Errorf("localserver: %w", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reservedPorts)+n > MaxReservedPorts {
		return nil, fmt.Errorf("localserver: %d ports reserved, %d more asked for: over MaxReservedPorts (%d)", len(reservedPorts), n, MaxReservedPorts)
	}
	size := hi - lo + 1
	if nextPort == 0 {
		// Processes start their searches apart, so they rarely try the
		// same lock files.
		nextPort = lo + os.Getpid()*97%size
	}
	ports := make([]int, 0, n)
	for tried := 0; len(ports) < n; tried++ {
		if tried == size {
			return nil, fmt.Errorf("localserver: no free port left in %d-%d", lo, hi)
		}
		port := nextPort
		nextPort = lo + (nextPort-lo+1)%size
		if reservedPorts[port] != nil {
			continue
		}
		f, err := lock(filepath.Join(dir, strconv.Itoa(port)), os.O_CREATE)
		if err != nil {
			continue // another process holds it
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			f.Close()
			continue // a server that does not use FreePorts has it
		}
		l.Close()
		reservedPorts[port] = f
		ports = append(ports, port)
	}
	return ports, nil
}

// reservableRange returns the ports FreePorts may give: those from
// minReservable below the ephemeral range if at least 1,000, else those
// above it if at least 1,000, else 0, 0.
func reservableRange() (lo, hi int) {
	eLo, eHi := 32768, 60999 // Linux's default
	if data, err := os.ReadFile(ephemeralRangeFile); err == nil {
		if f := strings.Fields(string(data)); len(f) == 2 {
			a, errA := strconv.Atoi(f[0])
			b, errB := strconv.Atoi(f[1])
			if errA == nil && errB == nil && a <= b {
				eLo, eHi = a, b
			}
		}
	}
	switch {
	case eLo-minReservable >= 1000:
		return minReservable, eLo - 1
	case 65535-max(eHi, minReservable-1) >= 1000:
		return max(eHi+1, minReservable), 65535
	}
	return 0, 0
}

// kernelPorts returns n ports the kernel picks, held open together so
// that they differ: free a moment ago, with no reservation.
func kernelPorts(n int) ([]int, error) {
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("localserver: finding a free port: %w", err)
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}

// FreeAddrs is FreePorts as "127.0.0.1:port" addresses.
func FreeAddrs(n int) ([]string, error) {
	ports, err := FreePorts(n)
	if err != nil {
		return nil, err
	}
	addrs := make([]string, n)
	for i, p := range ports {
		addrs[i] = net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
	}
	return addrs, nil
}

// MaxStartAttempts is how many sets of ports StartOnFreePorts tries.
const MaxStartAttempts = 3

// StartOnFreePorts starts a server on n ports from FreePorts: it calls
// start with them and, while start fails because a port was taken (a
// process that does not use FreePorts bound it after the probe:
// portTaken, given start's error, says so from the server's log), tries
// new ports, MaxStartAttempts times in all. It returns start's last
// error, or FreePorts' error.
func StartOnFreePorts(n int, start func(ports []int) error, portTaken func(error) bool) error {
	var err error
	for attempt := 1; attempt <= MaxStartAttempts; attempt++ {
		ports, perr := FreePorts(n)
		if perr != nil {
			return errors.Join(perr, err)
		}
		if err = start(ports); err == nil || !portTaken(err) {
			return err
		}
	}
	return err
}
