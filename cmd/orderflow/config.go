package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"seatd/internal/merchant"
	"seatd/internal/settings"
	"seatd/orderflow"
	"seatd/orderflow/events"
	"seatd/orderflow/pay"
)

// Config is the orderflow binary's configuration.
type Config struct {
	Service      orderflow.Config
	SeatdAddrs   []string // seatd RPC seeds: the confirms and releases of seats (none: they stay due)
	RPCAddr      string   // the Kitex listener
	MetricsAddr  string   // /metrics, /healthz, /readyz
	StartTimeout time.Duration
	LogLevel     slog.Level

	// The pay service runs when a provider is configured (Alipay's app id
	// or WeChat Pay's mch id given), over the order service's partitions.
	Alipay    merchant.Alipay
	Wechat    merchant.Wechat
	NotifyURL string // the gateway's base URL the providers reach: notifications go to NotifyURL/v1/payments/<channel>/notify
	ReturnURL string // page mode: where the buyer's browser goes after paying
	Pay       pay.Config
}

// PayEnabled says whether a payment provider is configured.
func (c Config) PayEnabled() bool { return c.Alipay.AppID != "" || c.Wechat.MchID != "" }

// parseConfig reads the configuration (see package settings: flags, then
// ORDERFLOW_* environment variables, then a -config file; -brokers also
// from KAFKA_BROKERS) and validates it, reporting every violation at once.
func parseConfig(args []string, getenv func(string) string) (Config, error) {
	var cfg Config
	sc := &cfg.Service
	fs := flag.NewFlagSet("orderflow", flag.ContinueOnError)
	var brokers, logLevel, seatd string
	fs.StringVar(&brokers, "brokers", "", "Kafka bootstrap brokers: host:port,host:port (default: $KAFKA_BROKERS)")
	fs.IntVar(&sc.Instance, "instance", 0, "this instance's number, 0 to instances-1 (a StatefulSet ordinal)")
	fs.IntVar(&sc.Instances, "instances", 1, "how many instances share the partitions")
	fs.IntVar(&sc.Partitions, "partitions", orderflow.DefaultPartitions, fmt.Sprintf("partitions of seat.holds and orders (1-%d; must match existing topics)", events.MaxPartitions))
	fs.IntVar(&sc.Replicas, "replicas", 1, "replication factor of the topics it creates")
	fs.StringVar(&sc.DataDir, "data", "", "data directory: one pebble store per owned partition")
	fs.BoolVar(&sc.RebuildMissing, "rebuild-missing", false, "rebuild an owned partition that has no store although its orders changelog has records (a lost store) from the changelog; without it such a partition stops the start")
	fs.StringVar(&seatd, "seatd", "", "seatd RPC addresses (host:port,...) to confirm paid holds and release refunded seats; without them these calls wait in the stores")
	fs.IntVar(&sc.MaxSeatCalls, "max-seat-calls", orderflow.DefaultMaxSeatCalls, "seatd calls under way per partition")
	fs.StringVar(&cfg.RPCAddr, "rpc", "127.0.0.1:7300", "Kitex listen address")
	fs.StringVar(&cfg.MetricsAddr, "metrics", "127.0.0.1:7301", "HTTP listen address of /metrics, /healthz, /readyz")
	fs.IntVar(&sc.MaxBatch, "max-batch", orderflow.DefaultMaxBatch, "events applied per synced batch")
	fs.Int64Var(&sc.MaxPending, "max-pending", orderflow.DefaultMaxPending, "changes waiting for the changelog per partition before consuming pauses")
	fs.IntVar(&sc.PublishBatch, "publish-batch", orderflow.DefaultPublishBatch, "changelog messages per write")
	fs.DurationVar(&sc.PublishLinger, "publish-linger", orderflow.DefaultPublishLinger, "how long a changelog write waits to fill")
	fs.DurationVar(&cfg.StartTimeout, "start-timeout", time.Minute, "how long start-up may take to reach Kafka and check the topics")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	a, w, pc := &cfg.Alipay, &cfg.Wechat, &cfg.Pay
	fs.StringVar(&a.Gateway, "alipay-gateway", "", "Alipay OpenAPI gateway URL (default: Alipay's production gateway)")
	fs.StringVar(&a.AppID, "alipay-app-id", "", "Alipay app id; set, the pay service offers Alipay")
	fs.StringVar(&a.KeyFile, "alipay-key-file", "", "the Alipay app's private key, PEM")
	fs.StringVar(&a.PublicKeyFile, "alipay-public-key-file", "", "Alipay's public key, PEM; during a rotation several PEM blocks, the current first (SIGHUP reads the key files again)")
	fs.StringVar(&w.BaseURL, "wechat-base-url", "", "WeChat Pay API host (default: WeChat Pay's production host)")
	fs.StringVar(&w.MchID, "wechat-mch-id", "", "WeChat Pay merchant id; set, the pay service offers WeChat Pay")
	fs.StringVar(&w.AppID, "wechat-app-id", "", "the app id WeChat Pay trades are made for")
	fs.StringVar(&w.Serial, "wechat-serial", "", "the merchant API certificate's serial")
	fs.StringVar(&w.SerialFromFile, "wechat-serial-file", "", "or a file holding it (as paysim's keys directory does: wechat_merchant_serial)")
	fs.StringVar(&w.KeyFile, "wechat-key-file", "", "the merchant's API private key (apiclient_key.pem)")
	fs.StringVar(&w.APIv3KeyFile, "wechat-apiv3-key-file", "", "the 32-byte APIv3 key that decrypts notifications")
	fs.StringVar(&w.PublicKeyFile, "wechat-platform-public-key-file", "", "WeChat Pay's public key, PEM (public-key mode); during a rotation several PEM blocks")
	fs.StringVar(&w.PublicKeyID, "wechat-platform-public-key-id", "", "its id, PUB_KEY_ID_... (several keys: their ids in the file's order, separated by commas)")
	fs.StringVar(&w.PublicKeyIDFromFile, "wechat-platform-public-key-id-file", "", "or a file holding the id(s), read again with the keys on SIGHUP (as paysim's keys directory does: wechat_platform_public_key_id)")
	fs.StringVar(&w.CertFile, "wechat-platform-cert-file", "", "and/or WeChat Pay's platform certificates, PEM (certificate mode; each known by its serial)")
	fs.StringVar(&cfg.NotifyURL, "notify-base-url", "", "the gateway's public base URL; providers notify NOTIFY-BASE-URL/v1/payments/{alipay,wechat}/notify (required with a provider)")
	fs.StringVar(&cfg.ReturnURL, "return-url", "", "page mode: where the buyer's browser goes after paying")
	fs.IntVar(&pc.MaxAttempts, "max-pay-attempts", pay.DefaultMaxAttempts, fmt.Sprintf("payment attempts per order (1-%d)", pay.MaxAttemptsLimit))
	fs.IntVar(&pc.MaxActive, "max-open-trades", pay.DefaultMaxActive, "trades open or closing per partition before payments are refused (503)")
	fs.DurationVar(&pc.QueryAfter, "pay-query-after", pay.DefaultQueryAfter, "when an unpaid trade is first queried (then backing off)")
	fs.DurationVar(&pc.MaxQueryInterval, "pay-max-query-interval", pay.DefaultMaxQueryInterval, "the longest wait between queries of a trade")
	fs.DurationVar(&pc.ScanInterval, "pay-scan-interval", pay.DefaultScanInterval, "how often open trades and refunds due are looked at")

	var errs []error
	if err := settings.Parse(fs, args, "ORDERFLOW", getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		errs = append(errs, err)
	}
	if brokers == "" {
		brokers = getenv("KAFKA_BROKERS")
	}
	if brokers == "" {
		errs = append(errs, errors.New("brokers: required (-brokers, ORDERFLOW_BROKERS or KAFKA_BROKERS)"))
	} else if list, err := events.Brokers(brokers); err != nil {
		errs = append(errs, err)
	} else {
		sc.Brokers = list
	}
	if seatd != "" {
		if list, err := events.Brokers(seatd); err != nil {
			errs = append(errs, fmt.Errorf("seatd: %w", err))
		} else {
			cfg.SeatdAddrs = list
		}
	}
	if err := cfg.LogLevel.UnmarshalText([]byte(logLevel)); err != nil {
		errs = append(errs, fmt.Errorf("log-level: %w", err))
	}
	if cfg.RPCAddr == "" || cfg.MetricsAddr == "" {
		errs = append(errs, errors.New("rpc and metrics addresses are required"))
	}
	if sc.Partitions < 1 {
		// Config takes 0 for the default; a flag of 0 is a mistake.
		errs = append(errs, fmt.Errorf("partitions %d: want 1-%d", sc.Partitions, events.MaxPartitions))
	}
	if cfg.StartTimeout <= 0 {
		errs = append(errs, fmt.Errorf("start-timeout %v: want a positive duration", cfg.StartTimeout))
	}
	probe := *sc
	if len(probe.Brokers) == 0 {
		probe.Brokers = []string{"unset"} // the brokers' problem is reported above
	}
	if err := probe.Validate(); err != nil {
		errs = append(errs, err)
	}
	if cfg.PayEnabled() {
		if cfg.NotifyURL == "" {
			errs = append(errs, errors.New("notify-base-url: required with a payment provider (the gateway's URL the providers reach)"))
		}
		cfg.NotifyURL = strings.TrimRight(cfg.NotifyURL, "/")
		if a.AppID != "" && (a.KeyFile == "" || a.PublicKeyFile == "") {
			errs = append(errs, errors.New("alipay: -alipay-key-file and -alipay-public-key-file are required with -alipay-app-id"))
		}
		if w.MchID != "" && (w.AppID == "" || (w.Serial == "" && w.SerialFromFile == "") || w.KeyFile == "" || w.APIv3KeyFile == "" || (w.PublicKeyFile == "" && w.CertFile == "")) {
			errs = append(errs, errors.New("wechat: -wechat-app-id, -wechat-serial (or -wechat-serial-file), -wechat-key-file, -wechat-apiv3-key-file and a platform key or certificate are required with -wechat-mch-id"))
		}
		if w.Serial != "" && w.SerialFromFile != "" {
			errs = append(errs, errors.New("wechat: -wechat-serial and -wechat-serial-file: give one"))
		}
		if w.PublicKeyID != "" && w.PublicKeyIDFromFile != "" {
			errs = append(errs, errors.New("wechat: -wechat-platform-public-key-id and -wechat-platform-public-key-id-file: give one"))
		}
	}
	return cfg, errors.Join(errs...)
}
