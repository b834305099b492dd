package paysim

import (
	"bytes"
	"container/heap"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// notice is one notification, its content fixed when it is made; each
// attempt signs it afresh (WeChat signs a timestamp; Alipay a notify_time).
type notice struct {
	channel      string
	url          string
	id           string
	kind         string // pay or refund
	outTradeNo   string
	outRequestNo string
	alipay       alipayNotice
	wechat       wechatNotice
}

// drawn are the faults drawn for one attempt.
type drawn struct {
	drop, forge, tamper, wrongApp, wrongAmount bool
	copies                                     int
	jitter                                     time.Duration
}

func (d drawn) String() string {
	var f []string
	for _, x := range []struct {
		on   bool
		name string
	}{{d.drop, "drop"}, {d.forge, "forge"}, {d.tamper, "tamper"}, {d.wrongApp, "wrong-app"}, {d.wrongAmount, "wrong-amount"}} {
		if x.on {
			f = append(f, x.name)
		}
	}
	return strings.Join(f, ",")
}

func (s *Server) draw() drawn {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.faults
	d := drawn{
		drop:        s.rng.Float64() < f.Drop,
		forge:       s.rng.Float64() < f.Forge,
		tamper:      s.rng.Float64() < f.Tamper,
		wrongApp:    s.rng.Float64() < f.WrongApp,
		wrongAmount: s.rng.Float64() < f.WrongAmount,
		copies:      max(1, f.Duplicate),
	}
	if f.Reorder > 0 {
		d.jitter = time.Duration(s.rng.Int64N(int64(f.Reorder)))
	}
	return d
}

func (s *Server) firstDelay() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults.Delay
}

// Stats counts notifications.
type Stats struct {
	Notifications int `json:"notifications"`         // made
	Pending       int `json:"pending"`               // waiting for an attempt
	Attempts      int `json:"attempts"`              // attempts (a duplicated attempt counts once)
	Sent          int `json:"sent"`                  // HTTP requests made (each copy counts)
	Answered      int `json:"answered"`              // notifications answered as the provider expects
	Unanswered    int `json:"unanswered_attempts"`   // attempts not answered so (error, timeout, wrong answer)
	Dropped       int `json:"dropped_attempts"`      // attempts dropped by the fault
	GaveUp        int `json:"gave_up"`               // notifications whose schedule ran out
	Overflowed    int `json:"overflowed"`            // notifications dropped because the queue was full
	Forged        int `json:"forged_attempts"`       // attempts with a forged signature
	Tampered      int `json:"tampered_attempts"`     // attempts changed after signing
	WrongApp      int `json:"wrong_app_attempts"`    // attempts naming another app or merchant
	WrongAmount   int `json:"wrong_amount_attempts"` // attempts with a signed wrong amount
}

// Delivery is one attempt, as GET /sim/notifications lists them.
type Delivery struct {
	Channel      string    `json:"channel"`
	ID           string    `json:"id"`
	Kind         string    `json:"kind"`
	OutTradeNo   string    `json:"out_trade_no"`
	OutRequestNo string    `json:"out_request_no,omitempty"`
	Attempt      int       `json:"attempt"` // 1 for the first
	Faults       string    `json:"faults,omitempty"`
	Statuses     []int     `json:"statuses,omitempty"` // one per copy sent; 0: no answer
	Answered     bool      `json:"answered"`
	At           time.Time `json:"at"`
}

type delivery struct {
	n       *notice
	due     time.Time
	attempt int // 0 for the first
}

type deliveryHeap []*delivery

func (h deliveryHeap) Len() int           { return len(h) }
func (h deliveryHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h deliveryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *deliveryHeap) Push(x any)        { *h = append(*h, x.(*delivery)) }
func (h *deliveryHeap) Pop() any {
	old := *h
	d := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return d
}

// notifier sends notifications: one scheduler goroutine hands due
// deliveries to NotifyWorkers workers.
type notifier struct {
	s      *Server
	client *http.Client
	wake   chan struct{} // capacity 1: a new delivery may be due first
	work   chan *delivery
	stop   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once

	mu      sync.Mutex
	pending deliveryHeap // guarded by mu; at most MaxPendingNotifications
	stats   Stats        // guarded by mu
	recent  []Delivery   // guarded by mu; a ring of MaxRecentDeliveries
	next    int          // guarded by mu; where the ring writes next
}

func newNotifier(s *Server) *notifier {
	n := &notifier{
		s:      s,
		client: &http.Client{Timeout: s.cfg.NotifyTimeout},
		wake:   make(chan struct{}, 1),
		work:   make(chan *delivery),
		stop:   make(chan struct{}),
	}
	n.wg.Add(1 + s.cfg.NotifyWorkers)
	go n.schedule()
	for range s.cfg.NotifyWorkers {
		go n.worker()
	}
	return n
}

func (n *notifier) close() {
	n.once.Do(func() { close(n.stop) })
	n.wg.Wait()
}

// add queues a new notification; the caller may hold Server.mu.
func (n *notifier) add(no *notice, delay time.Duration) {
	n.mu.Lock()
	n.stats.Notifications++
	n.mu.Unlock()
	n.queue(&delivery{n: no, due: time.Now().Add(delay)})
}

