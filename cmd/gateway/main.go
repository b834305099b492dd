// Command gateway serves seatd's HTTP contract (DESIGN.md section 6): the
// Hertz gateway in front of the inventory nodes.
//
//	gateway [flags]   settings from flags, GATEWAY_* environment variables or a -config file
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/cloudwego/hertz/pkg/common/hlog"

	"seatd/gateway"
	"seatd/internal/settings"
	"seatd/orderflow/orderclient"
	"seatd/seatclient"
)

func main() {
	err := run(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		fmt.Println(strings.TrimSpace(strings.TrimPrefix(err.Error(), flag.ErrHelp.Error())))
		return
	}
	if err != nil {
		settings.Report(os.Stderr, "gateway", err)
		os.Exit(1)
	}
}

// Config is the gateway binary's configuration.
type Config struct {
	Addr    string
	Gateway gateway.Config
	Client  seatclient.Config
	// Orders locates the order service's instances; none answers the
	// order routes 501.
	Orders   orderclient.Config
	LogLevel slog.Level
}

// parseConfig reads and validates the configuration, reporting every
// violation at once.
func parseConfig(args []string, getenv func(string) string) (Config, error) {
	var cfg Config
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	var seeds, secret, edKeyFile, logLevel string
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:8080", "HTTP listen address")
	fs.StringVar(&seeds, "seatd", "127.0.0.1:7100", "RPC addresses of seatd nodes: addr,addr,... (one is enough)")
	var orderAddrs string
	fs.StringVar(&orderAddrs, "orders", "", "RPC addresses of the order service's instances, in instance order (0,1,...); none: the order routes answer 501")
	fs.StringVar(&secret, "jwt-secret", "", "HS256 secret of buyer tokens, at least 32 bytes (prefer GATEWAY_JWT_SECRET)")
	fs.StringVar(&edKeyFile, "jwt-ed25519-key", "", "PEM file of the Ed25519 public key of buyer tokens")
	a := &cfg.Gateway.Auth
	fs.StringVar(&a.JWKS.URL, "jwks-url", "", "URL of the identity provider's JSON Web Key Set (RFC 7517): token keys by kid, RS256, ES256 or EdDSA")
	fs.StringVar(&a.JWKS.File, "jwks-file", "", "or a file of one (with -jwks-url too: both sets' keys are used)")
	fs.DurationVar(&a.JWKS.Refresh, "jwks-refresh", 5*time.Minute, "how often the JWKS is fetched again")
	fs.DurationVar(&a.JWKS.MinInterval, "jwks-min-interval", 10*time.Second, "least time between fetches caused by tokens of kids the JWKS lacks")
	fs.DurationVar(&a.JWKS.Timeout, "jwks-timeout", 5*time.Second, "deadline of one JWKS fetch")
	fs.StringVar(&a.OperatorRole, "operator-role", "seatd:operator", "the role that makes a token an operator's")
	fs.StringVar(&a.OperatorClaim, "operator-claim", "roles", "the claim listing a token's roles (a list of strings, or roles separated by spaces)")
	fs.StringVar(&a.AdminToken, "admin-token", "", "static operators' bearer token, at least 16 bytes, for development (prefer GATEWAY_ADMIN_TOKEN; production: leave unset, operators send tokens with -operator-role)")
	fs.BoolVar(&cfg.Gateway.Auth.DevTokens, "dev-tokens", false, "serve POST /v1/dev/tokens, minting buyer tokens (never in production)")
	fs.IntVar(&cfg.Gateway.MaxInFlight, "max-in-flight", 4096, "requests served at once before 503 OVERLOADED")
	fs.Float64Var(&cfg.Gateway.UserRate, "user-rate", 5, "requests per second per buyer before 429")
	fs.IntVar(&cfg.Gateway.UserBurst, "user-burst", 10, "requests a buyer may send at once")
	fs.DurationVar(&cfg.Gateway.RequestTimeout, "request-timeout", 5*time.Second, "deadline of one request's calls to seatd")
	fs.DurationVar(&cfg.Gateway.CreateTimeout, "create-timeout", time.Minute, "deadline of a program create's calls to seatd")
	fs.IntVar(&cfg.Gateway.MaxBodyBytes, "max-body-bytes", 16<<20, "largest request body (program creates)")
	fs.DurationVar(&cfg.Gateway.SeatMapMaxAge, "seatmap-max-age", 200*time.Millisecond, "how long a seat map or availability answer is reused")
	fs.IntVar(&cfg.Gateway.MaxFullSeatMapSeats, "seatmap-max-full-seats", 10_000, "most seats a full-format seat map lists (past it: page by section or use format=compact)")
	fs.Int64Var(&cfg.Gateway.CacheBytes, "cache-bytes", 128<<20, "byte budget of the cache of seat maps, availability and program layouts")
	fs.Int64Var(&cfg.Gateway.MaxCacheEntryBytes, "cache-max-entry-bytes", 32<<20, "largest answer or layout the cache keeps")
	fs.Int64Var(&cfg.Gateway.TokenCacheBytes, "token-cache-bytes", 16<<20, "byte budget of the verified buyer tokens kept")
	fs.IntVar(&cfg.Client.HoldCallsPerNode, "hold-calls-per-node", 2, "PlaceHolds calls under way to one seatd node")
	fs.IntVar(&cfg.Client.MaxQueuedHolds, "max-queued-holds", 4096, "holds waiting for a call to one node before 503")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")

	var errs []error
	if err := settings.Parse(fs, args, "GATEWAY", getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		errs = append(errs, err)
	}
	cfg.Client.Seeds = settings.List(seeds)
	cfg.Orders.Addrs = settings.List(orderAddrs)
	if len(cfg.Client.Seeds) == 0 {
		errs = append(errs, errors.New("seatd: give at least one node's RPC address"))
	}
	cfg.Gateway.Auth.HS256Secret = []byte(secret)
	if edKeyFile != "" {
		key, err := readEd25519Key(edKeyFile)
		if err != nil {
			errs = append(errs, err)
		}
		cfg.Gateway.Auth.Ed25519Key = key
	}
	if err := cfg.LogLevel.UnmarshalText([]byte(logLevel)); err != nil {
		errs = append(errs, fmt.Errorf("log-level: %w", err))
	}
	if err := cfg.Gateway.Validate(); err != nil {
		errs = append(errs, err)
	}
	return cfg, errors.Join(errs...)
}

// readEd25519Key reads a PEM "PUBLIC KEY" (PKIX) holding an Ed25519 key.
func readEd25519Key(path string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("jwt-ed25519-key: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("jwt-ed25519-key: %s holds no PEM block", path)
	}
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("jwt-ed25519-key: %w", err)
	}
	ed, ok := key.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("jwt-ed25519-key: %s holds a %T, not an Ed25519 key", path, key)
	}
	return ed, nil
}

func run(args []string) error {
	cfg, err := parseConfig(args, os.Getenv)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	hlog.SetLevel(hlog.LevelWarn)
	cfg.Client.Log = log
	client, err := seatclient.New(cfg.Client)
	if err != nil {
		return err
	}
	cfg.Gateway.Inventory, cfg.Gateway.Log = client, log
	if len(cfg.Orders.Addrs) > 0 {
		if cfg.Gateway.Orders, err = orderclient.New(cfg.Orders); err != nil {
			return err
		}
	}
	gw, err := gateway.New(cfg.Gateway)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	gw.Start(ln)
	log.Info("gateway_started", "addr", ln.Addr().String(), "seatd", cfg.Client.Seeds)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	log.Info("gateway_stopping")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return gw.Stop(ctx)
}
