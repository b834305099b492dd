package events

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"

	"seatd/inventory"
)

// TestGeneBalancer: a message goes to its order number's gene modulo the
// partitions, which is also the buyer's partition, whatever the hash of
// the key would say.
func TestGeneBalancer(t *testing.T) {
	parts := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	for _, user := range []uint64{1, 2, 63, 64, 65, 1000, 1<<62 + 12345} {
		for seq := uint64(1); seq < 5; seq++ {
			for group := 0; group < 3; group++ {
				no := inventory.OrderNo(seq<<(inventory.GroupBits+inventory.GeneBits) | uint64(group)<<inventory.GeneBits | inventory.UserGene(user))
				got := GeneBalancer{}.Balance(kafka.Message{Key: Key(no)}, parts...)
				if want := int(user % 64 % 16); got != want || got != PartitionOfUser(user, 16) || got != PartitionOfOrder(no, 16) {
					t.Errorf("user %d order %d: partition %d, want %d", user, no, got, want)
				}
			}
		}
	}
	if got := (GeneBalancer{}).Balance(kafka.Message{Key: []byte("not a number")}, parts...); got != 0 {
		t.Errorf("a key that is no order number: partition %d, want 0", got)
	}
}

func TestDecode(t *testing.T) {
	ev := HoldEvent{Version: Version, Cluster: "6f1c0b2e9a4d4c1f8e3b7a5d2c9e0f14", ID: "1-5", Group: 1, Seq: 5, Type: HoldReleased, OrderNo: "42", HoldID: "7", UserID: "3", Reason: "expired"}
	b, _ := json.Marshal(ev)
	// a newer writer's extra field is ignored
	b = []byte(strings.Replace(string(b), `{`, `{"loyalty_points":12,`, 1))
	got, err := Decode(b)
	if err != nil || got.Reason != "expired" || got.Seq != 5 {
		t.Fatalf("Decode = %+v, %v", got, err)
	}
	for name, c := range map[string]struct {
		in   string
		want error
	}{
		"no cluster":    {`{"version":1,"seq":1,"order_no":"1","hold_id":"1","user_id":"1","type":"HoldPlaced"}`, ErrMalformed},
		"newer version": {`{"version":2,"cluster":"c","seq":1,"order_no":"1","hold_id":"1","user_id":"1","type":"HoldPlaced"}`, ErrVersion},
		"unknown type":  {`{"version":1,"cluster":"c","seq":1,"order_no":"1","hold_id":"1","user_id":"1","type":"HoldTeleported"}`, ErrUnknownType},
		"no seq":        {`{"version":1,"cluster":"c","order_no":"1","hold_id":"1","user_id":"1","type":"HoldPlaced"}`, ErrMalformed},
		"not json":      {`{"version":`, ErrMalformed},
	} {
		if _, err := Decode([]byte(c.in)); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}

func TestDecodePay(t *testing.T) {
	ev := PayEvent{Version: Version, ID: PayEventID("T1", PaymentSucceeded), Type: PaymentSucceeded, OrderNo: "42", UserID: "3", HoldID: "7",
		Channel: ChannelAlipay, OutTradeNo: "T1", TradeNo: "2026120122001", AmountCents: 5000}
	b, _ := json.Marshal(ev)
	if got, err := DecodePay(b); err != nil || got.ID != "T1/PaymentSucceeded" || got.AmountCents != 5000 {
		t.Fatalf("DecodePay = %+v, %v", got, err)
	}
	for name, c := range map[string]struct {
		in   string
		want error
	}{
		"refund without its number": {`{"version":1,"id":"R1/RefundSucceeded","type":"RefundSucceeded","order_no":"1","out_trade_no":"T1","channel":"alipay"}`, ErrMalformed},
		"no trade":                  {`{"version":1,"id":"x","type":"PaymentSucceeded","order_no":"1","channel":"alipay"}`, ErrMalformed},
		"newer version":             {`{"version":2}`, ErrVersion},
		"unknown type":              {`{"version":1,"id":"x","type":"PaymentTeleported","order_no":"1","out_trade_no":"T1","channel":"alipay"}`, ErrUnknownType},
	} {
		if _, err := DecodePay([]byte(c.in)); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}
