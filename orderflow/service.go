// Package orderflow is the order service: it turns the hold events of
// seat.holds and the payment outcomes of pay.events into durable orders,
// applies each event once, confirms paid holds and releases refunded
// seats in the inventory (seatd), records the payments that must go back
// (refunds due, for the pay service), publishes every change of an order
// to the compacted orders changelog, rebuilds a lost store from that
// changelog, and serves the orders of the partitions it owns.
// docs/orderflow.md describes it for operators.
//
// Ownership: instance i of N owns the partitions p with p % N == i, of
// both topics (they have the same partition count, and an order's
// partition is its number's gene modulo that count, the same as its
// buyer's). Each owned partition has its own pebble store (package
// orders), consumer and changelog publisher.
//
// Concurrency: Start launches, per owned partition, a fetching goroutine
// per topic (a kafka-go partition Reader, no consumer group: the store's
// offsets are the source of truth), an applying goroutine (the store's
// one writer, for both topics and the seat calls' answers), a
// publishing goroutine, and a goroutine making the seat calls due (at
// most MaxSeatCalls at once). Order, Orders, Describe and Ready may be
// called from any goroutine. Close stops them all: the batch being
// applied is finished and committed, then the stores are closed.
package orderflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"seatd/inventory"
	"seatd/orderflow/events"
	"seatd/orderflow/orders"
)

// Config configures a Service. Zero fields take the defaults named.
type Config struct {
	// Brokers are the Kafka bootstrap addresses (host:port).
	Brokers []string
	// Instance is this instance's number, 0 <= Instance < Instances (a
	// StatefulSet ordinal); it owns the partitions p with
	// p % Instances == Instance.
	Instance, Instances int
	// Partitions is the partition count of seat.holds and orders, at most
	// events.MaxPartitions; Start creates the topics with it, or stops if
	// they exist with another. Default 16.
	Partitions int
	// Replicas is the topics' replication factor. Default 1.
	Replicas int
	// DataDir holds one pebble database per owned partition
	// (DataDir/partition-NN).
	DataDir string
	// MaxBatch bounds the events applied in one synced batch. Default
	// 4096: a sync costs about a millisecond, so a batch of this size
	// makes it a fraction of a microsecond per event, while a batch
	// stays a few megabytes.
	MaxBatch int
	// MaxBatchBytes bounds the events' bytes in one batch. Default 4 MiB.
	MaxBatchBytes int
	// MaxPending bounds a partition's changes waiting for the changelog;
	// at the bound, consuming that partition pauses until the publisher
	// catches up (so an unwritable orders topic stops the partition
	// rather than filling the disk). Default 1,000,000.
	MaxPending int64
	// PublishBatch bounds the changelog messages of one write, and
	// PublishBatchBytes their values' bytes; one write is one kafka-go
	// batch, so one produce record batch, which the broker appends whole
	// or not at all (see publish). Defaults 1000 and 512 KiB, under
	// Kafka's default max.message.bytes of 1 MiB.
	PublishBatch      int
	PublishBatchBytes int
	// PublishLinger is how long the changelog writer waits for a batch to
	// fill before sending what it has (kafka-go's BatchTimeout, whose
	// default of 1 s would delay every change). Default 2ms.
	PublishLinger time.Duration
	// Inventory confirms paid holds and releases refunded seats in seatd
	// (a *seatclient.Client). Without one, the seat calls stay due in the
	// stores, for a run that has one: tests of the order flow alone.
	Inventory Inventory
	// MaxSeatCalls bounds the seat calls a partition makes at once.
	// Default 4: each waits for a Raft commit in seatd (milliseconds), and
	// a partition's payments arrive at most a few hundred a second.
	MaxSeatCalls int
	// RebuildMissing lets Start rebuild, from the orders changelog, an
	// owned partition that has no store although its changelog has
	// records (a lost store). Without it such a partition stops the start
	// with ErrStoreMissing: after a change of Instances the store is at
	// the former owner and must be moved, and only an operator knows
	// which case it is.
	RebuildMissing bool
	// Log receives the service's messages. Default: discarded.
	Log *slog.Logger
	// Registerer, when set, gets the service's Prometheus metrics.
	Registerer prometheus.Registerer
}

