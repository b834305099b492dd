// Package cluster runs a seatd cluster inside the calling process, on
// loopback, for seatbench's targets over seatd: N nodes (raftfsm groups on
// pebble, every write synced, as the seatd binary runs them), each behind
// its Kitex server (noderpc), a routing client (seatclient) that knows
// them all, and, when asked, the HTTP gateway over that client, and the
// order flow behind it (Config.Orders: each node's outbox relay to Kafka,
// the order and pay services, paysim). It is wired as cmd/seatd,
// cmd/gateway and cmd/orderflow wire their parts, with their defaults,
// so that what seatbench measures is what they run, less the processes
// (and without Config.Orders, the relay: see discardOutbox).
//
// Concurrency: Start and Close are for one goroutine; the client and the
// gateway are safe for concurrent use.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/cloudwego/kitex/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"

	"seatd/gateway"
	"seatd/internal/orderstack"
	"seatd/inventory"
	invsvc "seatd/kitex_gen/inventoryrpc/inventory"
	"seatd/noderpc"
	"seatd/orderflow/events"
	"seatd/orderflow/orderclient"
	"seatd/orderflow/relay"
	"seatd/raftfsm"
	"seatd/seatclient"
)

// Bounds and waits.
const (
	// MaxNodes bounds Config.Nodes: every node shares this process and its
	// cores.
	MaxNodes = 7
	// ReadyWait bounds the wait for every group to elect a leader: about
	// one election timeout when the machine is idle; the rest is for a
	// busy one.
	ReadyWait = 30 * time.Second
	// stopWait bounds the gateway's graceful stop.
	stopWait = 5 * time.Second
	// AckGap is the least time between two acknowledgements of a group's
	// outbox (see discardOutbox): each is a log entry, and one every
	// 100 ms costs the sale nothing measurable.
	AckGap = 100 * time.Millisecond
)

// Config says what to run.
type Config struct {
	// Nodes is how many seatd nodes form the cluster, 1 to MaxNodes. Each
	// is a replica of every group: with 3, an entry commits once two
	// have it synced.
	Nodes int
	// Groups is each node's inventory groups; 0 takes raftfsm's default
	// (8, as seatd's -groups). A program lives in one group.
	Groups int
	// Gateway also runs the HTTP gateway over the nodes, with a random
	// HS256 secret and admin token (Cluster.Secret, AdminToken).
	Gateway bool
	// Orders also runs the order flow (it implies Gateway): each node
	// relays its outbox to Kafka, and the order and pay services
	// (internal/orderstack) turn holds into orders, paid through paysim.
	Orders bool
	// Brokers are Kafka's, for Orders; none starts an embedded
	// Kafka-protocol broker (franz-go's kfake) in memory.
	Brokers []string
}

// OrderPartitions is the order flow topics' partition count with
// Config.Orders: the production default.
const OrderPartitions = 16

// Cluster is a running cluster. Close stops it and removes its data.
type Cluster struct {
	// RPCAddrs are the nodes' Kitex addresses, in node order.
	RPCAddrs []string
	// Client is a routing client that knows every node.
	Client *seatclient.Client
	// GatewayURL is the gateway's "http://127.0.0.1:port"; empty without
	// Config.Gateway.
	GatewayURL string
	// Secret signs buyer tokens (HS256) and AdminToken is the operators'
	// token of the gateway.
	Secret     []byte
	AdminToken string
	// Orders is a client of the order flow, and PaysimURL the payment
	// simulator's base URL; both set with Config.Orders only.
	Orders    *orderclient.Client
	PaysimURL string
	// Kafka says which brokers the order flow uses, in words.
	Kafka string

	dir     string
	nodes   []*raftfsm.Node
	svrs    []server.Server
	gw      *gateway.Gateway
	stack   *orderstack.Stack
	kafka   *kfake.Cluster
	brokers []string
}

