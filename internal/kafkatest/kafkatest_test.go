package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"seatd/inventory"
	"seatd/orderflow/events"
)

// partitions is the partition count of the topics under test: more than
// one, fewer than the genes, so that the balancer has to pick.
const partitions = 8

// TestEmbedded runs the order flow's topic and partitioning checks against
// the in-process broker.
func TestEmbedded(t *testing.T) {
	brokers := Embedded(t)
	specs := topicSpecs()
	checkEnsureTopics(t, brokers, specs)
	checkPlacement(t, brokers, specs[0].Name, partitions)

	// With a count that divides the 64 genes, an order number's gene and
	// the number itself fall on the same partition; a count that does not
	// tells a balancer that skips the gene from one that uses it.
	odd := events.Topics(6, 1)[0]
	odd.Name += ".p6"
	if err := events.EnsureTopics(ctxFor(t), brokers, []events.TopicSpec{odd}); err != nil {
		t.Fatalf("EnsureTopics(%s) = %v; want nil", odd.Name, err)
	}
	checkPlacement(t, brokers, odd.Name, odd.Partitions)
}

// TestReal runs the same checks against a real Kafka 4.4 broker, then
// stops it (cleanly, then by SIGKILL) and restarts it on the same data:
// the topics and every acknowledged message must still be there, and new
// messages must be taken as before.
func TestReal(t *testing.T) {
	b := Real(t)
	brokers := b.Addrs()
	specs := topicSpecs()
	checkEnsureTopics(t, brokers, specs)
	sent := checkPlacement(t, brokers, specs[0].Name, partitions)

	// Not in subtests: a Broker reports to the test that called Real.
	for _, stop := range []struct {
		name string
		fn   func()
	}{{"Stop", b.Stop}, {"Kill", b.Kill}} {
		pgid := b.pgid()
		stop.fn()
		// No process of the broker's may outlive a stop, nor its port.
		if err := syscall.Kill(-pgid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Fatalf("after %s, signalling the broker's process group %d: %v; want ESRCH (no such group)", stop.name, pgid, err)
		}
		if c, err := net.DialTimeout("tcp", brokers[0], time.Second); err == nil {
			c.Close()
			t.Fatalf("after %s, %s still accepts connections", stop.name, brokers[0])
		}
		b.Start()
		// kafka-go's DefaultTransport, which EnsureTopics uses, still pools
		// connections to the broker's previous run, and each fails one
		// request (EOF) before it is dropped. A process started after the
		// restart has none, as here after this.
		kafka.DefaultTransport.(*kafka.Transport).CloseIdleConnections()
		if err := events.EnsureTopics(ctxFor(t), brokers, specs); err != nil {
			t.Fatalf("EnsureTopics after %s and Start = %v; want nil", stop.name, err)
		}
		for p, want := range sent {
			if got := readPartition(t, brokers, specs[0].Name, p, want.from, want.to); !equal(got, want.keys) {
				t.Errorf("after %s and Start, partition %d holds keys %v; want %v", stop.name, p, got, want.keys)
			}
		}
		checkPlacement(t, brokers, specs[0].Name, partitions) // and it takes new ones

	}
}

// TestEmbeddedWithoutTopicSettings checks that EnsureTopics accepts topics
// from a broker that reports none of their settings, as some test brokers
// do: it cannot compare what it is not told.
func TestEmbeddedWithoutTopicSettings(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var described atomic.Int32
	c.ControlKey(int16(kmsg.DescribeConfigs), func(r kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		described.Add(1)
		req := r.(*kmsg.DescribeConfigsRequest)
		resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
		for _, rr := range req.Resources {
			res := kmsg.NewDescribeConfigsResponseResource()
			res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
			resp.Resources = append(resp.Resources, res) // no Configs
		}
		return resp, nil, true
	})
	specs := topicSpecs()
	for i := range 2 {
		if err := events.EnsureTopics(ctxFor(t), c.ListenAddrs(), specs); err != nil {
			t.Fatalf("EnsureTopics #%d with no settings reported = %v; want nil", i+1, err)
		}
	}
	if described.Load() == 0 {
		t.Fatal("EnsureTopics never asked for the topics' settings; want it to")
	}
}

// checkEnsureTopics checks that EnsureTopics creates the topics, accepts
// them as they are on a second run, and refuses topics made otherwise
// (naming each difference). Both brokers report topic settings, so a
// setting that differs must be named too.
func checkEnsureTopics(t *testing.T, brokers []string, specs []events.TopicSpec) {
	t.Helper()
	ctx := ctxFor(t)
	if err := events.EnsureTopics(ctx, brokers, specs); err != nil {
		t.Fatalf("EnsureTopics(%v) = %v; want nil", names(specs), err)
	}
	c := client(brokers)
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: names(specs)})
	if err != nil {
		t.Fatalf("Metadata: %v", err)
	}
	for _, s := range specs {
		if n := partitionCount(md, s.Name); n != s.Partitions {
			t.Errorf("after EnsureTopics, topic %s has %d partitions; want %d", s.Name, n, s.Partitions)
		}
	}
	if err := events.EnsureTopics(ctx, brokers, specs); err != nil {
		t.Fatalf("EnsureTopics(%v) again = %v; want nil", names(specs), err)
	}

	// Topics made by hand, each differing from its spec in one way.
	want := specs[0] // seat.holds: deleted by time
	tests := []struct {
		name       string
		partitions int
		policy     string
		diff       string // what the error must name
	}{
		{"partitions", partitions / 2, "delete", fmt.Sprintf("%d partitions, want %d", partitions/2, partitions)},
		{"policy", partitions, "compact", "cleanup.policy=compact, want delete"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := want
			spec.Name = topicName("kafkatest.mismatch." + tt.name)
			resp, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
				Topic: spec.Name, NumPartitions: tt.partitions, ReplicationFactor: 1,
				ConfigEntries: []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: tt.policy}},
			}}})
			if err == nil {
				err = resp.Errors[spec.Name]
			}
			if err != nil {
				t.Fatalf("creating topic %s by hand: %v", spec.Name, err)
			}
			err = events.EnsureTopics(ctx, brokers, []events.TopicSpec{spec})
			if !errors.Is(err, events.ErrTopicMismatch) || !strings.Contains(err.Error(), tt.diff) {
				t.Fatalf("EnsureTopics(%s made with %d partitions, cleanup.policy=%s) = %v; want %v naming %q",
					spec.Name, tt.partitions, tt.policy, err, events.ErrTopicMismatch, tt.diff)
			}
		})
	}
}

