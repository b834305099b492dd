package deploy

import (
	"bufio"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"seatd/internal/kafkatest"
	"seatd/internal/localserver"
)

// TestServedPaths runs each binary on loopback, as the manifests do but
// with one seatd node and an embedded Kafka, and checks the tables the
// manifest tests rely on: the health flag's port answers /healthz, and
// /readyz and /metrics exactly where servesReady and servesMetrics say. The
// series each /metrics shows must be among the names exportedMetrics reads
// from the source, so that reading is checked against the binaries too.
func TestServedPaths(t *testing.T) {
	if testing.Short() {
		t.Skip("starts seatd, orderflow, the gateway and paysim")
	}
	binaryFlags(t)
	exported := exportedMetrics(t)
	broker := kafkatest.Embedded(t)[0]
	port := map[string]string{}
	for _, name := range []string{"raft", "rpc", "admin", "orderflow-rpc", "orderflow-metrics", "gateway", "paysim"} {
		port[name] = freeAddr(t)
	}
	const partitions = "4" // the same for seatd's topics and orderflow
	runs := []struct {
		command string
		args    []string
		env     []string
	}{
		{"seatd", []string{"-id=n1", "-data-dir=" + t.TempDir(), "-raft-addr=" + port["raft"], "-rpc-addr=" + port["rpc"],
			"-admin-addr=" + port["admin"], "-bootstrap", "-peers=n1=" + port["raft"], "-groups=2",
			"-kafka-brokers=" + broker, "-kafka-partitions=" + partitions}, nil},
		{"orderflow", []string{"-brokers=" + broker, "-partitions=" + partitions, "-data=" + t.TempDir(),
			"-rpc=" + port["orderflow-rpc"], "-metrics=" + port["orderflow-metrics"], "-seatd=" + port["rpc"]}, nil},
		{"gateway", []string{"-addr=" + port["gateway"], "-seatd=" + port["rpc"], "-orders=" + port["orderflow-rpc"]},
			[]string{"GATEWAY_JWT_SECRET=" + strings.Repeat("s", 32), "GATEWAY_ADMIN_TOKEN=" + strings.Repeat("a", 16)}},
		{"paysim", []string{"-addr=" + port["paysim"]}, nil},
	}
	health := map[string]string{"seatd": port["admin"], "orderflow": port["orderflow-metrics"], "gateway": port["gateway"], "paysim": port["paysim"]}
	// The flags of healthFlag must be the ones given these ports.
	for _, r := range runs {
		if !slices.Contains(r.args, "-"+healthFlag[r.command]+"="+health[r.command]) {
			t.Fatalf("%s: healthFlag -%s is not the flag given %s", r.command, healthFlag[r.command], health[r.command])
		}
	}
	for _, r := range runs {
		cmd := exec.Command(filepath.Join(binariesDir, r.command), r.args...)
		cmd.Env = append(cmd.Environ(), r.env...)
		log := &strings.Builder{}
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-done
			}
			if t.Failed() {
				t.Logf("%s's log:\n%s", r.command, log.String())
			}
		})
	}
	client := &http.Client{Timeout: 2 * time.Second}
	get := func(addr, path string) (int, string) {
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, r := range runs {
		addr := health[r.command]
		want := map[string]int{"/healthz": 200, "/readyz": 404, "/metrics": 404}
		if servesReady[r.command] {
			want["/readyz"] = 200
		}
		if servesMetrics[r.command] {
			want["/metrics"] = 200
		}
		for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
			// Wait for the answer wanted: a process starting, or not ready yet.
			var code int
			var body string
			for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
				if code, body = get(addr, path); code == want[path] {
					break
				}
			}
			if code != want[path] {
				t.Errorf("%s: GET %s on -%s = %d (%.200s); want %d", r.command, path, healthFlag[r.command], code, body, want[path])
				continue
			}
			if path != "/metrics" || code != 200 {
				continue
			}
			for _, name := range scrapedNames(body) {
				if !exported[name] && !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "process_") && !strings.HasPrefix(name, "promhttp_") {
					t.Errorf("%s exports %s, which exportedMetrics did not find in the source", r.command, name)
				}
			}
		}
	}
}

// scrapedNames returns the series names of a Prometheus text exposition.
func scrapedNames(body string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			out = append(out, line[:i])
		}
	}
	return out
}

// freeAddr returns a loopback address reserved for this test binary
// (localserver.FreePorts).
func freeAddr(t *testing.T) string {
	t.Helper()
	addrs, err := localserver.FreeAddrs(1)
	if err != nil {
		t.Fatal(err)
	}
	return addrs[0]
}
