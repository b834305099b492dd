package deploy

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
)

// What the binaries serve, from their main packages: the flags they listen
// on, the one whose port serves /healthz (and /readyz and /metrics, where
// the binary has them), and what that port serves.
var (
	listenFlags = map[string][]string{
		"seatd":     {"raft-addr", "rpc-addr", "admin-addr"},
		"gateway":   {"addr"},
		"orderflow": {"rpc", "metrics"},
		"paysim":    {"addr"},
	}
	healthFlag = map[string]string{"seatd": "admin-addr", "gateway": "addr", "orderflow": "metrics", "paysim": "addr"}
	// servesReady and servesMetrics: paysim answers /healthz only.
	servesReady   = map[string]bool{"seatd": true, "gateway": true, "orderflow": true}
	servesMetrics = map[string]bool{"seatd": true, "gateway": true, "orderflow": true}
	// envPrefix is the prefix of the environment variables each command's
	// settings read (package settings); paysim reads flags only.
	envPrefix = map[string]string{"seatd": "SEATD", "gateway": "GATEWAY", "orderflow": "ORDERFLOW", "orderflow reconcile": "ORDERFLOW_RECONCILE"}
)

// ref says what an address flag must reach: a container running target,
// on the port it listens on for listen (a flag of target's, or a Kafka
// listener name); self: this container itself.
type ref struct {
	target, listen string
	self, url      bool
}

// addressFlags are the flags that name other processes, by command.
var addressFlags = map[string]map[string]ref{
	"seatd": {
		"raft-advertise": {target: "seatd", listen: "raft-addr", self: true},
		"rpc-advertise":  {target: "seatd", listen: "rpc-addr", self: true},
		"join":           {target: "seatd", listen: "rpc-addr"},
		"kafka-brokers":  {target: "kafka", listen: "PLAINTEXT"},
		// -peers is checked apart: id=addr pairs.
	},
	"gateway": {
		"seatd":  {target: "seatd", listen: "rpc-addr"},
		"orders": {target: "orderflow", listen: "rpc"},
	},
	"orderflow": {
		"brokers":         {target: "kafka", listen: "PLAINTEXT"},
		"seatd":           {target: "seatd", listen: "rpc-addr"},
		"notify-base-url": {target: "gateway", listen: "addr", url: true},
		"alipay-gateway":  {target: "paysim", listen: "addr", url: true},
		"wechat-base-url": {target: "paysim", listen: "addr", url: true},
	},
	"orderflow reconcile": {
		"orderflow": {target: "orderflow", listen: "rpc"},
		"seatd":     {target: "seatd", listen: "rpc-addr"},
	},
}

// container is one process of a deployment, as a manifest runs it: in k8s,
// one per pod (a StatefulSet's pods each with their own name and ordinal).
type container struct {
	where   string // for messages: "compose service seatd-1", "k8s StatefulSet/seatd pod seatd-0"
	image   string
	command string            // "seatd", "orderflow reconcile"; "" for an image not ours
	flags   map[string]string // as given, $(VAR) expanded
	env     map[string]string // literal values; values from secrets and fields are "<from ...>"
	// listen is the port of each listen flag (ours) or Kafka listener.
	listen map[string]int
	// containerPorts (k8s): by name, and every number declared.
	portNames map[string]int
	ports     map[int]bool
	probes    map[string]probe  // "liveness", "readiness" (compose: "health")
	mounts    map[string]string // mount path -> volume: "pvc:data", "volume:paysim-keys", "secret:paysim-keys", "bind:..."
	labels    map[string]string
}

type probe struct {
	path string // "" for a TCP probe
	port int
}

// value is a flag's value: given, from the environment, or the default.
func (c *container) value(sets map[string]flagSet, name string) string {
	if v, ok := c.flags[name]; ok {
		return v
	}
	if p := envPrefix[c.command]; p != "" {
		if v, ok := c.env[p+"_"+strings.ToUpper(strings.ReplaceAll(name, "-", "_"))]; ok {
			return v
		}
	}
	return sets[c.command][name].def
}

