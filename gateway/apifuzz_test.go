package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// schemathesisVersion is the schemathesis release the API fuzz run is
// made for; .ci/run installs it.
const schemathesisVersion = "4.32.5"

// fuzzBuyers is how many buyer tokens the fuzz run takes turns with: a
// run sends a few thousand requests, so that no buyer comes near a
// program's seats per buyer, which would turn holds into LIMIT_EXCEEDED.
const fuzzBuyers = 2000

// TestAPIFuzz runs schemathesis (testdata/apifuzz/schemathesis.toml)
// against a real system: one seatd node behind real Kitex, the gateway
// with dev tokens on, and three
// programs: make run's demo arena and real-name train on sale, and an
// arena whose sale is closed. Every check, every phase: no 5xx but the documented 501s,
// no answer the description does not describe, no request the
// description refuses taken, none it allows refused as malformed. It
// runs when SEATD_API_FUZZ is set (make fuzz-api); without schemathesis
// it fails in CI and skips elsewhere, saying how to install it.
func TestAPIFuzz(t *testing.T) {
	if os.Getenv("SEATD_API_FUZZ") == "" {
		t.Skip("the API fuzz run: make fuzz-api")
	}
	st, err := exec.LookPath("st")
	if err != nil {
		install := "pip install schemathesis==" + schemathesisVersion
		if os.Getenv("CI") != "" {
			t.Fatalf("schemathesis is missing (%v): .ci/run installs it with %s", err, install)
		}
		t.Skipf("schemathesis is not installed (%v): %s", err, install)
	}
	if v, _ := exec.Command(st, "--version").Output(); !strings.Contains(string(v), "version "+schemathesisVersion) {
		msg := fmt.Sprintf("schemathesis %q is installed, the run is made for %s: pip install schemathesis==%s",
			strings.TrimSpace(string(v)), schemathesisVersion, schemathesisVersion)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Log(msg)
	}
	// The per-buyer rate is raised (startSystem's 1,000/s): the fuzzer
	// reads and releases a hold as the buyer who made it, many times a
	// second, and at the default 5/s most of those would be 429s.
	// TestAdmission tests the rate itself.
	s := startSystem(t)
	// make run's demo programs, with holds that lapse in 10 s so that
	// seats come back during the run, and an arena whose sale is closed.
	arena := func(id string) {
		s.want(s.do("POST", "/v1/programs", adminToken, map[string]any{
			"id": id, "name": "Demo Arena", "hold_ttl_seconds": 10, "max_seats_per_hold": 6, "max_seats_per_user": 12,
			"categories": []map[string]any{{"id": "vip", "name": "VIP", "price_cents": 128000},
				{"id": "a", "name": "Category A", "price_cents": 68000}, {"id": "b", "name": "Category B", "price_cents": 38000}},
			"grid": map[string]any{"sections": 2, "rows": 12, "cols": 20, "categories": []map[string]any{
				{"id": "vip", "rows": []int{1, 2}}, {"id": "a", "rows": []int{3, 7}}, {"id": "b", "rows": []int{8, 12}}}},
		}, nil), http.StatusCreated, "")
	}
	arena("demo-arena")
	arena("demo-closed")
	s.want(s.do("POST", "/v1/programs", adminToken, map[string]any{
		"id": "demo-train", "name": "G101 Beijing - Shanghai", "stops": []string{"Beijing", "Jinan", "Nanjing", "Shanghai"},
		"real_name": true, "hold_ttl_seconds": 10, "max_seats_per_hold": 5, "max_seats_per_user": 5,
		"categories": []map[string]any{{"id": "first", "name": "First class", "price_cents": 93000}, {"id": "second", "name": "Second class", "price_cents": 55300}},
		"grid": map[string]any{"sections": 4, "rows": 10, "cols": 5, "categories": []map[string]any{
			{"id": "first", "rows": []int{1, 2}}, {"id": "second", "rows": []int{3, 10}}}},
	}, nil), http.StatusCreated, "")
	// open opens the demo sales; it runs on a goroutine of its own too,
	// so it reports with Errorf, never Fatal.
	open := func() {
		for _, id := range []string{"demo-arena", "demo-train"} {
			req, _ := http.NewRequest("POST", s.url+"/v1/programs/"+id+"/open", nil)
			req.Header.Set("Authorization", "Bearer "+adminToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Errorf("open %s: %v", id, err)
				continue
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("open %s = %d", id, resp.StatusCode)
			}
		}
	}
	open()
	// The fuzzer closes sales too, as operators may: open the demo
	// programs again every second, so that holds on them are mostly
	// answered by their seats rather than SALE_NOT_OPEN.
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Second):
				open()
			}
		}
	}()
	defer func() { close(stop); <-stopped }()

	tokens := map[string]any{"admin": adminToken}
	buyers := make([]string, fuzzBuyers)
	for i := range buyers {
		tok, err := MintHS256(testSecret, "fuzz-"+strconv.Itoa(i), time.Now(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		buyers[i] = tok
	}
	tokens["buyers"] = buyers
	file := filepath.Join(t.TempDir(), "tokens.json")
	b, _ := json.Marshal(tokens)
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	args := []string{"--config-file", "testdata/apifuzz/schemathesis.toml", "--no-color", "run", s.url + "/openapi.yaml"}
	// FUZZ_API_ARGS adds st run's own flags, to fuzz longer or otherwise:
	// FUZZ_API_ARGS='--max-examples 1000 --seed 7' make fuzz-api.
	cmd := exec.Command(st, append(args, strings.Fields(os.Getenv("FUZZ_API_ARGS"))...)...)
	cmd.Env = append(os.Environ(), "SEATD_FUZZ_TOKENS="+file)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	err = cmd.Run()
	t.Logf("schemathesis ran for %v", time.Since(start).Round(time.Second))
	if err != nil {
		t.Fatalf("schemathesis found answers outside the description (above): %v", err)
	}
}
