package deploy

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// externalMetrics are the series the alerts and the dashboard may name
// that no binary of ours exports, with where they come from.
var externalMetrics = map[string]string{
	"up":                     "Prometheus, for every target it scrapes",
	"kube_job_status_failed": "kube-state-metrics (the reconciliation CronJob's failures)",
}

// exportedMetrics returns the names of the Prometheus metrics defined in
// the non-test Go files of every package of this module that a deployed
// binary imports, with histograms' and summaries' series suffixes. A name
// is a Name field of a prometheus.*Opts literal, or the first argument of
// prometheus.NewDesc: a string literal, a parameter of the helper function
// that makes the metric (then every call of the helper with a literal
// there gives one), or a literal + such a parameter. Anything else fails
// the test, so a new way of naming metrics is noticed rather than missed.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	fset := token.NewFileSet()
	for dir, files := range modulePackages(t) {
		for _, f := range files {
			file, err := parser.ParseFile(fset, filepath.Join(dir, f), nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, err := range metricNamesInFile(fset, file, names) {
				t.Error(err)
			}
		}
	}
	return names
}

// modulePackages returns the non-test Go files of every package of this
// module that a binary the Dockerfile builds imports, by directory.
func modulePackages(t *testing.T) map[string][]string {
	t.Helper()
	var pkgs []string
	for _, dir := range dockerfileBinaries(t) {
		pkgs = append(pkgs, dir)
	}
	args := append([]string{"list", "-deps", "-f", `{{if .Module}}{{if .Module.Main}}{{.Dir}}{{range .GoFiles}} {{.}}{{end}}{{end}}{{end}}`}, pkgs...)
	list := exec.Command("go", args...)
	list.Dir = ".."
	out, err := list.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dirs := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		dirs[fields[0]] = fields[1:]
	}
	return dirs
}

// nameExpr is a metric name as written: prefix + the helper's parameter
// param (if any).
type nameExpr struct {
	prefix, param string
}

func metricNamesInFile(fset *token.FileSet, file *ast.File, names map[string]bool) []error {
	var errs []error
	add := func(name string, histogram bool) {
		names[name] = true
		if histogram {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[name+s] = true
			}
		}
	}
	// helpers: functions (by the name they are declared or assigned as)
	// whose parameter at index i names a metric.
	type helper struct {
		index     int
		prefix    string
		histogram bool
	}
	helpers := map[string]helper{}
	resolve := func(e ast.Expr, stack []ast.Node, histogram bool) {
		n, ok := nameOf(e)
		if !ok {
			errs = append(errs, fmt.Errorf("%s: a metric name that is neither a literal nor a helper's parameter", fset.Position(e.Pos())))
			return
		}
		if n.param == "" {
			add(n.prefix, histogram)
			return
		}
		for i := len(stack) - 1; i >= 0; i-- {
			fn, ident := funcAt(stack, i)
			if fn == nil {
				continue
			}
			idx := 0
			for _, field := range fn.Params.List {
				for _, p := range field.Names {
					if p.Name == n.param && ident != "" {
						helpers[ident] = helper{idx, n.prefix, histogram}
						return
					}
					idx++
				}
			}
		}
		errs = append(errs, fmt.Errorf("%s: metric name from %s, not a parameter of a named helper", fset.Position(e.Pos()), n.param))
	}
	var stack []ast.Node
	ast.Inspect(file, func(node ast.Node) bool {
		if node == nil {
			stack = stack[:len(stack)-1]
			return true
		}
		stack = append(stack, node)
		switch x := node.(type) {
		case *ast.CompositeLit:
			sel, ok := x.Type.(*ast.SelectorExpr)
			if !ok || !isPkg(sel.X, "prometheus") || !strings.HasSuffix(sel.Sel.Name, "Opts") {
				return true
			}
			hist := sel.Sel.Name == "HistogramOpts" || sel.Sel.Name == "SummaryOpts"
			for _, el := range x.Elts {
				kv, ok := el.(*ast.KeyValueExpr)
				if !ok {
					continue
				}
				switch k, _ := kv.Key.(*ast.Ident); {
				case k == nil:
				case k.Name == "Name":
					resolve(kv.Value, stack, hist)
				case k.Name == "Namespace" || k.Name == "Subsystem":
					errs = append(errs, fmt.Errorf("%s: %s: these tests read whole names only", fset.Position(kv.Pos()), k.Name))
				}
			}
		case *ast.CallExpr:
			if sel, ok := x.Fun.(*ast.SelectorExpr); ok && isPkg(sel.X, "prometheus") && sel.Sel.Name == "NewDesc" && len(x.Args) > 0 {
				resolve(x.Args[0], stack, false)
			}
		}
		return true
	})
	// Every call of a helper with a literal where the name goes.
	ast.Inspect(file, func(node ast.Node) bool {
		call, ok := node.(*ast.CallExpr)
		if !ok {
			return true
		}
		id, ok := call.Fun.(*ast.Ident)
		if !ok {
			return true
		}
		h, ok := helpers[id.Name]
		if !ok || h.index >= len(call.Args) {
			return true
		}
		if lit, ok := call.Args[h.index].(*ast.BasicLit); ok && lit.Kind == token.STRING {
			s, _ := strconv.Unquote(lit.Value)
			add(h.prefix+s, h.histogram)
		} else {
			errs = append(errs, fmt.Errorf("%s: %s called with a metric name that is not a literal", fset.Position(call.Pos()), id.Name))
		}
		return true
	})
	return errs
}

