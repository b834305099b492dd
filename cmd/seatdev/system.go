package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/cloudwego/hertz/pkg/common/hlog"
	"github.com/cloudwego/kitex/pkg/klog"
	"github.com/cloudwego/kitex/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kfake"

	"seatd/gateway"
	"seatd/internal/localserver"
	"seatd/internal/orderstack"
	invsvc "seatd/kitex_gen/inventoryrpc/inventory"
	"seatd/noderpc"
	"seatd/orderflow/events"
	"seatd/orderflow/relay"
	"seatd/raftfsm"
	"seatd/seatclient"
)

// systemConfig places the one-process system.
type systemConfig struct {
	HTTPAddr, RPCAddr, RaftAddr, OrdersAddr string
	// MetricsAddr serves /metrics of the relay and the order service (the
	// gateway's are on HTTPAddr).
	MetricsAddr string
	DataDir     string // "" = a temporary directory
	// Brokers are Kafka's; none starts an embedded Kafka-protocol broker
	// (franz-go's kfake), in memory.
	Brokers []string
	// HoldTTL, if set, replaces the demo programs' hold TTL (tests).
	HoldTTL time.Duration
	// PaysimAddr is where the payment simulator listens ("" = any
	// loopback port); both providers point at it.
	PaysimAddr string
	// PayQueryAfter, if set, replaces the pay service's first query of
	// an unpaid trade (tests).
	PayQueryAfter time.Duration
}

// devPartitions is the partition count of the order flow's topics here:
// the production default, so that a real broker's topics made by seatdev
// suit a production-like cluster too.
const devPartitions = 16

// systemInfo is what a running system tells whoever started it.
type systemInfo struct {
	URL        string // the gateway
	AdminToken string
	BuyerToken string // user 1001
	Kafka      string // which brokers, in words
	Metrics    string // the relay's and the order service's /metrics
	Paysim     string // the payment simulator's URL
}

// runSystem starts a one-node cluster, the gateway and the demo
// programs, prints how to use them to out, reports on ready (if not nil),
// and runs until ctx ends.
func runSystem(ctx context.Context, cfg systemConfig, out io.Writer, ready chan<- systemInfo) error {
	klog.SetLevel(klog.LevelWarn)
	hlog.SetLevel(hlog.LevelWarn)
	// Warnings too would show the node's first elections on every start.
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	dir := cfg.DataDir
	if dir == "" {
		tmp, err := localserver.MkdirTemp("seatdev-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	brokers := cfg.Brokers
	if len(brokers) == 0 {
		kafka, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			return fmt.Errorf("embedded kafka: %w", err)
		}
		defer kafka.Close()
		brokers = kafka.ListenAddrs()
	}
	rel, err := relay.New(relay.Config{Brokers: brokers, Topics: events.Topics(devPartitions, 1), Log: log})
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(rel.Collectors()...)
	metricsLn, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("listen metrics: %w", err)
	}
	metricsSrv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
	go metricsSrv.Serve(metricsLn)
	defer metricsSrv.Close()
	rpcLn, err := net.Listen("tcp", cfg.RPCAddr)
	if err != nil {
		return fmt.Errorf("listen rpc: %w", err)
	}
	node, err := raftfsm.StartNode(raftfsm.NodeConfig{ID: "dev", Dir: dir, Addr: cfg.RaftAddr, Groups: 2, Duty: rel.Duty,
		RPCAddr: rpcLn.Addr().String(), Log: log, HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond})
	if err != nil {
		rpcLn.Close()
		return err
	}
	defer node.Shutdown(false)
	if err := node.Bootstrap([]raftfsm.Peer{{ID: "dev", Addr: node.Addr()}}); err != nil {
		rpcLn.Close()
		return err
	}
	handler, err := noderpc.New(node, noderpc.Config{})
	if err != nil {
		rpcLn.Close()
		return err
	}
	svr := invsvc.NewServer(handler, server.WithListener(rpcLn), server.WithExitWaitTime(time.Second))
	go svr.Run()
	defer svr.Stop()

	client, err := seatclient.New(seatclient.Config{Seeds: []string{rpcLn.Addr().String()}, Log: log})
	if err != nil {
		return err
	}
	// The gateway's listener first: the providers notify its routes.
	httpLn, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen http: %w", err)
	}
	defer httpLn.Close()
	orders, err := orderstack.Start(ctx, orderstack.Config{Brokers: brokers, Partitions: devPartitions, Dir: dir, Inventory: client,
		GatewayURL: "http://" + httpLn.Addr().String(), PaysimAddr: cfg.PaysimAddr, OrdersAddr: cfg.OrdersAddr,
		QueryAfter: cfg.PayQueryAfter, Registerer: reg, Log: log})
	if err != nil {
		return err
	}
	defer orders.Close()
	secret, adminToken := randomHex(32), randomHex(16)
	gw, err := gateway.New(gateway.Config{Inventory: client, Orders: orders.Orders, Log: log,
		Auth: gateway.AuthConfig{HS256Secret: []byte(secret), AdminToken: adminToken, DevTokens: true}})
	if err != nil {
		return err
	}
	gw.Start(httpLn)
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		gw.Stop(stopCtx)
	}()

	info := systemInfo{URL: "http://" + httpLn.Addr().String(), AdminToken: adminToken, Kafka: "embedded, in memory",
		Metrics: "http://" + metricsLn.Addr().String() + "/metrics", Paysim: orders.PaysimURL}
	if len(cfg.Brokers) > 0 {
		info.Kafka = strings.Join(cfg.Brokers, ",")
	}
	if info.BuyerToken, err = gateway.MintHS256([]byte(secret), "1001", time.Now(), 24*time.Hour); err != nil {
		return err
	}
	if err := waitReady(ctx, info.URL); err != nil {
		return err
	}
	if err := createDemo(info, cfg.HoldTTL); err != nil {
		return err
	}
	printGuide(out, info)
	if ready != nil {
		ready <- info
	}
	<-ctx.Done()
	fmt.Fprintln(out, "\nseatdev: stopping")
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails
	return hex.EncodeToString(b)
}

