// Package inventory is seatd's seat inventory engine: every seat of every
// program in memory, best-available search over bitsets, all-or-nothing holds,
// and a snapshot that replicas rebuild byte for byte.
//
// Concurrency: an Engine is not safe for concurrent use. It is meant to be
// driven by one goroutine (a Raft FSM's Apply), with queries run under the
// same serialisation or against a restored copy.
//
// Determinism: the engine has no clock, no randomness, no goroutines and no
// I/O, and nothing that changes state or its encoding depends on map
// iteration order. Every command takes now (Unix nanoseconds) from its
// caller; the engine never lets time go backwards (it uses the largest now it
// has seen). The same commands in the same order give byte-identical
// snapshots on every replica.
//
// Outcomes of commands are Result values: small, numbered, stable and checked
// in a documented order, so that a replayed command gets the result it got
// the first time. Bugs are assertions: Check verifies every invariant of the
// whole state and is run after every step in tests.
//
// A program moves between engines (Raft groups) as a parcel: frozen in
// its source, exported, imported under its holds' original ids, activated,
// and kept in the source as a forward record (move.go).
package inventory