func (n *notifier) queue(d *delivery) {
	n.mu.Lock()
	if len(n.pending) >= n.s.cfg.MaxPendingNotifications {
		n.stats.Overflowed++
		n.mu.Unlock()
		n.s.log.Warn("paysim_notification_queue_full", "channel", d.n.channel, "out_trade_no", d.n.outTradeNo)
		return
	}
	heap.Push(&n.pending, d)
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *notifier) schedule() {
	defer n.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		n.mu.Lock()
		var wait time.Duration = -1
		var due *delivery
		if len(n.pending) > 0 {
			if w := time.Until(n.pending[0].due); w <= 0 {
				due = heap.Pop(&n.pending).(*delivery)
			} else {
				wait = w
			}
		}
		n.mu.Unlock()
		if due != nil {
			select {
			case n.work <- due:
			case <-n.stop:
				return
			}
			continue
		}
		var tick <-chan time.Time
		if wait >= 0 {
			timer.Reset(wait)
			tick = timer.C
		}
		select {
		case <-n.wake:
		case <-tick:
		case <-n.stop:
			return
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

func (n *notifier) worker() {
	defer n.wg.Done()
	for {
		select {
		case d := <-n.work:
			n.attempt(d)
		case <-n.stop:
			return
		}
	}
}

func (n *notifier) attempt(d *delivery) {
	f := n.s.draw()
	rec := Delivery{Channel: d.n.channel, ID: d.n.id, Kind: d.n.kind, OutTradeNo: d.n.outTradeNo,
		OutRequestNo: d.n.outRequestNo, Attempt: d.attempt + 1, Faults: f.String(), At: time.Now()}
	answered := false
	if !f.drop {
		for range f.copies {
			status := n.send(d.n, f)
			rec.Statuses = append(rec.Statuses, status)
			if status > 0 {
				answered = true
			}
		}
	}
	rec.Answered = answered
	schedule := AlipaySchedule
	if d.n.channel == Wechat {
		schedule = WechatSchedule
	}
	n.mu.Lock()
	n.stats.Attempts++
	if !f.drop {
		n.stats.Sent += f.copies
	}
	count := func(on bool, c *int) {
		if on {
			*c++
		}
	}
	count(f.drop, &n.stats.Dropped)
	count(f.forge && !f.drop, &n.stats.Forged)
	count(f.tamper && !f.drop, &n.stats.Tampered)
	count(f.wrongApp && !f.drop, &n.stats.WrongApp)
	count(f.wrongAmount && !f.drop, &n.stats.WrongAmount)
	count(answered, &n.stats.Answered)
	count(!answered, &n.stats.Unanswered)
	giveUp := !answered && d.attempt >= len(schedule)
	count(giveUp, &n.stats.GaveUp)
	if len(n.recent) < MaxRecentDeliveries {
		n.recent = append(n.recent, rec)
	} else {
		n.recent[n.next] = rec
	}
	n.next = (n.next + 1) % MaxRecentDeliveries
	n.mu.Unlock()
	if answered || giveUp {
		return
	}
	wait := time.Duration(float64(schedule[d.attempt])*n.s.cfg.ResendScale) + n.s.draw().jitter
	n.queue(&delivery{n: d.n, due: time.Now().Add(wait), attempt: d.attempt + 1})
}

// send makes one HTTP request and returns its status when the answer is
// the one the provider expects (Alipay: the body "success"; WeChat: 200
// or 204), else 0 for no answer or -status for a wrong one.
func (n *notifier) send(no *notice, f drawn) int {
	var body []byte
	var header http.Header
	var err error
	if no.channel == Alipay {
		body, header, err = n.s.alipayNotification(no, f)
	} else {
		body, header, err = n.s.wechatNotification(no, f)
	}
	if err != nil {
		n.s.log.Error("paysim_notification_build_failed", "channel", no.channel, "err", err)
		return 0
	}
	ctx, cancel := n.s.ctxTimeout()
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, no.url, bytes.NewReader(body))
	if err != nil {
		return 0
	}
	req.Header = header
	resp, err := n.client.Do(req)
	if err != nil {
		n.s.log.Debug("paysim_notification_failed", "channel", no.channel, "url", no.url, "err", err)
		return 0
	}
	defer resp.Body.Close()
	ans, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	ok := false
	if no.channel == Alipay {
		ok = resp.StatusCode == http.StatusOK && strings.TrimSpace(string(ans)) == "success"
	} else {
		ok = resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusNoContent
	}
	if !ok {
		return -resp.StatusCode
	}
	return resp.StatusCode
}

// Stats returns the notification counters.
func (s *Server) Stats() Stats {
	n := s.notifier
	n.mu.Lock()
	defer n.mu.Unlock()
	st := n.stats
	st.Pending = len(n.pending)
	return st
}

// Deliveries returns the last MaxRecentDeliveries attempts, oldest first.
func (s *Server) Deliveries() []Delivery {
	n := s.notifier
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.recent) < MaxRecentDeliveries {
		return append([]Delivery(nil), n.recent...)
	}
	return append(append([]Delivery(nil), n.recent[n.next:]...), n.recent[:n.next]...)
}