// waitReady waits until the gateway reaches a node that leads every group.
func waitReady(ctx context.Context, url string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get(url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return errors.New("the node did not become ready in 30s")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// createDemo puts an arena and two trains on sale through the HTTP API, as
// an operator would. The arena resells refunded seats, so that a buyer
// trying refunds on the live page sees the seat turn free again.
func createDemo(info systemInfo, ttl time.Duration) error {
	arena := map[string]any{
		"id": "demo-arena", "name": "Demo Arena", "hold_ttl_seconds": 600, "max_seats_per_hold": 6, "max_seats_per_user": 12,
		"refund_resells": true,
		"categories": []map[string]any{{"id": "vip", "name": "VIP", "price_cents": 128000},
			{"id": "a", "name": "Category A", "price_cents": 68000}, {"id": "b", "name": "Category B", "price_cents": 38000}},
		"grid": map[string]any{"sections": 2, "rows": 12, "cols": 20, "categories": []map[string]any{
			{"id": "vip", "rows": []int{1, 2}}, {"id": "a", "rows": []int{3, 7}}, {"id": "b", "rows": []int{8, 12}}},
			// Two stands of 20 seats (10 m) side by side, 2 m apart, the
			// stage 4 m in front of the gap: best-available measures
			// from it, and the page draws them from above.
			"section_positions": []map[string]any{{"x": 0, "y": 0}, {"x": 120, "y": 0}}},
		"focal_point": map[string]any{"x": 115, "y": -40},
	}
	programs := []map[string]any{arena}
	for _, d := range demoTrains {
		p, err := d.program()
		if err != nil {
			return err
		}
		programs = append(programs, p)
	}
	for _, p := range programs {
		if ttl > 0 {
			p["hold_ttl_seconds"] = int(ttl / time.Second)
		}
		if err := post(info, "/v1/programs", p, http.StatusCreated); err != nil {
			return err
		}
		if err := post(info, "/v1/programs/"+p["id"].(string)+"/open", nil, http.StatusOK); err != nil {
			return err
		}
	}
	return nil
}

func post(info systemInfo, path string, body any, want int) error {
	var rd io.Reader = http.NoBody
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest("POST", info.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+info.AdminToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("POST %s = %d %s", path, resp.StatusCode, b)
	}
	return nil
}

func printGuide(w io.Writer, info systemInfo) {
	fmt.Fprintf(w, `seatdev: one seatd node with its outbox relay, Kafka (%[4]s), the order and pay services, the payment
simulator, the gateway and three programs on sale (demo-arena, and the trains demo-train and demo-train-gz).

  live seat map   %[1]s/
  API             %[1]s/openapi.yaml
  metrics         %[1]s/metrics (the gateway's), %[5]s (the relay's and the order service's)

  buyer token (user 1001):
    export TOKEN=%[2]s
  admin token:
    export ADMIN=%[3]s

Try (bodies are JSON, sent as application/json):
  curl -s %[1]s/v1/programs/demo-arena/availability
  curl -s -X POST %[1]s/v1/programs/demo-arena/holds -H "Authorization: Bearer $TOKEN" \
       -H 'Content-Type: application/json' -H 'Idempotency-Key: try-1' -d '{"category":"vip","count":2}'
  curl -s -X POST %[1]s/v1/programs/demo-train/holds -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
       -H 'Idempotency-Key: train-1' -d '{"category":"second","count":1,"from":1,"to":3,"seat_preference":"window","holders":[{"name":"Li Lei","id_number":"110101199001011237"}]}'
  curl -s %[1]s/v1/orders -H "Authorization: Bearer $TOKEN"
  curl -s '%[1]s/v1/programs/demo-arena/seats?category=vip'
  curl -s '%[1]s/v1/programs/demo-arena/seats?format=compact&section=A'
  curl -s '%[1]s/v1/programs/demo-arena/availability?consistent=true'
  curl -s %[1]s/v1/cluster -H "Authorization: Bearer $ADMIN"
  curl -s -X POST %[1]s/v1/dev/tokens -H 'Content-Type: application/json' -d '{"sub":"alice@example.com"}'
A hold answers with its hold_id: GET %[1]s/v1/holds/{hold_id} reads it, DELETE gives it back (with
$TOKEN, or $ADMIN for any buyer's). A moment later (its event goes through Kafka) the hold is an order:
GET %[1]s/v1/orders lists yours, newest first, and GET %[1]s/v1/orders/{order_no} reads one. It is
PENDING_PAYMENT, then CANCELLED when you give the hold back, or EXPIRED when it lapses (10 minutes on
demo-arena, 15 on the trains).
To pay an order, POST %[1]s/v1/orders/{order_no}/pay with $TOKEN and the body
{"channel":"alipay","mode":"page"} (or "wechat", "qr"). The payment simulator, paysim, plays Alipay and
WeChat Pay at %[6]s: open the answer's pay_url (page) or qr_code (a URL there) in a browser and press
Pay; a moment later the order is PAID and its seats sold. GET %[1]s/v1/orders/{order_no}/payment asks
the provider. Paying again, or with the other channel, closes the earlier trade. A script pays a "qr"
trade with POST %[6]s/sim/trades/{channel}/{out_trade_no}/pay (a "page" trade exists at the provider
only once its pay_url is opened).
A paid order's seats are refunded with POST %[1]s/v1/orders/{order_no}/refunds and the body
{"seat_ids":["A/1/5"],"reason":"..."} (leave seat_ids out for every seat; $ADMIN refunds any order);
the answer's refund_no reads it: GET %[1]s/v1/refunds/{refund_no}. The order turns
PARTIALLY_REFUNDED or REFUNDED and the seats go back on sale.
On the live seat map the same in a browser: pick a program, sign in as a test buyer, click seats and
hold them; "My holds and orders" counts down, gives seats back, pays through paysim's page, and once
paid offers a refund of each seat.
Each buyer may send 5 requests a second (bursts of 10).

Ctrl-C stops everything.
`, info.URL, info.BuyerToken, info.AdminToken, info.Kafka, info.Metrics, info.Paysim)
}
