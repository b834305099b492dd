package raftfsm

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Mux shares one TCP listener among a node's Raft groups. A connection
// opens with a header naming its group (magic byte, group as 2 bytes big
// endian); the mux hands it to that group's stream layer. So a node needs
// one port however many groups it hosts.
//
// One more channel, announceChannel, carries a node's announcement of its
// RPC address to the meta group's leader: every member knows the leader's
// Raft address, and no other.
type Mux struct {
	ln  net.Listener
	log *slog.Logger

	mu       sync.Mutex // guards layers, closed and announce
	layers   map[uint16]*groupLayer
	closed   bool
	announce func(id, addr string) error

	wg sync.WaitGroup
}

const (
	muxMagic = 0x5d
	// maxPendingConns bounds connections accepted for a group and not yet
	// taken by its transport; past it new ones are closed.
	maxPendingConns = 64
	// headerTimeout bounds how long a new connection may take to name its
	// group.
	headerTimeout = 5 * time.Second
	// announceChannel is the header's group number of an announcement;
	// no Raft group has it (groups stop at inventory.MaxGroup).
	announceChannel = 0xffff
)

// Listen opens the node's Raft listener on addr.
func Listen(addr string, log *slog.Logger) (*Mux, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("raftfsm: listen %s: %w", addr, err)
	}
	m := &Mux{ln: ln, log: log, layers: make(map[uint16]*groupLayer)}
	m.wg.Add(1)
	go m.acceptLoop()
	return m, nil
}

// Addr returns the listener's address.
func (m *Mux) Addr() net.Addr { return m.ln.Addr() }

// Layer returns the stream layer of group g, creating it once.
func (m *Mux) Layer(g uint16) raft.StreamLayer {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.layers[g]
	if !ok {
		l = &groupLayer{mux: m, group: g, conns: make(chan net.Conn, maxPendingConns), done: make(chan struct{})}
		m.layers[g] = l
	}
	return l
}

// Close stops accepting and closes every group's layer.
func (m *Mux) Close() error {
	m.mu.Lock()
	m.closed = true
	for _, l := range m.layers {
		l.closeOnce.Do(func() { close(l.done) })
	}
	m.mu.Unlock()
	err := m.ln.Close()
	m.wg.Wait()
	return err
}

func (m *Mux) acceptLoop() {
	defer m.wg.Done()
	for {
		c, err := m.ln.Accept()
		if err != nil {
			m.mu.Lock()
			closed := m.closed
			m.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return
			}
			m.log.Warn("raft_accept_failed", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go m.route(c)
	}
}

// route reads a connection's header and queues it for its group.
func (m *Mux) route(c net.Conn) {
	var hdr [3]byte
	c.SetReadDeadline(time.Now().Add(headerTimeout))
	if _, err := io.ReadFull(c, hdr[:]); err != nil || hdr[0] != muxMagic {
		m.log.Warn("raft_bad_header", "remote", c.RemoteAddr().String(), "err", err)
		c.Close()
		return
	}
	c.SetReadDeadline(time.Time{})
	g := binary.BigEndian.Uint16(hdr[1:])
	if g == announceChannel {
		m.serveAnnounce(c)
		return
	}
	m.mu.Lock()
	l, ok := m.layers[g]
	m.mu.Unlock()
	if !ok {
		m.log.Warn("raft_unknown_group", "group", g, "remote", c.RemoteAddr().String())
		c.Close()
		return
	}
	select {
	case l.conns <- c:
	case <-l.done:
		c.Close()
	default:
		m.log.Warn("raft_group_backlog_full", "group", g)
		c.Close()
	}
}

// HandleAnnounce sets the function that records announcements.
func (m *Mux) HandleAnnounce(fn func(id, addr string) error) {
	m.mu.Lock()
	m.announce = fn
	m.mu.Unlock()
}

// serveAnnounce reads one announcement (node id, RPC address), records it
// and answers with an empty string for success or the error's text.
func (m *Mux) serveAnnounce(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(headerTimeout))
	br := bufio.NewReader(io.LimitReader(c, 2*(maxStringLen+binary.MaxVarintLen64)))
	id, err1 := readStr(br)
	addr, err2 := readStr(br)
	m.mu.Lock()
	fn := m.announce
	m.mu.Unlock()
	var err error
	switch {
	case err1 != nil || err2 != nil:
		err = fmt.Errorf("%w: malformed announcement", ErrBadCommand)
	case fn == nil:
		err = errors.New("raftfsm: node takes no announcements")
	default:
		err = fn(id, addr)
	}
	answer := ""
	if err != nil {
		answer = err.Error()
		if len(answer) > maxStringLen {
			answer = answer[:maxStringLen]
		}
	}
	b, _ := appendStr(nil, answer)
	c.Write(b)
}

// announce sends a node's RPC address to the mux at raftAddr (the meta
// group's leader) and waits for it to be recorded.
func announce(raftAddr, id, rpcAddr string, timeout time.Duration) error {
	c, err := net.DialTimeout("tcp", raftAddr, timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	b := []byte{muxMagic, announceChannel >> 8, announceChannel & 0xff}
	if b, err = appendStr(b, id); err == nil {
		b, err = appendStr(b, rpcAddr)
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadCommand, err)
	}
	if _, err := c.Write(b); err != nil {
		return err
	}
	answer, err := readStr(bufio.NewReader(c))
	if err != nil {
		return err
	}
	if answer != "" {
		return fmt.Errorf("raftfsm: announcement refused by %s: %s", raftAddr, answer)
	}
	return nil
}

// readStr reads a string as appendStr writes it.
func readStr(r *bufio.Reader) (string, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return "", err
	}
	if n > maxStringLen {
		return "", fmt.Errorf("%w: string of %d bytes", ErrBadCommand, n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	return string(b), nil
}

// groupLayer is one group's view of the mux as a raft.StreamLayer.
type groupLayer struct {
	mux       *Mux
	group     uint16
	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

func (l *groupLayer) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops this group's layer; the shared listener stays open for the
// other groups.
func (l *groupLayer) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return nil
}

func (l *groupLayer) Addr() net.Addr { return l.mux.Addr() }

// Dial connects to a peer's mux and names this group.
func (l *groupLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", string(addr), timeout)
	if err != nil {
		return nil, err
	}
	hdr := [3]byte{muxMagic}
	binary.BigEndian.PutUint16(hdr[1:], l.group)
	c.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := c.Write(hdr[:]); err != nil {
		c.Close()
		return nil, err
	}
	c.SetWriteDeadline(time.Time{})
	return c, nil
}