// nameOf reads "lit", param, or "lit" + param.
func nameOf(e ast.Expr) (nameExpr, bool) {
	switch x := e.(type) {
	case *ast.BasicLit:
		s, err := strconv.Unquote(x.Value)
		return nameExpr{prefix: s}, err == nil && x.Kind == token.STRING
	case *ast.Ident:
		return nameExpr{param: x.Name}, true
	case *ast.BinaryExpr:
		l, ok1 := nameOf(x.X)
		r, ok2 := nameOf(x.Y)
		if x.Op == token.ADD && ok1 && ok2 && l.param == "" && r.prefix == "" {
			return nameExpr{prefix: l.prefix, param: r.param}, true
		}
	}
	return nameExpr{}, false
}

// funcAt returns the function type of stack[i] if it is a function, and
// the name it is declared or assigned as ("" if none).
func funcAt(stack []ast.Node, i int) (*ast.FuncType, string) {
	switch f := stack[i].(type) {
	case *ast.FuncDecl:
		return f.Type, f.Name.Name
	case *ast.FuncLit:
		if i > 0 {
			if as, ok := stack[i-1].(*ast.AssignStmt); ok && len(as.Lhs) == 1 {
				if id, ok := as.Lhs[0].(*ast.Ident); ok {
					return f.Type, id.Name
				}
			}
		}
		return f.Type, ""
	}
	return nil, ""
}

func isPkg(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

// promqlWords are the PromQL words that are not metric names when not
// followed by "(" (aggregations are, with their modifiers before the
// parenthesis).
var promqlWords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true, "inf": true, "nan": true,
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true, "count": true,
	"count_values": true, "bottomk": true, "topk": true, "quantile": true, "limitk": true, "limit_ratio": true,
}

// seriesNames returns the metric names a PromQL expression selects: the
// identifiers outside strings, label matchers ({...}), ranges ([...]) and
// label lists (by (...) and the like) that are neither PromQL's words nor
// followed by "(" (functions). Grafana's $variables are skipped.
func seriesNames(expr string) []string {
	var out []string
	isIdent := func(r byte, first bool) bool {
		return r == '_' || r == ':' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || !first && '0' <= r && r <= '9'
	}
	skipTo := func(i int, close byte) int {
		for i < len(expr) && expr[i] != close {
			if expr[i] == '"' || expr[i] == '\'' || expr[i] == '`' {
				q := expr[i]
				for i++; i < len(expr) && expr[i] != q; i++ {
					if expr[i] == '\\' {
						i++
					}
				}
			}
			i++
		}
		return i + 1
	}
	nextNonSpace := func(i int) int {
		for i < len(expr) && (expr[i] == ' ' || expr[i] == '\t' || expr[i] == '\n') {
			i++
		}
		return i
	}
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			i = skipTo(i+1, c)
		case c == '{':
			i = skipTo(i+1, '}')
		case c == '[':
			i = skipTo(i+1, ']')
		case c == '$':
			for i++; i < len(expr) && (isIdent(expr[i], false) || expr[i] == '{' || expr[i] == '}'); i++ {
			}
		case '0' <= c && c <= '9' || c == '.':
			for i++; i < len(expr) && (isIdent(expr[i], false) || expr[i] == '.'); i++ {
			}
		case isIdent(c, true):
			j := i
			for j < len(expr) && isIdent(expr[j], false) {
				j++
			}
			word := expr[i:j]
			k := nextNonSpace(j)
			switch {
			case word == "by" || word == "without" || word == "on" || word == "ignoring" || word == "group_left" || word == "group_right":
				if k < len(expr) && expr[k] == '(' {
					j = skipTo(k+1, ')')
				}
			case promqlWords[word] || k < len(expr) && expr[k] == '(':
			default:
				out = append(out, word)
			}
			i = j
		default:
			i++
		}
	}
	return out
}

func TestSeriesNames(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`sum by (result) (max by (group, result) (rate(seatd_holds_total{x="a b"}[$__rate_interval])))`, []string{"seatd_holds_total"}},
		{`histogram_quantile(0.99, sum by (route, le) (rate(gateway_request_seconds_bucket[5m])))`, []string{"gateway_request_seconds_bucket"}},
		{`max by (group) (a) - min by (group) (b) > 1e3`, []string{"a", "b"}},
		{`count(max by (group) (seatd_raft_leader) == 0) or vector(0)`, []string{"seatd_raft_leader"}},
		{`x / on (group) group_left c:rule`, []string{"x", "c:rule"}},
		{`up{job="seatd"} == 0`, []string{"up"}},
	} {
		if got := seriesNames(tc.expr); !slices.Equal(got, tc.want) {
			t.Errorf("seriesNames(%q) = %q; want %q", tc.expr, got, tc.want)
		}
	}
}