// Start starts the cluster in a new temporary directory and returns once
// every group has a leader.
func Start(ctx context.Context, cfg Config) (c *Cluster, err error) {
	if cfg.Nodes < 1 || cfg.Nodes > MaxNodes {
		return nil, fmt.Errorf("cluster: %d nodes, want 1-%d", cfg.Nodes, MaxNodes)
	}
	dir, err := os.MkdirTemp("", "seatbench-seatd-")
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	c = &Cluster{dir: dir}
	started := c // the error returns below set c to nil
	defer func() {
		if err != nil {
			err = errors.Join(err, started.Close())
		}
	}()
	duty := func() raftfsm.Duty { return discardOutbox }
	if cfg.Orders {
		if duty, err = c.startKafka(cfg.Brokers); err != nil {
			return nil, err
		}
	}
	var peers []raftfsm.Peer
	for i := range cfg.Nodes {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("cluster: %w", err)
		}
		id := fmt.Sprintf("n%d", i+1)
		node, err := raftfsm.StartNode(raftfsm.NodeConfig{ID: id, Dir: dir + "/" + id, Addr: "127.0.0.1:0", Groups: cfg.Groups,
			RPCAddr: ln.Addr().String(), Duty: duty()})
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("cluster: node %s: %w", id, err)
		}
		c.nodes = append(c.nodes, node)
		handler, err := noderpc.New(node, noderpc.Config{})
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("cluster: node %s: %w", id, err)
		}
		svr := invsvc.NewServer(handler, server.WithListener(ln), server.WithExitWaitTime(time.Second))
		go svr.Run()
		c.svrs = append(c.svrs, svr)
		c.RPCAddrs = append(c.RPCAddrs, ln.Addr().String())
		peers = append(peers, raftfsm.Peer{ID: id, Addr: node.Addr()})
	}
	if err := c.nodes[0].Bootstrap(peers); err != nil {
		return nil, fmt.Errorf("cluster: bootstrap: %w", err)
	}
	if c.Client, err = seatclient.New(seatclient.Config{Seeds: c.RPCAddrs}); err != nil {
		return nil, err
	}
	if err := c.awaitLeaders(ctx); err != nil {
		return nil, err
	}
	if !cfg.Gateway && !cfg.Orders {
		return c, nil
	}
	// The gateway's listener first: the providers notify its routes.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	c.GatewayURL = "http://" + ln.Addr().String()
	gc := gateway.Config{Inventory: c.Client}
	if cfg.Orders {
		c.stack, err = orderstack.Start(ctx, orderstack.Config{Brokers: c.brokers, Partitions: OrderPartitions, Dir: dir + "/orderflow",
			Inventory: c.Client, GatewayURL: c.GatewayURL, Registerer: prometheus.NewRegistry()})
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("cluster: %w", err)
		}
		c.Orders, c.PaysimURL, gc.Orders = c.stack.Orders, c.stack.PaysimURL, c.stack.Orders
	}
	c.Secret, c.AdminToken = make([]byte, 32), randomHex(16)
	rand.Read(c.Secret) // never fails
	gc.Auth = gateway.AuthConfig{HS256Secret: c.Secret, AdminToken: c.AdminToken}
	gw, err := gateway.New(gc)
	if err != nil {
		ln.Close()
		return nil, err
	}
	gw.Start(ln)
	c.gw = gw
	return c, nil
}

// startKafka starts the embedded broker when brokers is empty, and
// returns each node's duty: a relay of its own to the brokers, as each
// seatd process runs one.
func (c *Cluster) startKafka(brokers []string) (func() raftfsm.Duty, error) {
	c.Kafka = strings.Join(brokers, ",")
	if len(brokers) == 0 {
		k, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			return nil, fmt.Errorf("cluster: embedded kafka: %w", err)
		}
		c.kafka, brokers, c.Kafka = k, k.ListenAddrs(), "embedded (kfake), in memory"
	}
	c.brokers = brokers
	topics := events.Topics(OrderPartitions, 1)
	return func() raftfsm.Duty {
		r, err := relay.New(relay.Config{Brokers: brokers, Topics: topics})
		if err != nil {
			panic(fmt.Sprintf("cluster: relay: %v", err)) // brokers are set and the rest are defaults
		}
		return r.Duty
	}, nil
}

// awaitLeaders waits, up to ReadyWait, until a node sees a leader in
// every group, the meta group included.
func (c *Cluster) awaitLeaders(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, ReadyWait)
	defer cancel()
	for {
		st, err := c.Client.ClusterStatus(ctx)
		if err == nil && len(st.Groups) == c.nodes[0].Groups()+1 {
			led := 0
			for _, g := range st.Groups {
				if g.LeaderId != "" {
					led++
				}
			}
			if led == len(st.Groups) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: not every group had a leader within %v (last status error: %v)", ReadyWait, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Close stops the gateway, the order flow, the Kitex servers, the nodes
// and the embedded broker, and removes the data directory.
func (c *Cluster) Close() error {
	var errs []error
	if c.gw != nil {
		ctx, cancel := context.WithTimeout(context.Background(), stopWait)
		errs = append(errs, c.gw.Stop(ctx))
		cancel()
	}
	if c.stack != nil {
		errs = append(errs, c.stack.Close())
	}
	for _, s := range c.svrs {
		errs = append(errs, s.Stop())
	}
	for _, n := range c.nodes {
		errs = append(errs, n.Shutdown(false))
	}
	if c.kafka != nil {
		c.kafka.Close()
	}
	errs = append(errs, os.RemoveAll(c.dir))
	return errors.Join(errs...)
}

// discardOutbox stands in for seatd's outbox relay, which would publish
// each group's events to Kafka and then acknowledge them: it acknowledges
// them unread, at most every AckGap, so that the outbox never fills
// (inventory.Config.MaxOutbox) and refuses holds, as the engine target
// does. The order flow is not part of what this cluster measures.
func discardOutbox(ctx context.Context, g *raftfsm.LedGroup) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-g.OutboxGrew():
		}
		var last, acked uint64
		g.Read(func(e *inventory.Engine, _ uint64) { last, acked = e.OutboxSeq() })
		if last > acked {
			// A failure (the leadership ended) needs nothing: the next
			// leader's duty acknowledges these.
			g.Propose(ctx, &raftfsm.Command{Op: raftfsm.OpAckOutbox, Seq: last})
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(AckGap):
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails
	return hex.EncodeToString(b)
}