// parseCommand fills command and flags from a command line, checking every
// flag against the binary's: known, given once, and -name=value unless it is
// a bool. vars expands $(NAME) as Kubernetes does.
func (c *container) parseCommand(sets map[string]flagSet, argv []string, vars map[string]string) []error {
	if len(argv) == 0 {
		return []error{fmt.Errorf("%s: runs image %s without a command", c.where, c.image)}
	}
	bin := path.Base(argv[0])
	argv = argv[1:]
	c.command = bin
	if bin == "orderflow" && len(argv) > 0 && argv[0] == "reconcile" {
		c.command, argv = "orderflow reconcile", argv[1:]
	}
	fs, ok := sets[c.command]
	if !ok {
		return []error{fmt.Errorf("%s: runs %q, which the Dockerfile does not build", c.where, c.command)}
	}
	var errs []error
	c.flags = map[string]string{}
	for _, a := range argv {
		a, err := expand(a, vars)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.where, err))
			continue
		}
		name, v, hasValue := strings.Cut(strings.TrimPrefix(a, "-"), "=")
		spec, known := fs[name]
		_, dup := c.flags[name]
		switch {
		case !strings.HasPrefix(a, "-") || strings.HasPrefix(a, "--"):
			errs = append(errs, fmt.Errorf("%s: argument %q: want -name=value", c.where, a))
		case !known:
			errs = append(errs, fmt.Errorf("%s: %s has no flag -%s", c.where, c.command, name))
		case !hasValue && !spec.isBool:
			errs = append(errs, fmt.Errorf("%s: -%s takes a value: write -%s=VALUE", c.where, name, name))
		case dup:
			errs = append(errs, fmt.Errorf("%s: -%s given twice", c.where, name))
		default:
			if !hasValue {
				v = "true"
			}
			c.flags[name] = v
		}
	}
	if p := envPrefix[c.command]; p != "" {
		for k := range c.env {
			name, ok := strings.CutPrefix(k, p+"_")
			if !ok || c.command == "orderflow" && strings.HasPrefix(k, "ORDERFLOW_RECONCILE_") {
				continue
			}
			flag := strings.ToLower(strings.ReplaceAll(name, "_", "-"))
			if _, known := fs[flag]; !known {
				errs = append(errs, fmt.Errorf("%s: environment %s names no flag of %s (-%s)", c.where, k, c.command, flag))
			}
		}
	}
	return errs
}

// expand replaces $(NAME) with vars[NAME], as Kubernetes does in command
// and args; an unknown name is an error (Kubernetes would leave it as is).
func expand(s string, vars map[string]string) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "$(")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		j := strings.Index(s[i:], ")")
		if j < 0 {
			return "", fmt.Errorf("%q: unclosed $(", s)
		}
		name := s[i+2 : i+j]
		v, ok := vars[name]
		if !ok {
			return "", fmt.Errorf("%q: $(%s) is not an environment variable with a value known in the manifest", s, name)
		}
		b.WriteString(s[:i] + v)
		s = s[i+j+1:]
	}
}

// fillListen reads the ports the container listens on from its flags
// (ours) or KAFKA_LISTENERS (Kafka), checking that ours listen on every
// interface.
func (c *container) fillListen(sets map[string]flagSet) []error {
	var errs []error
	c.listen = map[string]int{}
	if c.command == "kafka" {
		for _, l := range strings.Split(c.env["KAFKA_LISTENERS"], ",") {
			name, addr, _ := strings.Cut(l, "://")
			_, port, err := net.SplitHostPort(addr)
			n, err2 := strconv.Atoi(port)
			if err != nil || err2 != nil {
				errs = append(errs, fmt.Errorf("%s: KAFKA_LISTENERS %q: want NAME://host:port,...", c.where, c.env["KAFKA_LISTENERS"]))
				continue
			}
			c.listen[name] = n
		}
		return errs
	}
	for _, f := range listenFlags[c.command] {
		v := c.value(sets, f)
		host, port, err := net.SplitHostPort(v)
		n, err2 := strconv.Atoi(port)
		if err != nil || err2 != nil {
			errs = append(errs, fmt.Errorf("%s: -%s=%q: want host:port", c.where, f, v))
			continue
		}
		if host != "" && host != "0.0.0.0" && host != "::" {
			errs = append(errs, fmt.Errorf("%s: -%s=%q listens on %s only: other containers cannot reach it (use 0.0.0.0)", c.where, f, v, host))
		}
		c.listen[f] = n
	}
	return errs
}

// addresses splits an address flag's value into host:port pairs (URLs: their host).
func addresses(v string, r ref) ([]string, error) {
	if r.url {
		u, err := url.Parse(v)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("%q: want a URL", v)
		}
		host := u.Host
		if u.Port() == "" {
			host = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80", "https": "443"}[u.Scheme])
		}
		return []string{host}, nil
	}
	var out []string
	for _, a := range strings.Split(v, ",") {
		out = append(out, strings.TrimSpace(a))
	}
	return out, nil
}

// deployment is a compose file or the k8s manifests, as containers and a
// way to resolve the addresses they name.
type deployment struct {
	name       string
	containers []*container
	probes     []string // the probes each of our containers needs: "liveness", "readiness" (k8s); "health" (compose)
	// resolve says which containers host:port reaches and on which of
	// their ports (a Service's targetPort), or why it reaches none.
	resolve func(host string, port int) ([]*container, int, error)
}