var jobMatcher = regexp.MustCompile(`\bjob\s*=~?\s*"([^"]*)"`)

// checkExpr checks that expr names only series the binaries export, and
// only jobs that the Prometheus configurations make (the binaries' names).
func checkExpr(t *testing.T, where, expr string, exported map[string]bool) {
	t.Helper()
	names := seriesNames(expr)
	if len(names) == 0 {
		t.Errorf("%s: %q names no series", where, expr)
	}
	for _, n := range names {
		if !exported[n] && externalMetrics[n] == "" {
			t.Errorf("%s: %q: no binary exports %s", where, expr, n)
		}
	}
	for _, m := range jobMatcher.FindAllStringSubmatch(expr, -1) {
		if !servesMetrics[m[1]] {
			t.Errorf("%s: %q: no job %q (jobs are the binaries serving /metrics)", where, expr, m[1])
		}
	}
}

func TestAlertRulesNameExportedMetrics(t *testing.T) {
	exported := exportedMetrics(t)
	for _, want := range []string{"seatd_raft_leader", "seatd_holds_total", "gateway_cache_bytes", "gateway_request_seconds_bucket", "orderflow_partition_lag", "pay_notifications_total", "seatd_relay_publish_seconds_count"} {
		if !exported[want] {
			t.Fatalf("exportedMetrics misses %s; found %d names", want, len(exported))
		}
	}
	var rules struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	readYAML(t, "prometheus/alerts.yml", &rules)
	seen := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			where := "alerts.yml: " + r.Alert
			if r.Alert == "" || seen[r.Alert] {
				t.Errorf("alerts.yml: group %s: a rule without a name, or a name used twice (%q)", g.Name, r.Alert)
			}
			seen[r.Alert] = true
			if r.Labels["severity"] != "warning" && r.Labels["severity"] != "critical" {
				t.Errorf("%s: severity %q; want warning or critical", where, r.Labels["severity"])
			}
			if r.Annotations["summary"] == "" {
				t.Errorf("%s: no summary", where)
			}
			checkExpr(t, where, r.Expr, exported)
		}
	}
	// The list: no leader, apply lag, outbox depth, consumer lag,
	// notify signature failures, reconciliation differences.
	for _, a := range []string{"SeatdGroupNoLeader", "SeatdApplyLag", "SeatdOutboxDepth", "OrderflowConsumerLag", "PayNotifySignatureFailures", "ReconciliationDifferences"} {
		if !seen[a] {
			t.Errorf("alerts.yml: no %s", a)
		}
	}
}

func TestDashboardNamesExportedMetrics(t *testing.T) {
	exported := exportedMetrics(t)
	b, err := os.ReadFile("grafana/onsale.json")
	if err != nil {
		t.Fatal(err)
	}
	type target struct {
		Expr       string `json:"expr"`
		Datasource struct {
			UID string `json:"uid"`
		} `json:"datasource"`
	}
	type panel struct {
		Title   string   `json:"title"`
		Type    string   `json:"type"`
		Targets []target `json:"targets"`
		Panels  []panel  `json:"panels"`
	}
	var dash struct {
		UID    string  `json:"uid"`
		Panels []panel `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("onsale.json: %v", err)
	}
	var ds struct {
		Datasources []struct {
			UID string `yaml:"uid"`
		} `yaml:"datasources"`
	}
	readYAML(t, "grafana/provisioning/datasources/prometheus.yml", &ds)
	if len(ds.Datasources) != 1 {
		t.Fatalf("provisioning: %d datasources; want 1", len(ds.Datasources))
	}
	var queries []string
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if len(p.Targets) == 0 {
				t.Errorf("onsale.json: panel %q has no queries", p.Title)
			}
			for _, q := range p.Targets {
				if q.Datasource.UID != ds.Datasources[0].UID {
					t.Errorf("onsale.json: panel %q: datasource %q; want the provisioned %q", p.Title, q.Datasource.UID, ds.Datasources[0].UID)
				}
				checkExpr(t, fmt.Sprintf("onsale.json: panel %q", p.Title), q.Expr, exported)
				queries = append(queries, q.Expr)
			}
		}
	}
	walk(dash.Panels)
	// The list: holds/s by result, p99 latency, free seats, leaders
	// and apply lag, outbox depth, Kafka lag, payments and refunds.
	all := strings.Join(queries, "\n")
	for _, m := range []string{"seatd_holds_total", "gateway_request_seconds_bucket", "seatd_seat_legs", "seatd_raft_leader",
		"seatd_raft_applied_index", "seatd_outbox_events", "orderflow_partition_lag", "pay_payments_total", "pay_refunds_total"} {
		if !strings.Contains(all, m) {
			t.Errorf("onsale.json: no panel shows %s", m)
		}
	}
}
