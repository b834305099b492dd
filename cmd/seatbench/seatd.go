package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"seatd/bench/baseline/httpapi"
	"seatd/bench/cluster"
	"seatd/bench/target"
	"seatd/bench/target/gatewayhttp"
	"seatd/bench/target/seatrpc"
	config "seatd/internal/settings"
	"seatd/seatclient"
)

// The -target-opt names seatd's targets read, and the environment
// variables that stand in for them when they are not given.
const (
	// OptSeatdLocal, N, runs the target against an N-node seatd cluster
	// (and, for seatd-http, the gateway) that seatbench starts in its own
	// process on loopback, in a temporary directory, and stops after the
	// target's run; no address is then read.
	OptSeatdLocal = "seatd-local"
	// OptSeatdAddrs are RPC addresses (host:port,...) of a running
	// cluster's nodes, one or more (seatd-rpc); EnvSeatdAddrs stands in
	// for it.
	OptSeatdAddrs = "seatd-addrs"
	EnvSeatdAddrs = "SEATBENCH_SEATD_ADDRS"
	// OptGatewayURL is a running gateway's base URL (seatd-http);
	// EnvGatewayURL stands in for it.
	OptGatewayURL = "gateway-url"
	EnvGatewayURL = "SEATBENCH_GATEWAY_URL"
	// OptJWTSecret is the gateway's HS256 secret of buyer tokens
	// (GATEWAY_JWT_SECRET), with which seatbench mints each buyer's;
	// OptAdminToken its admin token (GATEWAY_ADMIN_TOKEN). Better given
	// in EnvJWTSecret and EnvAdminToken: the command line goes into the
	// report.
	OptJWTSecret  = "jwt-secret"
	EnvJWTSecret  = "SEATBENCH_JWT_SECRET"
	OptAdminToken = "admin-token"
	EnvAdminToken = "SEATBENCH_ADMIN_TOKEN"
	// OptSeatdPIDs are the process ids (pid,...) of a running cluster's
	// nodes and gateway on this machine, whose CPU time then counts with
	// seatbench's. Without them the CPU figures are seatbench's alone; an
	// in-process cluster's are seatbench's own.
	OptSeatdPIDs = "seatd-pids"
)

// seatdOpts are the options every seatd target reads.
var seatdOpts = []string{OptSeatdLocal, OptSeatdPIDs}

