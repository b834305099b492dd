package gateway

import (
	"net/http"
	"testing"
	"time"

	"seatd/raftfsm"
)

// TestReadyWithAFrozenNode: with the first seed node frozen (its server
// takes cluster-status calls and never answers, as a stopped process
// does), /readyz and /v1/cluster answer at once from another node.
// Before, they answered 503 after the request's deadline (5 s) for as
// long as the node was frozen, so a load balancer probing /readyz took
// every gateway out of service.
func TestReadyWithAFrozenNode(t *testing.T) {
	s := startCluster(t, 3, time.Second)
	// Every group has its leader first: the test is about a frozen node,
	// not about an election.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if r := s.do("GET", "/readyz", "", nil, nil); r.status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the cluster never became ready")
		}
	}
	frozen := s.nodes[0]
	thaw := make(chan struct{})
	defer close(thaw)
	freeze := func(method string, node *raftfsm.Node, _ any) {
		if method == "ClusterStatus" && node == frozen {
			<-thaw
		}
	}
	s.served.Store(&freeze)
	for _, path := range []string{"/readyz", "/v1/cluster", "/readyz"} {
		start := time.Now()
		r := s.do("GET", path, adminToken, nil, nil)
		if r.status != http.StatusOK || time.Since(start) > time.Second {
			t.Fatalf("GET %s with node n1 frozen = %d %s after %v; want 200 at once", path, r.status, r.body, time.Since(start))
		}
	}
}
