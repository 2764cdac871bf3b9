// Package topics is Evently's Kafka adapter: topic names, the versioned
// message envelope, a synchronous producer, consumer groups with one owner
// goroutine per partition, topic provisioning and dead-letter queues, all on
// segmentio/kafka-go with the settings the booking pipeline needs.
package topics

import (
	"strings"

	"github.com/evently/evently"
)

// Logical topic names (the domain's streams). A Names value adds a prefix so
// tests and several deployments can share one broker.
const (
	BookingCommands   = evently.StreamBookingCommands
	PaymentRequests   = evently.StreamPaymentRequests
	PaymentReplies    = evently.StreamPaymentReplies
	InventoryReleased = evently.StreamInventoryReleased
	Notifications     = evently.StreamNotifications
)

// DLQSuffix names a topic's dead-letter queue.
const DLQSuffix = ".dlq"

// All lists the logical topics, each with its dead-letter queue.
func All() []string {
	base := []string{BookingCommands, PaymentRequests, PaymentReplies, InventoryReleased, Notifications}
	out := make([]string, 0, 2*len(base))
	for _, t := range base {
		out = append(out, t, t+DLQSuffix)
	}
	return out
}

// Names maps logical topic names to the broker's names.
type Names struct{ Prefix string }

// Of returns the broker name of a logical topic.
func (n Names) Of(logical string) string { return n.Prefix + logical }

// Logical returns the logical name of a broker topic.
func (n Names) Logical(physical string) string { return strings.TrimPrefix(physical, n.Prefix) }

// All returns the broker names of every topic.
func (n Names) All() []string {
	out := All()
	for i, t := range out {
		out[i] = n.Of(t)
	}
	return out
}