func (d *deployment) byCommand(cmd string) []*container {
	var out []*container
	for _, c := range d.containers {
		if c.command == cmd {
			out = append(out, c)
		}
	}
	return out
}

// reach resolves addr and checks that it reaches containers running
// r.target on their r.listen port.
func (d *deployment) reach(from *container, flag, addr string, r ref) ([]*container, error) {
	host, port, err := net.SplitHostPort(addr)
	n, err2 := strconv.Atoi(port)
	if err != nil || err2 != nil {
		return nil, fmt.Errorf("%s: -%s: %q: want host:port", from.where, flag, addr)
	}
	cs, at, err := d.resolve(host, n)
	if err != nil {
		return nil, fmt.Errorf("%s: -%s: %s: %w", from.where, flag, addr, err)
	}
	for _, c := range cs {
		if c.command != r.target {
			return nil, fmt.Errorf("%s: -%s: %s reaches %s, which runs %q, not %s", from.where, flag, addr, c.where, c.command, r.target)
		}
		if got, ok := c.listen[r.listen]; !ok || got != at {
			return nil, fmt.Errorf("%s: -%s: %s arrives on port %d of %s, whose %s is on %d", from.where, flag, addr, at, c.where, r.listen, got)
		}
	}
	if r.self && (len(cs) != 1 || cs[0] != from) {
		return nil, fmt.Errorf("%s: -%s: %s must reach this container alone", from.where, flag, addr)
	}
	return cs, nil
}

// check runs every check that compose and k8s share, returning every
// problem found.
func (d *deployment) check(sets map[string]flagSet) []error {
	var errs []error
	for _, c := range d.containers {
		for flag, r := range addressFlags[c.command] {
			if _, ok := c.flags[flag]; !ok {
				continue
			}
			addrs, err := addresses(c.flags[flag], r)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: -%s: %w", c.where, flag, err))
				continue
			}
			for _, a := range addrs {
				if _, err := d.reach(c, flag, a, r); err != nil {
					errs = append(errs, err)
				}
			}
		}
		errs = append(errs, c.checkProbes(d.probes)...)
		errs = append(errs, c.checkFiles()...)
	}
	errs = append(errs, d.checkSeatdPeers(sets)...)
	errs = append(errs, d.checkOrderflowInstances(sets)...)
	return errs
}

// checkProbes: liveness on /healthz and readiness on /readyz (where the
// binary serves it), on the health flag's port.
func (c *container) checkProbes(kinds []string) []error {
	hf, ours := healthFlag[c.command]
	if !ours {
		return nil
	}
	port := c.listen[hf]
	ready := "/healthz"
	if servesReady[c.command] {
		ready = "/readyz"
	}
	// compose's one health check gates depends_on: it is a readiness check.
	want := map[string]string{"liveness": "/healthz", "readiness": ready, "health": ready}
	var errs []error
	for _, kind := range kinds {
		p := want[kind]
		got, ok := c.probes[kind]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s: no %s probe (want %s on port %d)", c.where, kind, p, port))
		case got.path != p || got.port != port:
			errs = append(errs, fmt.Errorf("%s: %s probe GET %s on port %d; want %s on port %d (-%s)", c.where, kind, got.path, got.port, p, port, hf))
		}
	}
	return errs
}

// mountOf returns the volume mounted at or above p, and its mount path.
func (c *container) mountOf(p string) (string, string) {
	best := ""
	for m := range c.mounts {
		if (p == m || strings.HasPrefix(p, strings.TrimSuffix(m, "/")+"/")) && len(m) > len(best) {
			best = m
		}
	}
	if best == "" {
		return "", ""
	}
	return c.mounts[best], best
}

// checkFiles: data directories are on persistent volumes; key files and
// directories are mounted.
func (c *container) checkFiles() []error {
	var errs []error
	dataFlag := map[string]string{"seatd": "data-dir", "orderflow": "data"}[c.command]
	if dataFlag != "" {
		v := c.flags[dataFlag]
		vol, _ := c.mountOf(v)
		if v == "" || !(strings.HasPrefix(vol, "pvc:") || strings.HasPrefix(vol, "volume:")) {
			errs = append(errs, fmt.Errorf("%s: -%s=%q is not on a persistent volume (mounted: %v)", c.where, dataFlag, v, c.mounts))
		}
	}
	for name, v := range c.flags {
		if strings.HasSuffix(name, "-file") || name == "keys" {
			if vol, _ := c.mountOf(v); vol == "" {
				errs = append(errs, fmt.Errorf("%s: -%s=%q is on no mounted volume", c.where, name, v))
			}
		}
	}
	return errs
}

