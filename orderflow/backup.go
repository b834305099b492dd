package orderflow

import (
	"fmt"
	"path/filepath"
)

// StoreCheckpoint is what Checkpoint wrote of one partition: where its
// consumers stood (the store's offsets and cluster as read just before
// its checkpoint; the checkpoint is at that point or later).
type StoreCheckpoint struct {
	Partition int    `json:"partition"`
	Dir       string `json:"dir"`        // relative to the checkpoint's directory: partition-NN
	Offset    int64  `json:"offset"`     // the last seat.holds offset applied, -1 before the first
	PayOffset int64  `json:"pay_offset"` // the same for pay.events
	Cluster   string `json:"cluster"`    // the seatd cluster whose events it applies, "" before the first
}

// Checkpoint writes a consistent copy of every owned partition's store
// into dir/partition-NN (dir is created; the partition directories must
// not exist) while the service goes on consuming, and returns what it
// wrote, in partition order. Each partition's copy is one moment of that
// partition (pebble's Checkpoint, see orders.Store.Checkpoint);
// partitions are independent, so their moments may differ. A copy opened
// as a store resumes consuming at its own offsets, and apply-once (the
// groups' marks, the pay events' ids) makes what it reads again a
// duplicate. It fails with ErrNotReady while a store is being rebuilt (a
// copy of half a rebuild would be rebuilt again anyway), or when the
// service is not started or closed. Close waits for a Checkpoint under
// way.
func (s *Service) Checkpoint(dir string) ([]StoreCheckpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started || s.closed {
		return nil, fmt.Errorf("%w: the service is not running", ErrNotReady)
	}
	for _, p := range s.owned {
		if st := s.parts[p].store.State(); !st.Initialized {
			return nil, fmt.Errorf("%w: partition %d is being rebuilt", ErrNotReady, p)
		}
	}
	var out []StoreCheckpoint
	for _, p := range s.owned {
		st := s.parts[p].store
		state := st.State()
		c := StoreCheckpoint{Partition: p, Dir: partitionDir(p), Offset: state.Offset, PayOffset: state.PayOffset, Cluster: state.Cluster}
		if err := st.Checkpoint(filepath.Join(dir, c.Dir)); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}
