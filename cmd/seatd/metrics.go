package main

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"seatd/raftfsm"
)

// nodeCollector exports the node's per-group stats at scrape time. Labels
// are group numbers and result names, never program or user ids.
type nodeCollector struct {
	node *raftfsm.Node

	leader, term, applied, commit, last, queue *prometheus.Desc
	entries, commands, applyEntries, applyCmds *prometheus.Desc
	applySeconds, holds, seats, liveHolds      *prometheus.Desc
	outbox, outboxSeq, clockSteps              *prometheus.Desc
	drained                                    *prometheus.Desc
}

func newNodeCollector(node *raftfsm.Node) *nodeCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("seatd_"+name, help, append([]string{"group"}, labels...), nil)
	}
	return &nodeCollector{
		node:         node,
		leader:       d("raft_leader", "1 if this node leads the group"),
		term:         d("raft_term", "the group's current term"),
		applied:      d("raft_applied_index", "the last log index applied"),
		commit:       d("raft_commit_index", "the last log index known committed"),
		last:         d("raft_last_index", "the last log index stored"),
		queue:        d("proposer_queue_depth", "commands waiting for group commit"),
		entries:      d("proposer_entries_total", "log entries proposed by this node while leader"),
		commands:     d("proposer_commands_total", "commands in them (commands/entries = mean batch size)"),
		applyEntries: d("fsm_entries_total", "command entries applied"),
		applyCmds:    d("fsm_commands_total", "commands applied"),
		applySeconds: d("fsm_apply_seconds_total", "time spent applying entries"),
		holds:        d("holds_total", "hold commands applied, by result", "result"),
		seats:        d("seat_legs", "seats by status over every shard of the group, a seat counted once per leg", "status"),
		liveHolds:    d("live_holds", "holds waiting for payment"),
		outbox:       d("outbox_events", "outbox events not yet acknowledged by the relay (published to Kafka); holds are refused at 1,048,576"),
		outboxSeq:    d("outbox_last_seq", "the group's last outbox sequence number"),
		clockSteps: d("clock_steps_total", "wall clock steps of more than "+raftfsm.MaxClockStep.String()+" this node found while leading the group "+
			"(an NTP step, a VM resume): the group's time did not follow them (docs/replication.md, Clocks)"),
		drained: prometheus.NewDesc("seatd_drained", "1 while this node is drained (seatd drain): it leads no group, and /readyz answers 503",
			nil, nil),
	}
}

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.leader, c.term, c.applied, c.commit, c.last, c.queue,
		c.entries, c.commands, c.applyEntries, c.applyCmds, c.applySeconds, c.holds, c.seats, c.liveHolds, c.outbox, c.outboxSeq, c.clockSteps,
		c.drained} {
		ch <- d
	}
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	drained := 0.0
	if c.node.Drained() {
		drained = 1
	}
	ch <- prometheus.MustNewConstMetric(c.drained, prometheus.GaugeValue, drained)
	for _, g := range c.node.Stats() {
		group := strconv.Itoa(int(g.Group))
		gauge := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, group)
		}
		counter := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, group)
		}
		leader := 0.0
		if g.State == "Leader" {
			leader = 1
		}
		gauge(c.leader, leader)
		gauge(c.term, float64(g.Term))
		gauge(c.applied, float64(g.Applied))
		gauge(c.commit, float64(g.Commit))
		gauge(c.last, float64(g.Last))
		gauge(c.queue, float64(g.QueueDepth))
		counter(c.entries, float64(g.Entries))
		counter(c.commands, float64(g.Commands))
		counter(c.applyEntries, float64(g.Apply.Entries))
		counter(c.applyCmds, float64(g.Apply.Commands))
		counter(c.applySeconds, g.Apply.Time.Seconds())
		counter(c.clockSteps, float64(g.ClockSteps))
		if g.Group == raftfsm.MetaGroup {
			continue
		}
		for status, n := range map[string]int{"free": g.Seats.Free, "held": g.Seats.Held, "sold": g.Seats.Sold, "blocked": g.Seats.Blocked} {
			ch <- prometheus.MustNewConstMetric(c.seats, prometheus.GaugeValue, float64(n), group, status)
		}
		gauge(c.liveHolds, float64(g.LiveHolds))
		gauge(c.outbox, float64(g.OutboxLast-g.OutboxAcked))
		gauge(c.outboxSeq, float64(g.OutboxLast))
		for r, n := range g.Apply.Holds {
			ch <- prometheus.MustNewConstMetric(c.holds, prometheus.CounterValue, float64(n), group, r.String())
		}
	}
}
