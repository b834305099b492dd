// Package raftfsm replicates the inventory engine with hashicorp/raft: a
// node hosts several Raft groups, each an inventory.Engine behind an FSM,
// with one pebble database for every group's log and stable store.
//
// Concurrency: raft calls the FSM's Apply, Snapshot and Restore from its
// FSM goroutine, one at a time per group; the FSM serialises reads against
// them with a lock. Everything in this package is safe for concurrent use
// unless a type says otherwise.
//
// Determinism: Apply uses only what is in the log. The leader stamps each
// entry with its term clock when it proposes it, and that stamp is the
// engine's now on every replica. The term clock runs on the monotonic
// clock, so wall clock steps do not reach the log (see Clock).
package raftfsm