// Defaults of Config.
const (
	DefaultPartitions        = 16
	DefaultMaxBatch          = 4096
	DefaultMaxBatchBytes     = 4 << 20
	DefaultMaxPending        = 1_000_000
	DefaultPublishBatch      = 1000
	DefaultPublishBatchBytes = 512 << 10
	DefaultPublishLinger     = 2 * time.Millisecond
	DefaultMaxSeatCalls      = 4
)

func (c Config) withDefaults() Config {
	if c.Partitions == 0 {
		c.Partitions = DefaultPartitions
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.MaxBatchBytes == 0 {
		c.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if c.MaxPending == 0 {
		c.MaxPending = DefaultMaxPending
	}
	if c.PublishBatch == 0 {
		c.PublishBatch = DefaultPublishBatch
	}
	if c.PublishBatchBytes == 0 {
		c.PublishBatchBytes = DefaultPublishBatchBytes
	}
	if c.PublishLinger == 0 {
		c.PublishLinger = DefaultPublishLinger
	}
	if c.MaxSeatCalls == 0 {
		c.MaxSeatCalls = DefaultMaxSeatCalls
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports every setting out of range at once, zero fields taking
// their defaults.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("orderflow: no brokers"))
	}
	if c.Instances < 1 || c.Instance < 0 || c.Instance >= c.Instances {
		errs = append(errs, fmt.Errorf("orderflow: instance %d of %d: want 0 <= instance < instances", c.Instance, c.Instances))
	}
	if c.Partitions < 1 || c.Partitions > events.MaxPartitions {
		errs = append(errs, fmt.Errorf("orderflow: partitions %d: want 1-%d", c.Partitions, events.MaxPartitions))
	}
	if c.Instances > c.Partitions && c.Partitions >= 1 {
		errs = append(errs, fmt.Errorf("orderflow: %d instances for %d partitions: some would own none", c.Instances, c.Partitions))
	}
	if c.Replicas < 1 {
		errs = append(errs, fmt.Errorf("orderflow: replicas %d: want at least 1", c.Replicas))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("orderflow: no data directory"))
	}
	if c.MaxBatch < 1 || c.MaxBatch > 1<<16 || c.MaxBatchBytes < 1<<10 || c.MaxBatchBytes > 64<<20 {
		errs = append(errs, fmt.Errorf("orderflow: max batch %d events (want 1-%d), %d bytes (want 1 KiB-64 MiB)", c.MaxBatch, 1<<16, c.MaxBatchBytes))
	}
	if c.MaxPending < 1 {
		errs = append(errs, fmt.Errorf("orderflow: max pending %d: want at least 1", c.MaxPending))
	}
	if c.PublishBatch < 1 || c.PublishBatch > 10_000 || c.PublishBatchBytes < 1<<10 || c.PublishBatchBytes > 8<<20 {
		errs = append(errs, fmt.Errorf("orderflow: publish batch %d messages (want 1-10000), %d bytes (want 1 KiB-8 MiB)", c.PublishBatch, c.PublishBatchBytes))
	}
	if c.PublishLinger < 0 || c.PublishLinger > time.Second {
		errs = append(errs, fmt.Errorf("orderflow: publish linger %v: want 0-1s", c.PublishLinger))
	}
	if c.MaxSeatCalls < 1 || c.MaxSeatCalls > 256 {
		errs = append(errs, fmt.Errorf("orderflow: max seat calls %d: want 1-256", c.MaxSeatCalls))
	}
	return errors.Join(errs...)
}

// Owner returns the instance of n that owns partition p.
func Owner(p, instances int) int { return p % instances }

// Errors of the reads.
var (
	// ErrNotOwner is a read of a partition another instance owns; the
	// error is a *NotOwnerError naming it. Never a "not found": this
	// instance does not know.
	ErrNotOwner = errors.New("orderflow: partition owned by another instance")
	// ErrNotReady is a read of an owned partition whose store is still
	// being rebuilt, or a service not started or closed.
	ErrNotReady = errors.New("orderflow: partition not ready")
)

// NotOwnerError is ErrNotOwner with the partition and its owner.
type NotOwnerError struct{ Partition, Owner int }

func (e *NotOwnerError) Error() string {
	return fmt.Sprintf("orderflow: partition %d is owned by instance %d", e.Partition, e.Owner)
}

// Is makes errors.Is(err, ErrNotOwner) hold.
func (e *NotOwnerError) Is(target error) bool { return target == ErrNotOwner }

// Service is the order service of one instance.
type Service struct {
	cfg     Config
	metrics *metrics
	parts   map[int]*partition // owned partitions, fixed by New
	owned   []int

	mu      sync.Mutex // guards started, closed, cancel
	started bool
	closed  bool
	cancel  context.CancelFunc

	writer *kafka.Writer
	wg     sync.WaitGroup
}

// New validates cfg and returns a Service that has not started.
func New(cfg Config) (*Service, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, metrics: newMetrics(), parts: map[int]*partition{}}
	for p := range cfg.Partitions {
		if Owner(p, cfg.Instances) == cfg.Instance {
			s.owned = append(s.owned, p)
			s.parts[p] = &partition{svc: s, id: p, log: cfg.Log.With("partition", p), wake: make(chan struct{}, 1), drained: make(chan struct{}, 1),
				callWake: make(chan struct{}, 1), results: make(chan taskResult, cfg.MaxSeatCalls), calls: map[inventory.OrderNo]bool{},
				paid: map[inventory.OrderNo]bool{}, confirmsDue: map[inventory.OrderNo]time.Time{}}
			s.parts[p].applied.Store(-1) // nothing applied until the store says otherwise
			s.parts[p].payApplied.Store(-1)
		}
	}
	s.metrics.collector.svc = s
	if cfg.Registerer != nil {
		if err := s.metrics.register(cfg.Registerer); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Start checks the topics (creating them when missing: a partition count
// or setting that differs stops the start with the difference), reads
// where each owned partition of seat.holds ends (what readiness waits
// for), opens the stores, and starts each partition: a store that is
// missing or was never completed is first rebuilt from the changelog.
// It returns once every partition has started, before they are ready
// (see Ready). ctx bounds the start-up calls only.
func (s *Service) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closed {
		return errors.New("orderflow: started twice, or after Close")
	}
	var ends, payEnds, changelogEnds map[int]kafka.PartitionOffsets
	if err := untilDone(ctx, func() (err error) {
		if err = events.EnsureTopics(ctx, s.cfg.Brokers, events.Topics(s.cfg.Partitions, s.cfg.Replicas)); err != nil {
			return err
		}
		if ends, err = s.offsets(ctx, events.TopicHolds); err != nil {
			return err
		}
		if changelogEnds, err = s.offsets(ctx, events.TopicOrders); err != nil {
			return err
		}
		payEnds, err = s.offsets(ctx, events.TopicPay)
		return err
	}); err != nil {
		if errors.Is(err, events.ErrTopicMismatch) {
			return err
		}
		return fmt.Errorf("orderflow: Kafka at %s not ready before the start deadline: %w", strings.Join(s.cfg.Brokers, ","), err)
	}
	// Stores of another owner, or missing ones already consumed, stop
	// the start before anything is opened or created (see scale.go).
	if err := CheckStores(s.cfg.DataDir, "partition-", s.cfg.Instance, s.cfg.Instances, s.cfg.Partitions); err != nil {
		return err
	}
	if err := s.checkMissing(changelogEnds); err != nil {
		return err
	}
	if err := os.MkdirAll(s.cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("orderflow: data directory: %w", err)
	}
	for _, p := range s.owned {
		st, err := orders.Open(filepath.Join(s.cfg.DataDir, partitionDir(p)), p, s.cfg.Partitions, orders.Options{Log: s.cfg.Log})
		if err != nil {
			for _, q := range s.owned {
				if s.parts[q].store != nil {
					s.parts[q].store.Close()
					s.parts[q].store = nil
				}
			}
			return err
		}
		part := s.parts[p]
		part.store = st
		part.startEnd = ends[p].LastOffset
		part.payStartEnd = payEnds[p].LastOffset
	}
	s.writer = &kafka.Writer{
		Addr: kafka.TCP(s.cfg.Brokers...), Topic: events.TopicOrders, Balancer: events.GeneBalancer{},
		// Every in-sync replica has the change before the pending entry
		// is deleted: kafka-go's default, RequireNone, would lose it.
		RequiredAcks: kafka.RequireAll,
		// One publish is one batch (see publish): the batch bounds are
		// above what publish sends, with room for each record's framing.
		BatchSize:    s.cfg.PublishBatch,
		BatchBytes:   int64(s.cfg.PublishBatchBytes + s.cfg.PublishBatch*256),
		BatchTimeout: s.cfg.PublishLinger,
		MaxAttempts:  5, WriteBackoffMin: 50 * time.Millisecond, WriteBackoffMax: time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second,
	}
	run, cancel := context.WithCancel(context.Background())
	s.cancel, s.started = cancel, true
	for _, p := range s.owned {
		part := s.parts[p]
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			part.run(run)
		}()
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.watchLag(run)
	}()
	s.cfg.Log.InfoContext(ctx, "orderflow_started", "instance", s.cfg.Instance, "instances", s.cfg.Instances,
		"partitions", s.cfg.Partitions, "owned", s.owned)
	return nil
}

// untilDone calls fn until it succeeds, its error is a topic mismatch
// (which only an operator mends), or ctx ends; it returns the last error.
// Kafka answers with passing errors while it starts or right after a
// topic is made (a partition without a leader yet, a stale connection
// from before a broker restart), and a process that starts beside the
// broker must ride over them.
func untilDone(ctx context.Context, fn func() error) error {
	backoff := 50 * time.Millisecond
	for {
		err := fn()
		if err == nil || errors.Is(err, events.ErrTopicMismatch) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// lagInterval is how often the lag of every owned partition is measured
// against the broker's end offsets, so that it grows while a partition
// applies nothing (stopped, rebuilding, or its store stuck), not only
// after batches.
const lagInterval = 2 * time.Second

// watchLag sets each owned partition's lag from the broker's end offsets
// every lagInterval until ctx ends. While the broker is out of reach the
// last figures stay.
func (s *Service) watchLag(ctx context.Context) {
	t := time.NewTicker(lagInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		lctx, cancel := context.WithTimeout(ctx, lagInterval)
		ends, err := s.offsets(lctx, events.TopicHolds)
		cancel()
		if err != nil {
			continue
		}
		for _, p := range s.owned {
			next := s.parts[p].applied.Load() + 1
			s.metrics.lag.WithLabelValues(partLabel(p)).Set(float64(max(ends[p].LastOffset-next, 0)))
		}
	}
}

// partitionDir is the directory of a partition's store under DataDir.
func partitionDir(p int) string { return fmt.Sprintf("partition-%02d", p) }

// offsets returns the first and end offsets of the owned partitions of a
// topic.
func (s *Service) offsets(ctx context.Context, topic string) (map[int]kafka.PartitionOffsets, error) {
	c := &kafka.Client{Addr: kafka.TCP(s.cfg.Brokers...), Timeout: 10 * time.Second}
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, p := range s.owned {
		req.Topics[topic] = append(req.Topics[topic], kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p))
	}
	resp, err := c.ListOffsets(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("orderflow: offsets of %s: %w", topic, err)
	}
	out := map[int]kafka.PartitionOffsets{}
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("orderflow: offsets of %s partition %d: %w", topic, po.Partition, po.Error)
		}
		out[po.Partition] = po
	}
	for _, p := range s.owned {
		if _, ok := out[p]; !ok {
			return nil, fmt.Errorf("orderflow: offsets of %s partition %d: no answer", topic, p)
		}
	}
	return out, nil
}

