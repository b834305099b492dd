package measure

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"strconv"
)

// userHZ is the unit of /proc/PID/stat's CPU times: USER_HZ, 100 on
// every Linux architecture Go supports (the kernel's ABI fixes it).
const userHZ = 100

// ProcCPU is one process's CPU time.
type ProcCPU struct {
	PID     int     `json:"pid"`
	Name    string  `json:"name"`    // the command, as /proc/PID/stat names it
	Seconds float64 `json:"seconds"` // user + system
}

// ReadCPU reads the user and system CPU time of process pid (and of its
// threads) from /proc/PID/stat, in steps of 10 ms. pid 0 is this process.
func ReadCPU(pid int) (ProcCPU, error) {
	path := "/proc/self/stat"
	if pid != 0 {
		path = "/proc/" + strconv.Itoa(pid) + "/stat"
	} else {
		pid = os.Getpid()
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return ProcCPU{}, fmt.Errorf("measure: cpu of %d: %w", pid, err)
	}
	// "pid (comm) state ppid ...": comm may hold spaces and parentheses,
	// so fields are counted after its last ')'.
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return ProcCPU{}, fmt.Errorf("measure: cpu of %d: malformed %s", pid, path)
	}
	f := bytes.Fields(b[end+1:])
	// After comm: state(0) ... utime is field 14 of the line, index 11 here; stime 12.
	if len(f) < 13 {
		return ProcCPU{}, fmt.Errorf("measure: cpu of %d: %s has %d fields after the command", pid, path, len(f))
	}
	ut, err1 := strconv.ParseUint(string(f[11]), 10, 64)
	st, err2 := strconv.ParseUint(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return ProcCPU{}, fmt.Errorf("measure: cpu of %d: utime %q, stime %q in %s", pid, f[11], f[12], path)
	}
	return ProcCPU{PID: pid, Name: string(b[open+1 : end]), Seconds: float64(ut+st) / userHZ}, nil
}

// CPU is the CPU time of the processes involved in a run, over its
// measured window.
type CPU struct {
	Processes []ProcCPU `json:"processes"` // this process first
	Seconds   float64   `json:"seconds"`   // all of them
	// PerHold is Seconds over the holds placed in the window: the cost of
	// a hold across every layer, comparable between targets on a shared
	// machine. PerRequest is Seconds over every hold request answered,
	// refusals included (after a sell-out few holds are placed).
	PerHold    float64 `json:"seconds_per_hold"`
	PerRequest float64 `json:"seconds_per_hold_request"`
	Error      string  `json:"error,omitempty"` // a process that could not be read
}

// CPUMeter measures processes' CPU time from its start.
type CPUMeter struct {
	pids  []int
	start []ProcCPU
}

// StartCPU starts measuring this process and pids (a target's
// processes). A process that has ended by then is left out: a server's
// list of its processes can name one that ends before it is read (a
// PostgreSQL backend whose connection the pool closed, an autovacuum
// worker), and its time is no part of the window. Any other failure to
// read one is an error.
func StartCPU(pids []int) (*CPUMeter, error) {
	m := &CPUMeter{}
	for _, pid := range append([]int{0}, pids...) {
		c, err := ReadCPU(pid)
		if errors.Is(err, fs.ErrNotExist) && pid != 0 {
			continue
		}
		if err != nil {
			return nil, err
		}
		m.pids, m.start = append(m.pids, pid), append(m.start, c)
	}
	return m, nil
}

// Stop returns the CPU time used since StartCPU, per hold of holds
// placed and per request of requests answered.
func (m *CPUMeter) Stop(holds, requests int64) CPU {
	var out CPU
	for i, pid := range m.pids {
		c, err := ReadCPU(pid)
		if err != nil {
			out.Error = err.Error()
			continue
		}
		c.Seconds = math.Round((c.Seconds-m.start[i].Seconds)*100) / 100
		out.Processes = append(out.Processes, c)
		out.Seconds += c.Seconds
	}
	out.Seconds = math.Round(out.Seconds*100) / 100
	if holds > 0 {
		out.PerHold = out.Seconds / float64(holds)
	}
	if requests > 0 {
		out.PerRequest = out.Seconds / float64(requests)
	}
	return out
}