// checkSeatdPeers: every node bootstraps with the same -peers, which name
// every node by its -id at its -raft-advertise, reaching it.
func (d *deployment) checkSeatdPeers(sets map[string]flagSet) []error {
	nodes := d.byCommand("seatd")
	if len(nodes) < 3 {
		return []error{fmt.Errorf("%s: %d seatd nodes; want 3", d.name, len(nodes))}
	}
	var errs []error
	peers := nodes[0].flags["peers"]
	for _, n := range nodes {
		if n.flags["bootstrap"] != "true" || n.flags["peers"] != peers {
			errs = append(errs, fmt.Errorf("%s: want -bootstrap with the same -peers as %s (%q)", n.where, nodes[0].where, peers))
		}
	}
	seen := map[*container]bool{}
	for _, p := range strings.Split(peers, ",") {
		id, addr, _ := strings.Cut(p, "=")
		cs, err := d.reach(nodes[0], "peers", addr, ref{target: "seatd", listen: "raft-addr"})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(cs) != 1 || cs[0].flags["id"] != id || cs[0].flags["raft-advertise"] != addr {
			errs = append(errs, fmt.Errorf("%s: -peers names %s at %s, which must be one node with -id=%s -raft-advertise=%s", d.name, id, addr, id, addr))
			continue
		}
		seen[cs[0]] = true
	}
	for _, n := range nodes {
		if !seen[n] {
			errs = append(errs, fmt.Errorf("%s: -peers does not name %s (-id=%s)", d.name, n.where, n.flags["id"]))
		}
		if n.value(sets, "kafka-brokers") == "" {
			errs = append(errs, fmt.Errorf("%s: no -kafka-brokers: the node runs no outbox relay", n.where))
		}
	}
	return errs
}

// checkOrderflowInstances: instances 0..N-1 once each, N the instances of
// every one, partitions as seatd's, and the lists of instances (the
// gateway's -orders, reconcile's -orderflow) in instance order.
func (d *deployment) checkOrderflowInstances(sets map[string]flagSet) []error {
	flows := d.byCommand("orderflow")
	var errs []error
	var got []int
	for _, f := range flows {
		i, err := strconv.Atoi(f.value(sets, "instance"))
		n, err2 := strconv.Atoi(f.value(sets, "instances"))
		if err != nil || err2 != nil || n != len(flows) {
			errs = append(errs, fmt.Errorf("%s: -instance=%s -instances=%s; want -instances=%d, the instances deployed",
				f.where, f.value(sets, "instance"), f.value(sets, "instances"), len(flows)))
		}
		got = append(got, i)
		parts, _ := strconv.Atoi(f.value(sets, "partitions"))
		if parts < len(flows) {
			errs = append(errs, fmt.Errorf("%s: %d partitions for %d instances", f.where, parts, len(flows)))
		}
		for _, s := range d.byCommand("seatd") {
			if sp := s.value(sets, "kafka-partitions"); sp != f.value(sets, "partitions") {
				errs = append(errs, fmt.Errorf("%s: -partitions=%s, but %s has -kafka-partitions=%s", f.where, f.value(sets, "partitions"), s.where, sp))
			}
		}
	}
	slices.Sort(got)
	for i, g := range got {
		if g != i {
			errs = append(errs, fmt.Errorf("%s: orderflow instances %v; want 0 to %d once each", d.name, got, len(flows)-1))
			break
		}
	}
	lists := map[string]string{"gateway": "orders", "orderflow reconcile": "orderflow"}
	for _, c := range d.containers {
		flag, ok := lists[c.command]
		if !ok {
			continue
		}
		addrs := strings.Split(c.flags[flag], ",")
		if len(addrs) != len(flows) {
			errs = append(errs, fmt.Errorf("%s: -%s lists %d instances; want all %d", c.where, flag, len(addrs), len(flows)))
		}
		for i, a := range addrs {
			cs, err := d.reach(c, flag, a, ref{target: "orderflow", listen: "rpc"})
			if err == nil && (len(cs) != 1 || cs[0].value(sets, "instance") != strconv.Itoa(i)) {
				errs = append(errs, fmt.Errorf("%s: -%s: %s is item %d, so must reach instance %d alone", c.where, flag, a, i, i))
			}
		}
	}
	if len(d.byCommand("gateway")) == 0 || len(flows) == 0 || len(d.byCommand("paysim")) == 0 {
		errs = append(errs, fmt.Errorf("%s: want a gateway, orderflow and paysim", d.name))
	}
	return errs
}