// Close stops consuming and publishing (the batch being applied is
// committed first; changes not yet published stay pending for the next
// start) and closes the stores.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	started := s.started
	s.mu.Unlock()
	if !started {
		return nil
	}
	s.cancel()
	s.wg.Wait()
	var errs []error
	if err := s.writer.Close(); err != nil {
		errs = append(errs, fmt.Errorf("orderflow: changelog writer: %w", err))
	}
	for _, p := range s.owned {
		part := s.parts[p]
		part.serving.Store(false)
		part.closeMu.Lock()
		if err := part.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("orderflow: partition %d: %w", p, err))
		}
		part.store = nil
		part.closeMu.Unlock()
	}
	s.cfg.Log.Info("orderflow_stopped")
	return errors.Join(errs...)
}

// Description is what an instance says about itself.
type Description struct {
	Instance, Instances, Partitions int
	Owned                           []int // sorted
	Ready                           bool
}

// Describe returns the instance's place and readiness.
func (s *Service) Describe() Description {
	return Description{Instance: s.cfg.Instance, Instances: s.cfg.Instances, Partitions: s.cfg.Partitions,
		Owned: slices.Clone(s.owned), Ready: s.Ready() == nil}
}

// Ready returns nil once every owned partition has been rebuilt (when it
// had to be) and has applied seat.holds and pay.events up to where they
// ended at Start;
// otherwise an error naming each partition that is not, and why.
func (s *Service) Ready() error {
	var why []string
	for _, p := range s.owned {
		if err := s.parts[p].ready(); err != nil {
			why = append(why, err.Error())
		}
	}
	if len(why) > 0 {
		return fmt.Errorf("%w: %s", ErrNotReady, strings.Join(why, "; "))
	}
	return nil
}

