// Package kafkatest gives tests a Kafka broker: Embedded, an in-process
// broker that speaks the Kafka protocol (franz-go's kfake), for fast unit
// tests; and Real, an Apache Kafka 4.4 broker in its own JVM
// (scripts/kafka/kafka), for tests of what only the real thing shows:
// topic settings, acknowledged writes surviving a restart, a broker that
// stops mid-sale.
//
// Each call starts one broker for the test that asked, and the test's
// cleanup stops it. Stop, Start and Kill wait until the broker is down or
// answering, and report failures (t.Fatal, t.Skip) to the test that called
// Real: call them from that test's goroutine, not from a subtest or a
// goroutine of its own. Addrs may be called from anywhere.
//
// A real broker needs Java 17 and, once per machine, Maven (to fetch the
// jars into ~/.m2). Where either is missing, Real skips the test, saying
// why; with CI set in the environment it fails the test instead, so that
// CI never passes by skipping. KAFKA_BROKERS (host:port,host:port) points
// Real at brokers already running instead: the tests then share them, and
// tests that Stop, Start or Kill a broker skip.
package kafkatest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"seatd/internal/localserver"
)

const (
	// MaxStartWait bounds how long a real broker may take to answer after
	// it is started. It serves in 5-15 s on a 2-core machine; the rest is
	// headroom for a machine busy with other tests.
	MaxStartWait = 90 * time.Second

	// MaxStopWait bounds a graceful stop: SIGTERM, then SIGKILL. A
	// single-node broker shuts down in 2-3 s.
	MaxStopWait = 20 * time.Second

	// MaxFetchWait bounds the first fetch of the broker's jars on a
	// machine (about 70 MB from Maven Central); later fetches read a cache.
	MaxFetchWait = 10 * time.Minute
)

// Embedded starts an in-process, single-broker Kafka (kfake) on a loopback
// port and returns its addresses; the test's cleanup closes it. Topics
// are created only on request, as on the real broker. It keeps everything
// in memory and answers within microseconds, but it is not Kafka: use Real
// where the test is about the broker's own behaviour.
func Embedded(t testing.TB) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatalf("kafkatest: starting the embedded broker: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// Brokers returns the addresses of a broker for the test: Embedded's, or
// with SEATD_KAFKA=real in the environment, Real's, so that one test or
// benchmark runs on either (SEATD_KAFKA=real go test -bench ...).
func Brokers(t testing.TB) []string {
	t.Helper()
	if os.Getenv("SEATD_KAFKA") == "real" {
		return Real(t).Addrs()
	}
	return Embedded(t)
}

// Broker is a real Kafka broker started for one test, or brokers named by
// KAFKA_BROKERS.
type Broker struct {
	t        testing.TB
	addrs    []string
	external bool // named by KAFKA_BROKERS: not ours to stop

	// Set at start and fixed after: a restart reuses them, so that clients
	// and the data the broker wrote find it where it was.
	script string
	dir    string
	port   int
	cport  int

	mu   sync.Mutex // guards proc
	proc *process   // nil when stopped
}

// process is one run of the broker's JVM.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, set before done is closed
}

// Real returns a real Apache Kafka 4.4 broker for t: the brokers in
// KAFKA_BROKERS if set, or else a new single-node broker on free loopback
// ports with its data in a temporary directory, stopped (with every
// process it started) by t's cleanup. It skips t, or fails it when CI is
// set, if the broker cannot be had here; it fails t if the broker does
// not answer within MaxStartWait, showing the end of its log.
func Real(t testing.TB) *Broker {
	t.Helper()
	if list := os.Getenv("KAFKA_BROKERS"); list != "" {
		var addrs []string
		for _, a := range strings.Split(list, ",") {
			if a = strings.TrimSpace(a); a != "" {
				addrs = append(addrs, a)
			}
		}
		if len(addrs) == 0 {
			t.Fatalf("kafkatest: KAFKA_BROKERS=%q names no broker", list)
		}
		return &Broker{t: t, addrs: addrs, external: true}
	}

	script, err := scriptPath()
	if err != nil {
		unavailable(t, "%v", err)
	}
	if _, err := exec.LookPath("java"); err != nil {
		unavailable(t, "kafkatest: java is not installed: Kafka 4.4 needs Java 17 or later (Debian: apt-get install openjdk-17-jre-headless)")
	}
	if err := fetch(script); err != nil {
		unavailable(t, "%v", err)
	}

	// Not t.TempDir: a test binary killed at its timeout leaves that
	// behind, and a broker's log is large; a later run removes this one.
	dir, err := localserver.MkdirTemp("kafkatest-")
	if err != nil {
		t.Fatalf("kafkatest: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	b := &Broker{t: t, script: script, dir: dir}
	// The ports are reserved for this process until it exits, so a
	// restart binds them again; new ones are tried if a process outside
	// the reservation took one.
	err = localserver.StartOnFreePorts(2, func(ports []int) error {
		b.port, b.cport = ports[0], ports[1]
		b.addrs = []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(b.port))}
		return b.start()
	}, func(error) bool { return b.logContains("Address already in use") })
	t.Cleanup(func() {
		// Whatever failed, the broker's view of it helps.
		if t.Failed() {
			t.Logf("kafkatest: the end of the broker's log (%s):\n%s", b.logPath(), b.tail())
		}
		b.Kill()
	})
	if err != nil {
		t.Fatalf("kafkatest: %v (the end of its log follows)", err)
	}
	return b
}

// Addrs returns the addresses of the broker's client listener.
func (b *Broker) Addrs() []string { return b.addrs }

// Stop stops the broker as an operator would: SIGTERM, which lets it close
// its logs cleanly, then SIGKILL if it has not exited within MaxStopWait.
// It returns when the broker's processes are gone. Stopping a stopped
// broker does nothing.
func (b *Broker) Stop() {
	b.t.Helper()
	b.skipIfExternal("Stop")
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopLocked(MaxStopWait)
}

// Kill stops the broker at once with SIGKILL, as a crash would: on Start
// it recovers its logs from whatever reached the disk.
func (b *Broker) Kill() {
	b.t.Helper()
	b.skipIfExternal("Kill")
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopLocked(0)
}

// Start restarts a stopped broker on the same ports and the same data
// directory, and waits until it answers (at most MaxStartWait): topics and
// the messages written before the stop are still there. Starting a
// running broker is a bug in the test.
func (b *Broker) Start() {
	b.t.Helper()
	b.skipIfExternal("Start")
	if err := b.start(); err != nil {
		b.t.Fatalf("kafkatest: %v (the end of its log follows)", err)
	}
}

func (b *Broker) skipIfExternal(op string) {
	b.t.Helper()
	if b.external {
		b.t.Skipf("kafkatest: %s: KAFKA_BROKERS names shared brokers, which a test may not stop or restart", op)
	}
}

// start runs the broker and waits until it answers; on failure the broker
// is stopped.
func (b *Broker) start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.proc != nil {
		b.t.Fatalf("kafkatest: Start: the broker on %s is already running", b.addrs[0])
	}
	log, err := os.OpenFile(b.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("starting the broker: %w", err)
	}
	defer log.Close() // the child has its own copy
	fmt.Fprintf(log, "=== kafkatest: %s run %s %d %d at %s\n", b.script, b.dir, b.port, b.cport, time.Now().Format(time.RFC3339Nano))

	cmd := exec.Command(b.script, "run", b.dir, strconv.Itoa(b.port), strconv.Itoa(b.cport))
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own process group, so that stopping it reaches the JVM and
		// anything else the script started.
		Setpgid: true,
		// A test binary that dies without its cleanups (a -timeout panic,
		// a signal) takes the JVM with it instead of leaving it bound to
		// the port.
		Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", b.script, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	b.proc = p

	began := time.Now()
	deadline := began.Add(MaxStartWait)
	for {
		if err := ready(b.addrs[0]); err == nil {
			b.t.Logf("kafkatest: broker on %s answered in %v", b.addrs[0], time.Since(began).Round(time.Millisecond))
			return nil
		} else if time.Now().After(deadline) {
			b.stopLocked(0)
			return fmt.Errorf("the broker on %s did not answer within %v: %w", b.addrs[0], MaxStartWait, err)
		}
		select {
		case <-p.done:
			b.stopLocked(0) // its group may outlive it
			return fmt.Errorf("the broker on %s exited while starting: %v", b.addrs[0], p.err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// stopLocked sends SIGTERM to the broker's process group, then SIGKILL
// after grace (at once if grace is 0), and waits for the process to exit.
func (b *Broker) stopLocked(grace time.Duration) {
	p := b.proc
	if p == nil {
		return
	}
	b.proc = nil
	pgid := p.cmd.Process.Pid
	if grace > 0 {
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
			b.t.Logf("kafkatest: the broker on %s ignored SIGTERM for %v; killing it", b.addrs[0], grace)
		}
	}
	// Also after a clean exit: nothing of the group may stay behind.
	// ESRCH (no such group) is the usual answer.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-p.done
}

// ready returns nil once the broker at addr lists itself in its metadata,
// which a KRaft broker does only once it is registered with the
// controller and unfenced, so that topics can be created.
func ready(addr string) error {
	tr := &kafka.Transport{DialTimeout: time.Second}
	defer tr.CloseIdleConnections()
	c := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 2 * time.Second, Transport: tr}
	md, err := c.Metadata(context.Background(), &kafka.MetadataRequest{})
	if err != nil {
		return err
	}
	if len(md.Brokers) == 0 {
		return errors.New("no broker is registered yet")
	}
	return nil
}

func (b *Broker) logPath() string { return filepath.Join(b.dir, "kafka.log") }

func (b *Broker) logContains(s string) bool {
	data, _ := os.ReadFile(b.logPath())
	return bytes.Contains(data, []byte(s))
}

// tail returns the last lines of the broker's log.
func (b *Broker) tail() string {
	return localserver.Tail(b.logPath())
}

// unavailable skips t because a real broker cannot be had here, or fails
// it when CI is set: CI must run every test.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf(format+" (CI is set, so this fails instead of skipping)", args...)
	}
	t.Skipf(format, args...)
}

// fetched holds the outcome of this process's one fetch, by script path.
var fetched struct {
	sync.Mutex
	done map[string]error
}

// fetch runs the script's fetch once per test process (and it returns at
// once when the machine's cache is complete).
func fetch(script string) error {
	fetched.Lock()
	defer fetched.Unlock()
	if err, ok := fetched.done[script]; ok {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), MaxFetchWait)
	defer cancel()
	out, err := exec.CommandContext(ctx, script, "fetch").CombinedOutput()
	if err != nil {
		err = fmt.Errorf("kafkatest: %s fetch: %v\n%s", script, err, bytes.TrimSpace(out))
	}
	if fetched.done == nil {
		fetched.done = map[string]error{}
	}
	fetched.done[script] = err
	return err
}

// scriptPath finds scripts/kafka/kafka in the module that holds the
// working directory (go test runs in the package's directory).
func scriptPath() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("kafkatest: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, "scripts", "kafka", "kafka")
			if _, err := os.Stat(p); err != nil {
				return "", fmt.Errorf("kafkatest: the broker script: %w", err)
			}
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("kafkatest: no go.mod above the working directory, so no scripts/kafka/kafka")
		}
		dir = parent
	}
}
