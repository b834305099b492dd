package events

import (
	"strconv"

	"github.com/segmentio/kafka-go"

	"seatd/inventory"
)

// MaxPartitions bounds the partitions of the order flow's topics: a
// partition is the gene (the low inventory.GeneBits bits of an order
// number, equal to its buyer's user id's) modulo the partition count, so
// more partitions than genes would stay empty.
const MaxPartitions = 1 << inventory.GeneBits

// PartitionOfGene returns the partition of n that a gene maps to.
func PartitionOfGene(gene uint64, n int) int { return int(gene % uint64(n)) }

// PartitionOfOrder returns the partition of n that holds an order.
func PartitionOfOrder(no inventory.OrderNo, n int) int { return PartitionOfGene(no.Gene(), n) }

// PartitionOfUser returns the partition of n that holds a user's orders:
// the same as each of their orders'.
func PartitionOfUser(user uint64, n int) int { return PartitionOfGene(inventory.UserGene(user), n) }

// Key returns a message key: the order number in decimal.
func Key(no inventory.OrderNo) []byte { return strconv.AppendUint(nil, uint64(no), 10) }

// GeneBalancer is the kafka-go Balancer of the order flow's topics: it
// places a message keyed by an order number (Key) on the partition of the
// number's gene, not on a hash of the key, so that a buyer's orders, and
// every event of each, share a partition with the buyer. A key that is not
// an order number goes to the first partition.
type GeneBalancer struct{}

// Balance implements kafka.Balancer. Kafka numbers a topic's partitions
// from 0, and kafka-go passes them all, sorted.
func (GeneBalancer) Balance(msg kafka.Message, partitions ...int) int {
	no, err := strconv.ParseUint(string(msg.Key), 10, 64)
	if err != nil {
		return partitions[0]
	}
	return partitions[PartitionOfOrder(inventory.OrderNo(no), len(partitions))]
}