// WaitReady waits until Ready or ctx ends.
func (s *Service) WaitReady(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		err := s.Ready()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (%w)", err, ctx.Err())
		case <-t.C:
		}
	}
}

// serving returns the store of an owned partition that may serve reads.
func (s *Service) serving(p int) (*partition, error) {
	part, ok := s.parts[p]
	if !ok {
		return nil, &NotOwnerError{Partition: p, Owner: Owner(p, s.cfg.Instances)}
	}
	if !part.serving.Load() {
		return nil, fmt.Errorf("%w: partition %d is rebuilding or closed", ErrNotReady, p)
	}
	return part, nil
}

// PartitionOfOrder returns the partition of an order number.
func (s *Service) PartitionOfOrder(no inventory.OrderNo) int {
	return events.PartitionOfOrder(no, s.cfg.Partitions)
}

// PartitionOfUser returns the partition of a buyer's orders.
func (s *Service) PartitionOfUser(user uint64) int {
	return events.PartitionOfUser(user, s.cfg.Partitions)
}

// Order returns an order: orders.ErrNotFound, a *NotOwnerError when
// another instance owns its partition, ErrNotReady while the partition
// rebuilds.
func (s *Service) Order(no inventory.OrderNo) (orders.Order, error) {
	part, err := s.serving(s.PartitionOfOrder(no))
	if err != nil {
		return orders.Order{}, err
	}
	return part.read(func(st *orders.Store) (orders.Order, error) { return st.Get(no) })
}

