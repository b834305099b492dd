package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSystem starts what `make run` starts, on free ports, runs the curl
// commands it prints (holds on both demo programs with the printed
// token), and stops it.
func TestSystem(t *testing.T) {
	info, out, stop := startDev(t, systemConfig{})
	for _, want := range []string{info.URL + "/", "export TOKEN=" + info.BuyerToken, "curl -s -X POST " + info.URL + "/v1/programs/demo-arena/holds"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the guide lacks %q", want)
		}
	}
	// Run the printed curl commands as a user pastes them: each must
	// succeed, and the two holds hold what they ask for.
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatalf("curl is needed to run the printed commands: %v", err)
	}
	var answers []map[string]any
	for _, cmd := range strings.Split(strings.ReplaceAll(out.String(), "\\\n", ""), "\n") {
		cmd = strings.TrimSpace(cmd)
		if !strings.HasPrefix(cmd, "curl ") {
			continue
		}
		sh := exec.Command("sh", "-c", cmd+` -w '\n%{http_code}'`)
		sh.Env = append(os.Environ(), "TOKEN="+info.BuyerToken, "ADMIN="+info.AdminToken)
		b, err := sh.Output()
		cut := bytes.LastIndexByte(b, '\n')
		body, code := string(b[:max(cut, 0)]), string(b[cut+1:])
		if err != nil || !strings.HasPrefix(code, "2") {
			t.Fatalf("%s: %v %s %s", cmd, err, code, body)
		}
		var m map[string]any
		json.Unmarshal([]byte(body), &m)
		answers = append(answers, m)
	}
	if len(answers) != 9 {
		t.Fatalf("ran %d curl commands; the guide prints 9", len(answers))
	}
	if h := answers[1]; len(h["seats"].([]any)) != 2 || h["total_cents"].(float64) != 256000 {
		t.Fatalf("arena hold = %v", h)
	}
	if h := answers[2]; h["from"].(float64) != 1 || h["to"].(float64) != 3 || len(h["seats"].([]any)) != 1 ||
		!strings.ContainsAny(h["seats"].([]any)[0].(map[string]any)["label"].(string), "AF") {
		t.Fatalf("train hold = %v; want one window seat (A or F) from stop 1 to 3", h)
	}
	stop()
}

// startDev runs what `make run` runs, on free ports, until the test ends
// or stop is called, and returns what it printed.
func startDev(t *testing.T, cfg systemConfig) (systemInfo, *bytes.Buffer, func()) {
	t.Helper()
	cfg.HTTPAddr, cfg.RPCAddr, cfg.RaftAddr, cfg.OrdersAddr, cfg.MetricsAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan systemInfo, 1)
	done := make(chan error, 1)
	out := &syncBuffer{}
	go func() { done <- runSystem(ctx, cfg, out, ready) }()
	var info systemInfo
	select {
	case info = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("runSystem = %v", err)
	case <-time.After(90 * time.Second):
		cancel()
		t.Fatal("the system did not start in 90s")
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("runSystem = %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("the system did not stop")
		}
	}
	t.Cleanup(stop)
	return info, out.snapshot(), stop
}

// syncBuffer is the output runSystem writes while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// snapshot copies what was written so far (the guide, once ready).
func (b *syncBuffer) snapshot() *bytes.Buffer {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.NewBuffer(bytes.Clone(b.buf.Bytes()))
}
