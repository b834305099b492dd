package orderflow

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/segmentio/kafka-go"

	"seatd/orderflow/events"
)

// Errors of the ownership checks at Start (see CheckStores and
// Config.RebuildMissing). Both stop the start before any store is opened:
// the stores stay as they were for the operator to move.
var (
	// ErrForeignStore is a data directory holding the store of a
	// partition that another instance owns under the current settings:
	// left behind by a change of -instances (the store must move to its
	// owner; `orderflow rebalance-plan` says where). Serving without it
	// would make its owner rebuild or re-consume what it holds.
	ErrForeignStore = errors.New("orderflow: data directory holds a store of a partition another instance owns")
	// ErrStoreMissing is an owned partition without a store whose orders
	// changelog has records: its events were consumed, by this instance
	// before its store was lost or by the partition's former owner before
	// a change of -instances. Starting on an empty store would re-consume
	// seat.holds from where Kafka's retention begins. The store is moved
	// or restored in, or rebuilt from the changelog on the operator's word
	// (Config.RebuildMissing, -rebuild-missing).
	ErrStoreMissing = errors.New("orderflow: no store for a partition whose events were consumed")
)

// Move is a partition whose stores change hands when the instance count
// changes from From's count to To's: the partition's order store
// (partition-NN) and pay store (pay/pay-NN) go from instance From's data
// directory to instance To's.
type Move struct{ Partition, From, To int }

// Moves returns the partitions of partitions (1-events.MaxPartitions)
// whose owner differs between from and to instances (each 1-partitions),
// in partition order; an error names a count out of range.
func Moves(partitions, from, to int) ([]Move, error) {
	if partitions < 1 || partitions > events.MaxPartitions {
		return nil, fmt.Errorf("orderflow: partitions %d: want 1-%d", partitions, events.MaxPartitions)
	}
	for _, n := range []int{from, to} {
		if n < 1 || n > partitions {
			return nil, fmt.Errorf("orderflow: %d instances for %d partitions: want 1-%d", n, partitions, partitions)
		}
	}
	var out []Move
	for p := range partitions {
		if a, b := Owner(p, from), Owner(p, to); a != b {
			out = append(out, Move{Partition: p, From: a, To: b})
		}
	}
	return out, nil
}

// StoreDirs returns, sorted, the partitions whose stores dir holds: the
// subdirectories named prefix followed by a two-digit partition number
// ("partition-03"). A dir that does not exist holds none.
func StoreDirs(dir, prefix string) ([]int, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("orderflow: data directory: %w", err)
	}
	var out []int
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || !e.IsDir() || len(rest) != 2 {
			continue
		}
		if p, err := strconv.Atoi(rest); err == nil {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out, nil
}

// CheckStores returns ErrForeignStore, naming each such store and its
// owner, when dir holds a store (prefix + NN) of a partition that
// instance of instances does not own, or that is not one of partitions.
func CheckStores(dir, prefix string, instance, instances, partitions int) error {
	ps, err := StoreDirs(dir, prefix)
	if err != nil {
		return err
	}
	var bad []string
	for _, p := range ps {
		switch {
		case p >= partitions:
			bad = append(bad, fmt.Sprintf("%s%02d (the topics have %d partitions)", prefix, p, partitions))
		case Owner(p, instances) != instance:
			bad = append(bad, fmt.Sprintf("%s%02d (owned by instance %d)", prefix, p, Owner(p, instances)))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s holds %s; this is instance %d of %d: stop the instances and move each store to its owner's data directory (orderflow rebalance-plan, docs/orderflow.md#scaling)",
			ErrForeignStore, dir, strings.Join(bad, ", "), instance, instances)
	}
	return nil
}

// checkMissing returns ErrStoreMissing when an owned partition has no
// store directory while the orders changelog's partition has ever had a
// record (its end offset is above 0: compaction never lowers it), unless
// Config.RebuildMissing. A partition never consumed has an empty
// changelog and starts on a new store.
func (s *Service) checkMissing(ends map[int]kafka.PartitionOffsets) error {
	if s.cfg.RebuildMissing {
		return nil
	}
	var missing []int
	for _, p := range s.owned {
		if _, err := os.Stat(filepath.Join(s.cfg.DataDir, partitionDir(p))); errors.Is(err, os.ErrNotExist) {
			missing = append(missing, p)
		} else if err != nil {
			return fmt.Errorf("orderflow: data directory: %w", err)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	var consumed []string
	for _, p := range missing {
		if n := ends[p].LastOffset; n > 0 {
			consumed = append(consumed, fmt.Sprintf("partition %d (%d changelog records)", p, n))
		}
	}
	if len(consumed) > 0 {
		return fmt.Errorf("%w: %s has no store for %s; this is instance %d of %d: move the store from its former owner (orderflow rebalance-plan), restore it (orderflow restore), or start with -rebuild-missing to rebuild it from the orders changelog (docs/orderflow.md#scaling)",
			ErrStoreMissing, s.cfg.DataDir, strings.Join(consumed, ", "), s.cfg.Instance, s.cfg.Instances)
	}
	return nil
}

// InUse reports whether a pebble store directory is open in another
// process: pebble holds an fcntl lock on its LOCK file while open. A
// directory without a LOCK file is not in use.
func InUse(dir string) (bool, error) {
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: 0}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_GETLK, &lk); err != nil {
		return false, err
	}
	return lk.Type != syscall.F_UNLCK, nil
}