// Orders returns a page of a buyer's orders, newest first (see
// orders.Store.List for the cursor and limit), with the errors of Order.
func (s *Service) Orders(user uint64, cursor string, limit int) (orders.Page, error) {
	part, err := s.serving(s.PartitionOfUser(user))
	if err != nil {
		return orders.Page{}, err
	}
	return readPage(part, func(st *orders.Store) (orders.Page, error) { return st.List(user, cursor, limit) })
}

// RefundsDue returns a page of an owned partition's refunds due (see
// orders.Store.RefundsDue for the cursor and limit): the payments the pay
// service must give back. The errors are those of Order.
func (s *Service) RefundsDue(partition int, cursor string, limit int) (orders.DuePage, error) {
	part, err := s.serving(partition)
	if err != nil {
		return orders.DuePage{}, err
	}
	part.closeMu.RLock()
	defer part.closeMu.RUnlock()
	if part.store == nil {
		return orders.DuePage{}, fmt.Errorf("%w: partition %d is closed", ErrNotReady, part.id)
	}
	return part.store.RefundsDue(cursor, limit)
}

func readPage(part *partition, f func(*orders.Store) (orders.Page, error)) (orders.Page, error) {
	part.closeMu.RLock()
	defer part.closeMu.RUnlock()
	if part.store == nil {
		return orders.Page{}, fmt.Errorf("%w: partition %d is closed", ErrNotReady, part.id)
	}
	return f(part.store)
}

