package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestSystem starts what `make run` starts, on free ports, runs the curl
// commands it prints (holds on both demo programs with the printed
// token), and stops it.
func TestSystem(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan systemInfo, 1)
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() {
		done <- runSystem(ctx, systemConfig{HTTPAddr: "127.0.0.1:0", RPCAddr: "127.0.0.1:0", RaftAddr: "127.0.0.1:0", DataDir: t.TempDir()}, &out, ready)
	}()
	var info systemInfo
	select {
	case info = <-ready:
	case err := <-done:
		t.Fatalf("runSystem = %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("the system did not start in 60s")
	}
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
	if len(answers) != 8 {
		t.Fatalf("ran %d curl commands; the guide prints 8", len(answers))
	}
	if h := answers[1]; len(h["seats"].([]any)) != 2 || h["total_cents"].(float64) != 256000 {
		t.Fatalf("arena hold = %v", h)
	}
	if h := answers[2]; h["from"].(float64) != 1 || h["to"].(float64) != 3 {
		t.Fatalf("train hold = %v", h)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("runSystem = %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the system did not stop")
	}
}