// sentRange is what checkPlacement wrote to one partition: offsets
// [from, to) holding keys, in order.
type sentRange struct {
	from, to int64
	keys     []string
}

// checkPlacement writes messages keyed by order numbers of every gene with
// the order flow's writer settings to a topic of n partitions, checks that
// each is on its order's partition, and returns what each partition
// received.
func checkPlacement(t *testing.T, brokers []string, topic string, n int) map[int]sentRange {
	t.Helper()
	ctx := ctxFor(t)
	before := lastOffsets(t, brokers, topic, n)

	var msgs []kafka.Message
	want := map[int][]string{}
	for i := range 3 << inventory.GeneBits { // each gene three times, from several groups
		no := inventory.OrderNo(uint64(i)*1_000_003 + 17)
		msgs = append(msgs, kafka.Message{Key: events.Key(no), Value: []byte("order " + strconv.Itoa(i))})
		p := events.PartitionOfOrder(no, n)
		want[p] = append(want[p], string(events.Key(no)))
	}
	w := &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Topic:        topic,
		Balancer:     events.GeneBalancer{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 5 * time.Millisecond,
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("WriteMessages: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("closing the writer: %v", err)
	}

	after := lastOffsets(t, brokers, topic, n)
	sent := map[int]sentRange{}
	for p := range n {
		got := readPartition(t, brokers, topic, p, before[p], after[p])
		if !equal(got, want[p]) {
			t.Errorf("partition %d holds keys %v; want %v (PartitionOfOrder of each)", p, got, want[p])
		}
		sent[p] = sentRange{from: before[p], to: after[p], keys: got}
	}
	return sent
}

// lastOffsets returns the offset that the next message of each of the n
// partitions of topic will get.
func lastOffsets(t *testing.T, brokers []string, topic string, n int) []int64 {
	t.Helper()
	reqs := make([]kafka.OffsetRequest, n)
	for p := range reqs {
		reqs[p] = kafka.LastOffsetOf(p)
	}
	resp, err := client(brokers).ListOffsets(ctxFor(t), &kafka.ListOffsetsRequest{
		Topics: map[string][]kafka.OffsetRequest{topic: reqs},
	})
	if err != nil {
		t.Fatalf("ListOffsets(%s): %v", topic, err)
	}
	offsets := make([]int64, n)
	got := 0
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			t.Fatalf("ListOffsets(%s) partition %d: %v", topic, po.Partition, po.Error)
		}
		offsets[po.Partition] = po.LastOffset
		got++
	}
	if got != n {
		t.Fatalf("ListOffsets(%s) answered for %d partitions; want %d", topic, got, n)
	}
	return offsets
}

// readPartition returns the keys at offsets [from, to) of one partition,
// read with a partition Reader.
func readPartition(t *testing.T, brokers []string, topic string, p int, from, to int64) []string {
	t.Helper()
	if from >= to {
		return nil
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: brokers, Topic: topic, Partition: p, MaxWait: 100 * time.Millisecond,
	})
	defer r.Close()
	if err := r.SetOffset(from); err != nil {
		t.Fatalf("SetOffset(%d) on partition %d: %v", from, p, err)
	}
	var keys []string
	for off := from; off < to; {
		m, err := r.ReadMessage(ctxFor(t))
		if err != nil {
			t.Fatalf("reading partition %d at offset %d (want up to %d): %v", p, off, to, err)
		}
		keys = append(keys, string(m.Key))
		off = m.Offset + 1
	}
	return keys
}

// topicSpecs returns the order flow's topic specs, renamed apart when
// KAFKA_BROKERS names shared brokers that may hold them from an earlier run.
func topicSpecs() []events.TopicSpec {
	specs := events.Topics(partitions, 1)
	for i := range specs {
		specs[i].Name = topicName(specs[i].Name)
	}
	return specs
}

// runID sets this run's topics apart on shared brokers.
var runID = strconv.FormatInt(time.Now().UnixNano(), 36)

func topicName(base string) string {
	if os.Getenv("KAFKA_BROKERS") == "" {
		return base
	}
	return base + "." + runID
}

// pgid returns the process group of the running broker; it skips the
// test for brokers named by KAFKA_BROKERS.
func (b *Broker) pgid() int {
	b.t.Helper()
	b.skipIfExternal("restarting the broker")
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.proc == nil {
		b.t.Fatal("kafkatest: the broker is not running")
	}
	return b.proc.cmd.Process.Pid
}

func client(brokers []string) *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
}

// ctxFor returns a context that ends with the test, and within a minute.
func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func partitionCount(md *kafka.MetadataResponse, topic string) int {
	for _, tp := range md.Topics {
		if tp.Name == topic {
			return len(tp.Partitions)
		}
	}
	return 0
}

func names(specs []events.TopicSpec) []string {
	var out []string
	for _, s := range specs {
		out = append(out, s.Name)
	}
	return out
}

func equal(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }
