package events

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/segmentio/kafka-go"
)

// TopicSpec is how one of the order flow's topics is made.
type TopicSpec struct {
	Name              string
	Partitions        int
	ReplicationFactor int
	// Configs are topic settings that must hold (cleanup.policy,
	// min.insync.replicas, ...), by Kafka's names.
	Configs map[string]string
}

// Topics returns the specs of the order flow's topics: seat.holds and
// pay.events deleted by time (a week, so a consumer down for a weekend
// resumes), orders compacted. partitions is at most MaxPartitions; replicas is the
// replication factor (3 in production, 1 on a laptop), and writes need
// min(2, replicas) in-sync replicas.
func Topics(partitions, replicas int) []TopicSpec {
	isr := strconv.Itoa(min(2, replicas))
	return []TopicSpec{
		{Name: TopicHolds, Partitions: partitions, ReplicationFactor: replicas, Configs: map[string]string{
			"cleanup.policy": "delete", "retention.ms": strconv.Itoa(7 * 24 * 3600 * 1000), "min.insync.replicas": isr,
		}},
		{Name: TopicOrders, Partitions: partitions, ReplicationFactor: replicas, Configs: map[string]string{
			"cleanup.policy": "compact", "min.insync.replicas": isr,
		}},
		{Name: TopicPay, Partitions: partitions, ReplicationFactor: replicas, Configs: map[string]string{
			"cleanup.policy": "delete", "retention.ms": strconv.Itoa(7 * 24 * 3600 * 1000), "min.insync.replicas": isr,
		}},
	}
}

// ErrTopicMismatch is an existing topic whose partitions, replication or
// settings differ from its spec. Nothing is changed: partition counts
// decide where orders live, so an operator decides.
var ErrTopicMismatch = errors.New("events: topic differs from its spec")

// EnsureTopics creates the topics that do not exist, and checks that those
// that do match their specs. It reports every difference in one error
// (ErrTopicMismatch), never alters a topic, and is safe to run from every
// process at start. Any other error (Kafka out of reach, a topic just
// made and not listed yet) is worth asking again.
func EnsureTopics(ctx context.Context, brokers []string, specs []TopicSpec) error {
	for _, s := range specs {
		if s.Partitions < 1 || s.Partitions > MaxPartitions {
			return fmt.Errorf("events: topic %s: %d partitions, want 1-%d", s.Name, s.Partitions, MaxPartitions)
		}
		if s.ReplicationFactor < 1 {
			return fmt.Errorf("events: topic %s: replication factor %d, want at least 1", s.Name, s.ReplicationFactor)
		}
	}
	c := &kafka.Client{Addr: kafka.TCP(brokers...)}
	create := &kafka.CreateTopicsRequest{}
	for _, s := range specs {
		tc := kafka.TopicConfig{Topic: s.Name, NumPartitions: s.Partitions, ReplicationFactor: s.ReplicationFactor}
		for _, k := range sortedKeys(s.Configs) {
			tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: k, ConfigValue: s.Configs[k]})
		}
		create.Topics = append(create.Topics, tc)
	}
	resp, err := c.CreateTopics(ctx, create)
	if err != nil {
		return fmt.Errorf("events: creating topics: %w", err)
	}
	for name, err := range resp.Errors {
		if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			return fmt.Errorf("events: creating topic %s: %w", name, err)
		}
	}
	return checkTopics(ctx, c, specs)
}

func checkTopics(ctx context.Context, c *kafka.Client, specs []TopicSpec) error {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: names})
	if err != nil {
		return fmt.Errorf("events: reading topics: %w", err)
	}
	var diffs []string
	for _, s := range specs {
		var t *kafka.Topic
		for i := range md.Topics {
			if md.Topics[i].Name == s.Name {
				t = &md.Topics[i]
			}
		}
		// Right after a create the broker may not list the topic, or its
		// partitions, yet: not a mismatch, an answer to ask again.
		switch {
		case t == nil || len(t.Partitions) == 0:
			return fmt.Errorf("events: topic %s not listed yet", s.Name)
		case t.Error != nil:
			return fmt.Errorf("events: topic %s: %w", s.Name, t.Error)
		}
		if len(t.Partitions) != s.Partitions {
			diffs = append(diffs, fmt.Sprintf("%s: %d partitions, want %d", s.Name, len(t.Partitions), s.Partitions))
		}
		for _, p := range t.Partitions {
			if len(p.Replicas) != s.ReplicationFactor {
				diffs = append(diffs, fmt.Sprintf("%s: partition %d has %d replicas, want %d", s.Name, p.ID, len(p.Replicas), s.ReplicationFactor))
				break
			}
		}
		got, err := topicConfigs(ctx, c, s)
		if err != nil {
			return err
		}
		for _, k := range sortedKeys(s.Configs) {
			if v, ok := got[k]; ok && v != s.Configs[k] {
				diffs = append(diffs, fmt.Sprintf("%s: %s=%s, want %s", s.Name, k, v, s.Configs[k]))
			}
		}
	}
	if len(diffs) > 0 {
		return fmt.Errorf("%w: %s", ErrTopicMismatch, strings.Join(diffs, "; "))
	}
	return nil
}

// topicConfigs reads the settings a spec names. A broker that does not
// report a setting (an embedded test broker may not) is not a mismatch.
func topicConfigs(ctx context.Context, c *kafka.Client, s TopicSpec) (map[string]string, error) {
	resp, err := c.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: s.Name, ConfigNames: sortedKeys(s.Configs),
	}}})
	if err != nil {
		return nil, fmt.Errorf("events: reading topic %s settings: %w", s.Name, err)
	}
	got := map[string]string{}
	for _, r := range resp.Resources {
		if r.Error != nil {
			return nil, fmt.Errorf("events: reading topic %s settings: %w", s.Name, r.Error)
		}
		for _, e := range r.ConfigEntries {
			got[e.ConfigName] = e.ConfigValue
		}
	}
	return got, nil
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

// Brokers splits a comma-separated broker list ("host:port,host:port"),
// checking each address.
func Brokers(list string) ([]string, error) {
	var out []string
	for _, b := range strings.Split(list, ",") {
		b = strings.TrimSpace(b)
		if b == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(b); err != nil {
			return nil, fmt.Errorf("events: broker %q: want host:port", b)
		}
		out = append(out, b)
	}
	if len(out) == 0 {
		return nil, errors.New("events: no brokers")
	}
	return out, nil
}