// partition is one owned partition: its store, consumer and publisher.
type partition struct {
	svc *Service
	id  int
	log *slog.Logger

	// closeMu keeps store open while reads use it: reads hold it shared,
	// Close exclusively.
	closeMu sync.RWMutex
	store   *orders.Store

	startEnd    int64       // seat.holds's end offset at Start: ready once applied up to it
	payStartEnd int64       // pay.events's, likewise
	serving     atomic.Bool // rebuilt: reads may come
	applied     atomic.Int64
	payApplied  atomic.Int64
	stopped     atomic.Pointer[error] // why consuming stopped for good (a newer schema, a failed commit)
	waitLogged  bool                  // the writer's: the pay event waiting for its order was logged
	// paid (the writer's) are the orders the batch being applied marked
	// paid, and confirmsDue (the writer's, at most maxTimedConfirms) when
	// each confirm timed became due: see timeConfirms.
	paid        map[inventory.OrderNo]bool
	confirmsDue map[inventory.OrderNo]time.Time

	wake     chan struct{}   // cap 1: a commit left changes to publish
	drained  chan struct{}   // cap 1: the publisher published some (back-pressure)
	callWake chan struct{}   // cap 1: a commit may have made seat calls due, or ended some
	results  chan taskResult // cap MaxSeatCalls: the inventory's answers, for the writer

	callMu sync.Mutex                 // guards calls
	calls  map[inventory.OrderNo]bool // orders with a seat call under way or its answer not committed: at most MaxSeatCalls
}

func (p *partition) read(f func(*orders.Store) (orders.Order, error)) (orders.Order, error) {
	p.closeMu.RLock()
	defer p.closeMu.RUnlock()
	if p.store == nil {
		return orders.Order{}, fmt.Errorf("%w: partition %d is closed", ErrNotReady, p.id)
	}
	return f(p.store)
}

// ready says why the partition is not ready, or nil.
func (p *partition) ready() error {
	if e := p.stopped.Load(); e != nil {
		return fmt.Errorf("partition %d stopped: %v", p.id, *e)
	}
	if !p.serving.Load() {
		return fmt.Errorf("partition %d: rebuilding", p.id)
	}
	if next := p.applied.Load() + 1; next < p.startEnd {
		return fmt.Errorf("partition %d: at offset %d of %d", p.id, next, p.startEnd)
	}
	if next := p.payApplied.Load() + 1; next < p.payStartEnd {
		return fmt.Errorf("partition %d: at %s offset %d of %d", p.id, events.TopicPay, next, p.payStartEnd)
	}
	return nil
}