// localNodes is -target-opt seatd-local: 0 when not given.
func localNodes(cfg *Config) (int, error) {
	v, ok := cfg.TargetOpts[OptSeatdLocal]
	if !ok {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > cluster.MaxNodes {
		return 0, fmt.Errorf("-target-opt %s=%q: want a node count, 1-%d", OptSeatdLocal, v, cluster.MaxNodes)
	}
	return n, nil
}

// seatdPIDs is -target-opt seatd-pids, each a process of this machine.
func seatdPIDs(cfg *Config) ([]int, error) {
	v, ok := cfg.TargetOpts[OptSeatdPIDs]
	if !ok {
		return nil, nil
	}
	var pids []int
	for _, f := range strings.Split(v, ",") {
		pid, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || pid < 1 {
			return nil, fmt.Errorf("-target-opt %s: %q is not a process id", OptSeatdPIDs, f)
		}
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil {
			return nil, fmt.Errorf("-target-opt %s: no process %d on this machine", OptSeatdPIDs, pid)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// rpcSettings is seatd-rpc's configuration from cfg: a local cluster's
// size, or the addresses of a running one; and the pids.
func rpcSettings(cfg *Config) (local int, addrs []string, pids []int, err error) {
	local, err1 := localNodes(cfg)
	pids, err2 := seatdPIDs(cfg)
	if err := errors.Join(err1, err2); err != nil || local > 0 {
		return local, nil, pids, err
	}
	addrs = config.List(setting(cfg, OptSeatdAddrs, EnvSeatdAddrs))
	if len(addrs) == 0 {
		return 0, nil, nil, fmt.Errorf("no seatd address: give -target-opt %s=HOST:PORT,... or set %s (a node's -rpc-addr), "+
			"or -target-opt %s=N to run N nodes in seatbench's process", OptSeatdAddrs, EnvSeatdAddrs, OptSeatdLocal)
	}
	return 0, addrs, pids, nil
}

// httpSettings is seatd-http's configuration from cfg: a local
// cluster's size, or a running gateway's URL, secret and token; and
// the pids.
func httpSettings(cfg *Config) (local int, gw gatewayhttp.Config, err error) {
	local, err1 := localNodes(cfg)
	pids, err2 := seatdPIDs(cfg)
	gw = gatewayhttp.Config{PIDs: pids, MaxConns: min(concurrency(cfg), httpapi.MaxClientConns)}
	if err := errors.Join(err1, err2); err != nil || local > 0 {
		return local, gw, err
	}
	gw.URL = setting(cfg, OptGatewayURL, EnvGatewayURL)
	gw.Secret = []byte(setting(cfg, OptJWTSecret, EnvJWTSecret))
	gw.AdminToken = setting(cfg, OptAdminToken, EnvAdminToken)
	var errs []error
	if !strings.HasPrefix(gw.URL, "http://") && !strings.HasPrefix(gw.URL, "https://") {
		errs = append(errs, fmt.Errorf("no gateway URL: give -target-opt %s=http://HOST:PORT or set %s, or -target-opt %s=N to run N nodes "+
			"and the gateway in seatbench's process", OptGatewayURL, EnvGatewayURL, OptSeatdLocal))
	}
	if len(gw.Secret) < 32 {
		errs = append(errs, fmt.Errorf("no gateway secret of at least 32 bytes: set %s (or -target-opt %s) to the gateway's GATEWAY_JWT_SECRET",
			EnvJWTSecret, OptJWTSecret))
	}
	if len(gw.AdminToken) < 16 {
		errs = append(errs, fmt.Errorf("no admin token of at least 16 bytes: set %s (or -target-opt %s) to the gateway's GATEWAY_ADMIN_TOKEN",
			EnvAdminToken, OptAdminToken))
	}
	return 0, gw, errors.Join(errs...)
}

func checkSeatdRPC(cfg *Config) error {
	_, _, _, err := rpcSettings(cfg)
	return err
}

func checkSeatdHTTP(cfg *Config) error {
	_, _, err := httpSettings(cfg)
	return err
}

// startLocal starts an in-process cluster of n nodes, with the gateway
// when asked, and says what it is for the report.
func startLocal(ctx context.Context, n int, gw bool) (*cluster.Cluster, string, error) {
	c, err := cluster.Start(ctx, cluster.Config{Nodes: n, Gateway: gw})
	if err != nil {
		return nil, "", err
	}
	what := fmt.Sprintf("an in-process seatd cluster of %d node(s) started by seatbench on loopback (bench/cluster: raftfsm on pebble "+
		"syncing every write, Kitex servers, the routing client; outbox events acknowledged unread, no relay or Kafka)", n)
	if gw {
		what += ", behind the gateway on " + c.GatewayURL
	}
	return c, what, nil
}

// newSeatdRPC makes seatd-rpc: over a local cluster, or the one at the
// addresses given.
func newSeatdRPC(ctx context.Context, cfg *Config) (target.Target, string, error) {
	local, addrs, pids, err := rpcSettings(cfg)
	if err != nil {
		return nil, "", err
	}
	rc := seatrpc.Config{PIDs: pids}
	var setup string
	if local > 0 {
		c, what, err := startLocal(ctx, local, false)
		if err != nil {
			return nil, "", err
		}
		rc.Client, rc.OnClose, setup = c.Client, c.Close, what
	} else {
		if rc.Client, err = seatclient.New(seatclient.Config{Seeds: addrs}); err != nil {
			return nil, "", err
		}
		setup = "the routing client (seatclient) to the seatd cluster at " + strings.Join(addrs, ",") + cpuNote(pids)
	}
	t, err := seatrpc.New(rc)
	if err != nil {
		if rc.OnClose != nil {
			err = errors.Join(err, rc.OnClose())
		}
		return nil, "", err
	}
	return t, "Kitex RPCs through " + setup, nil
}

// newSeatdHTTP makes seatd-http: over a local cluster and gateway, or
// the gateway at the URL given.
func newSeatdHTTP(ctx context.Context, cfg *Config) (target.Target, string, error) {
	local, gc, err := httpSettings(cfg)
	if err != nil {
		return nil, "", err
	}
	setup := "the gateway at " + gc.URL + cpuNote(gc.PIDs)
	if local > 0 {
		c, what, err := startLocal(ctx, local, true)
		if err != nil {
			return nil, "", err
		}
		gc.URL, gc.Secret, gc.AdminToken, gc.OnClose, gc.Seatd, setup = c.GatewayURL, c.Secret, c.AdminToken, c.Close, c.Client, what
	} else if addrs := config.List(setting(cfg, OptSeatdAddrs, EnvSeatdAddrs)); len(addrs) > 0 {
		// The audit reads seatd itself, as no route shows it.
		if gc.Seatd, err = seatclient.New(seatclient.Config{Seeds: addrs}); err != nil {
			return nil, "", err
		}
	}
	t, err := gatewayhttp.New(ctx, gc)
	if err != nil {
		if gc.OnClose != nil {
			err = errors.Join(err, gc.OnClose())
		}
		return nil, "", err
	}
	return t, fmt.Sprintf("HTTP with each buyer's own token, on up to %d connections, to %s", gc.MaxConns, setup), nil
}
