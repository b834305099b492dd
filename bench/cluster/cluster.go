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
	"log/slog"
	"maps"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/cloudwego/kitex/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"seatd/gateway"
	"seatd/internal/localserver"
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
	// BrokerWait bounds the wait for the brokers of Config.Brokers to
	// answer: one on loopback or the same network answers within
	// milliseconds, and one silent for 5 s is not there (a mistyped
	// address, a broker not started), which the order service's own start
	// would take a minute to say.
	BrokerWait = 5 * time.Second
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
	// Kafka-protocol broker (franz-go's kfake) in memory. Their order
	// flow topics must be new or empty: the order service stops at the
	// first event of another seatd cluster, and a new cluster is always
	// another.
	Brokers []string
	// Log receives every part's messages; nil logs errors only, to
	// stderr: the parts' informational messages (elections, snapshots,
	// consumer group moves) would flood a benchmark's output, and an
	// error is worth seeing there.
	Log *slog.Logger
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
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	}
	dir, err := localserver.MkdirTemp("seatbench-seatd-")
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
		if duty, err = c.startKafka(ctx, cfg.Brokers, cfg.Log); err != nil {
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
			RPCAddr: ln.Addr().String(), Duty: duty(), Log: cfg.Log.With("node", id)})
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
	if c.Client, err = seatclient.New(seatclient.Config{Seeds: c.RPCAddrs, Log: cfg.Log}); err != nil {
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
	gc := gateway.Config{Inventory: c.Client, Log: cfg.Log}
	if cfg.Orders {
		c.stack, err = orderstack.Start(ctx, orderstack.Config{Brokers: c.brokers, Partitions: OrderPartitions, Dir: dir + "/orderflow",
			Inventory: c.Client, GatewayURL: c.GatewayURL, Registerer: prometheus.NewRegistry(), Log: cfg.Log})
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

// startKafka starts the embedded broker when brokers is empty, or checks
// the brokers given (checkBrokers), and returns each node's duty: a relay
// of its own to the brokers, as each seatd process runs one.
func (c *Cluster) startKafka(ctx context.Context, brokers []string, log *slog.Logger) (func() raftfsm.Duty, error) {
	c.Kafka = strings.Join(brokers, ",")
	if len(brokers) > 0 {
		if err := checkBrokers(ctx, brokers); err != nil {
			return nil, err
		}
	} else {
		k, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			return nil, fmt.Errorf("cluster: embedded kafka: %w", err)
		}
		c.kafka, brokers, c.Kafka = k, k.ListenAddrs(), "embedded (kfake), in memory"
	}
	c.brokers = brokers
	topics := events.Topics(OrderPartitions, 1)
	return func() raftfsm.Duty {
		r, err := relay.New(relay.Config{Brokers: brokers, Topics: topics, Log: log})
		if err != nil {
			panic(fmt.Sprintf("cluster: relay: %v", err)) // brokers are set and the rest are defaults
		}
		return r.Duty
	}, nil
}

// checkBrokers returns an error naming the brokers unless they answer
// within BrokerWait and the order flow's topics on them are new or
// empty. Events already there are another seatd cluster's (a running
// one's, or an earlier run's): the order service would apply them, then
// stop at this cluster's first event (orders.ErrOtherCluster), and a run
// would measure orders that never come.
func checkBrokers(ctx context.Context, brokers []string) error {
	ctx, cancel := context.WithTimeout(ctx, BrokerWait)
	defer cancel()
	at := strings.Join(brokers, ",")
	kc := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: BrokerWait}
	var md *kafka.MetadataResponse
	for {
		var err error
		if md, err = kc.Metadata(ctx, &kafka.MetadataRequest{}); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: Kafka brokers %s did not answer within %v: %w", at, BrokerWait, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, spec := range events.Topics(OrderPartitions, 1) {
		for _, t := range md.Topics {
			if t.Name != spec.Name {
				continue
			}
			for _, p := range t.Partitions {
				req.Topics[t.Name] = append(req.Topics[t.Name], kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
			}
		}
	}
	if len(req.Topics) == 0 {
		return nil
	}
	resp, err := kc.ListOffsets(ctx, req)
	if err != nil {
		return fmt.Errorf("cluster: Kafka brokers %s: offsets of the order flow topics: %w", at, err)
	}
	var held []string
	for _, name := range slices.Sorted(maps.Keys(resp.Topics)) {
		var n int64
		for _, po := range resp.Topics[name] {
			if po.Error != nil {
				return fmt.Errorf("cluster: Kafka brokers %s: offsets of %s partition %d: %w", at, name, po.Partition, po.Error)
			}
			n += po.LastOffset - po.FirstOffset
		}
		if n > 0 {
			held = append(held, fmt.Sprintf("%s holds %d messages", name, n))
		}
	}
	if len(held) > 0 {
		return fmt.Errorf("cluster: Kafka brokers %s belong to another seatd cluster (%s): the order flow would stop at its events; "+
			"give the cluster brokers of its own, or delete the topics", at, strings.Join(held, ", "))
	}
	return nil
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
