package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSystem starts what `make run` starts, on free ports, holds seats on
// both demo programs through the HTTP API with the printed token, and
// stops it.
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
	hold := func(program, body string) map[string]any {
		req, _ := http.NewRequest("POST", info.URL+"/v1/programs/"+program+"/holds", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+info.BuyerToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		json.Unmarshal(b, &m)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("hold on %s = %d %s", program, resp.StatusCode, b)
		}
		return m
	}
	if h := hold("demo-arena", `{"category":"vip","count":2}`); len(h["seats"].([]any)) != 2 || h["total_cents"].(float64) != 256000 {
		t.Fatalf("arena hold = %v", h)
	}
	if h := hold("demo-train", `{"category":"second","count":1,"from":1,"to":3,"holders":[{"name":"Li Lei","id_number":"110101199001011237"}]}`); h["from"].(float64) != 1 || h["to"].(float64) != 3 {
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
