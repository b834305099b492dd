package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"seatd/bench/cluster"
	"seatd/bench/target"
	"seatd/bench/target/system"
	config "seatd/internal/settings"
	"seatd/orderflow/orderclient"
	"seatd/seatclient"
)

// The -target-opt names only seatd-system reads, besides seatd-http's,
// and the environment variables that stand in for them.
const (
	// OptKafkaBrokers are Kafka's bootstrap addresses (host:port,...) for
	// the order flow of a local system (seatd-local=N); none starts an
	// embedded Kafka-protocol broker in memory.
	OptKafkaBrokers = "kafka-brokers"
	// OptPaysimURL is a running system's payment simulator (its
	// providers' gateway); EnvPaysimURL stands in for it.
	OptPaysimURL = "paysim-url"
	EnvPaysimURL = "SEATBENCH_PAYSIM_URL"
	// OptOrderflowAddrs are a running order flow's Kitex addresses,
	// instance 0 first (cmd/orderflow's -rpc-addr, each instance's);
	// EnvOrderflowAddrs stands in for it. The audit reads the orders
	// through them, and seatd through seatd-addrs.
	OptOrderflowAddrs = "orderflow-addrs"
	EnvOrderflowAddrs = "SEATBENCH_ORDERFLOW_ADDRS"
)

// systemSettings is seatd-system's configuration from cfg: seatd-http's,
// and a local system's brokers, or a running one's paysim, order flow
// and seatd addresses.
func systemSettings(cfg *Config) (local int, sc system.Config, err error) {
	local, sc.Gateway, err = httpSettings(cfg)
	if err != nil || local > 0 {
		return local, sc, err
	}
	sc.PaysimURL = setting(cfg, OptPaysimURL, EnvPaysimURL)
	var errs []error
	if !strings.HasPrefix(sc.PaysimURL, "http://") && !strings.HasPrefix(sc.PaysimURL, "https://") {
		errs = append(errs, fmt.Errorf("no paysim URL: give -target-opt %s=http://HOST:PORT or set %s", OptPaysimURL, EnvPaysimURL))
	}
	if addrs := config.List(setting(cfg, OptSeatdAddrs, EnvSeatdAddrs)); len(addrs) == 0 {
		errs = append(errs, fmt.Errorf("no seatd address for the audit: give -target-opt %s=HOST:PORT,... or set %s", OptSeatdAddrs, EnvSeatdAddrs))
	}
	if addrs := config.List(setting(cfg, OptOrderflowAddrs, EnvOrderflowAddrs)); len(addrs) == 0 {
		errs = append(errs, fmt.Errorf("no order flow address for the audit: give -target-opt %s=HOST:PORT,... or set %s",
			OptOrderflowAddrs, EnvOrderflowAddrs))
	}
	return 0, sc, errors.Join(errs...)
}

func checkSystem(cfg *Config) error {
	_, _, err := systemSettings(cfg)
	return err
}

// newSystem makes seatd-system: over a local cluster with the gateway
// and the order flow, or the running system given.
func newSystem(ctx context.Context, cfg *Config) (target.Target, string, error) {
	local, sc, err := systemSettings(cfg)
	if err != nil {
		return nil, "", err
	}
	var setup string
	if local > 0 {
		c, err := cluster.Start(ctx, cluster.Config{Nodes: local, Orders: true, Brokers: config.List(cfg.TargetOpts[OptKafkaBrokers])})
		if err != nil {
			return nil, "", err
		}
		sc.Gateway.URL, sc.Gateway.Secret, sc.Gateway.AdminToken, sc.Gateway.OnClose = c.GatewayURL, c.Secret, c.AdminToken, c.Close
		sc.PaysimURL, sc.Seatd, sc.Orders = c.PaysimURL, c.Client, c.Orders
		setup = fmt.Sprintf("an in-process system started by seatbench on loopback: %d seatd node(s) (bench/cluster: raftfsm on pebble syncing "+
			"every write, Kitex servers, each node's outbox relay), Kafka %s, the order and pay services (one instance, %d partitions, "+
			"pebble synced), paysim as Alipay and WeChat Pay, and the gateway on %s", local, c.Kafka, cluster.OrderPartitions, c.GatewayURL)
	} else {
		seatd, err := seatclient.New(seatclient.Config{Seeds: config.List(setting(cfg, OptSeatdAddrs, EnvSeatdAddrs))})
		if err != nil {
			return nil, "", err
		}
		orders, err := orderclient.New(orderclient.Config{Addrs: config.List(setting(cfg, OptOrderflowAddrs, EnvOrderflowAddrs))})
		if err != nil {
			return nil, "", err
		}
		sc.Seatd, sc.Orders = seatd, orders
		setup = "the system at " + sc.Gateway.URL + ", paying through " + sc.PaysimURL + cpuNote(sc.Gateway.PIDs)
	}
	t, err := system.New(ctx, sc)
	if err != nil {
		if sc.Gateway.OnClose != nil {
			err = errors.Join(err, sc.Gateway.OnClose())
		}
		return nil, "", err
	}
	return t, fmt.Sprintf("HTTP with each buyer's own token, on up to %d connections; paid holds paid through the pay service and paysim, "+
		"half with Alipay, half with WeChat Pay; to %s", sc.Gateway.MaxConns, setup), nil
}
