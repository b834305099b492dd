package deploy

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"seatd/paysim"
)

// ourImage is the image the Dockerfile builds, as the manifests name it.
const ourImage = "seatd:dev"

// kafkaImage runs the broker in compose and k8s; its ports are read from
// KAFKA_LISTENERS.
const kafkaImage = "apache/kafka:"

// --- compose ---------------------------------------------------------------

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       *composeBuild     `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	DependsOn   map[string]any    `yaml:"depends_on"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
}

type composeBuild struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

var healthURL = regexp.MustCompile(`^http://(?:127\.0\.0\.1|localhost):(\d+)(/\S*)$`)

// loadCompose reads compose.yaml into a deployment whose hosts are its
// service names.
func loadCompose(t *testing.T, sets map[string]flagSet) (*deployment, composeFile, []error) {
	t.Helper()
	var f composeFile
	b, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	d := &deployment{name: "compose.yaml", probes: []string{"health"}}
	byName := map[string]*container{}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(f.Services)) {
		s := f.Services[name]
		c := &container{where: "compose service " + name, image: s.Image, env: s.Environment, mounts: map[string]string{}, probes: map[string]probe{}}
		for _, v := range s.Volumes {
			parts := strings.Split(v, ":")
			if len(parts) < 2 {
				errs = append(errs, fmt.Errorf("%s: volume %q: want source:target", c.where, v))
				continue
			}
			src := parts[0]
			if strings.HasPrefix(src, ".") {
				if _, err := os.Stat(src); err != nil {
					errs = append(errs, fmt.Errorf("%s: bind mount of %s: %w", c.where, src, err))
				}
				c.mounts[parts[1]] = "bind:" + filepath.Clean(src)
				continue
			}
			if _, ok := f.Volumes[src]; !ok {
				errs = append(errs, fmt.Errorf("%s: volume %s is not declared under volumes", c.where, src))
			}
			c.mounts[parts[1]] = "volume:" + src
		}
		for dep := range s.DependsOn {
			if _, ok := f.Services[dep]; !ok {
				errs = append(errs, fmt.Errorf("%s: depends on %s, which is no service", c.where, dep))
			}
		}
		switch {
		case s.Image == ourImage:
			if s.Build == nil || filepath.Clean(filepath.Join(s.Build.Context, s.Build.Dockerfile)) != filepath.Clean("../deploy/Dockerfile") {
				errs = append(errs, fmt.Errorf("%s: image %s must be built from deploy/Dockerfile with the repository as context", c.where, ourImage))
			}
			errs = append(errs, c.parseCommand(sets, s.Command, nil)...)
		case strings.HasPrefix(s.Image, kafkaImage):
			c.command = "kafka"
		}
		errs = append(errs, c.fillListen(sets)...)
		if s.Healthcheck != nil {
			for _, a := range s.Healthcheck.Test {
				if m := healthURL.FindStringSubmatch(a); m != nil {
					port, _ := strconv.Atoi(m[1])
					c.probes["health"] = probe{path: m[2], port: port}
				}
			}
		}
		byName[name] = c
		d.containers = append(d.containers, c)
	}
	d.resolve = func(host string, port int) ([]*container, int, error) {
		c, ok := byName[host]
		if !ok {
			return nil, 0, fmt.Errorf("no service %s", host)
		}
		for _, p := range c.listen {
			if p == port {
				return []*container{c}, port, nil
			}
		}
		return nil, 0, fmt.Errorf("service %s listens on no port %d (%v)", host, port, c.listen)
	}
	return d, f, errs
}

// --- Kubernetes ------------------------------------------------------------

type object struct {
	Kind     string `yaml:"kind"`
	Metadata meta   `yaml:"metadata"`
	Spec     struct {
		// Service
		ClusterIP                string         `yaml:"clusterIP"`
		PublishNotReadyAddresses bool           `yaml:"publishNotReadyAddresses"`
		Selector                 map[string]any `yaml:"selector"`
		Ports                    []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort any    `yaml:"targetPort"`
		} `yaml:"ports"`
		// StatefulSet, Deployment
		ServiceName          string      `yaml:"serviceName"`
		Replicas             *int        `yaml:"replicas"`
		PodManagementPolicy  string      `yaml:"podManagementPolicy"`
		Template             podTemplate `yaml:"template"`
		VolumeClaimTemplates []struct {
			Metadata meta `yaml:"metadata"`
		} `yaml:"volumeClaimTemplates"`
		// PodDisruptionBudget
		MinAvailable   *int `yaml:"minAvailable"`
		MaxUnavailable *int `yaml:"maxUnavailable"`
		// CronJob
		JobTemplate struct {
			Spec struct {
				Template podTemplate `yaml:"template"`
			} `yaml:"spec"`
		} `yaml:"jobTemplate"`
	} `yaml:"spec"`
}

type meta struct {
	Name        string            `yaml:"name"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

type podTemplate struct {
	Metadata meta `yaml:"metadata"`
	Spec     struct {
		Containers []k8sContainer `yaml:"containers"`
		Volumes    []struct {
			Name   string `yaml:"name"`
			Secret *struct {
				SecretName string `yaml:"secretName"`
			} `yaml:"secret"`
			PersistentVolumeClaim *struct {
				ClaimName string `yaml:"claimName"`
			} `yaml:"persistentVolumeClaim"`
		} `yaml:"volumes"`
	} `yaml:"spec"`
}

type k8sContainer struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			FieldRef *struct {
				FieldPath string `yaml:"fieldPath"`
			} `yaml:"fieldRef"`
			SecretKeyRef *struct {
				Name string `yaml:"name"`
			} `yaml:"secretKeyRef"`
			ResourceFieldRef *struct {
				Resource string `yaml:"resource"`
			} `yaml:"resourceFieldRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
	ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type k8sProbe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
	TCPSocket *struct {
		Port any `yaml:"port"`
	} `yaml:"tcpSocket"`
}

// workload is a StatefulSet, Deployment or CronJob with its pods'
// containers (a StatefulSet: one per ordinal).
type workload struct {
	obj  object
	pods map[string][]*container // pod name (StatefulSet) or the workload's name -> containers
	tmpl podTemplate
}

// loadK8s reads every manifest in k8s/.
func loadK8s(t *testing.T, sets map[string]flagSet) ([]object, *deployment, map[string]*workload, []error) {
	t.Helper()
	files, err := filepath.Glob("k8s/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("k8s/*.yaml: %v (%d files)", err, len(files))
	}
	var objs []object
	for _, f := range files {
		r, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(r)
		for {
			var o object
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if o.Kind == "" || o.Metadata.Name == "" {
				t.Fatalf("%s: a document without kind or name", f)
			}
			objs = append(objs, o)
		}
		r.Close()
	}
	d := &deployment{name: "k8s/", probes: []string{"liveness", "readiness"}}
	workloads := map[string]*workload{}
	services := map[string]object{}
	var errs []error
	for _, o := range objs {
		key := o.Kind + "/" + o.Metadata.Name
		switch o.Kind {
		case "Service":
			services[o.Metadata.Name] = o
			continue
		case "StatefulSet", "Deployment":
		case "CronJob":
			o.Spec.Template = o.Spec.JobTemplate.Spec.Template
		default:
			continue
		}
		w := &workload{obj: o, pods: map[string][]*container{}, tmpl: o.Spec.Template}
		workloads[key] = w
		pods := map[string]int{o.Metadata.Name: 0}
		if o.Kind == "StatefulSet" {
			pods = map[string]int{}
			for i := range *o.Spec.Replicas {
				pods[fmt.Sprintf("%s-%d", o.Metadata.Name, i)] = i
			}
		}
		for _, pod := range slices.Sorted(maps.Keys(pods)) {
			for _, kc := range o.Spec.Template.Spec.Containers {
				c, cerrs := k8sToContainer(sets, w, key, pod, pods[pod], kc)
				errs = append(errs, cerrs...)
				w.pods[pod] = append(w.pods[pod], c)
				d.containers = append(d.containers, c)
			}
		}
	}
	// resolve: "svc" (a Service: its port, to the targetPort of the pods it
	// selects) or "pod.svc" (a StatefulSet's pod through its headless service).
	d.resolve = func(host string, port int) ([]*container, int, error) {
		pod, svcName, isPod := strings.Cut(host, ".")
		if !isPod {
			svcName = host
		}
		svc, ok := services[svcName]
		if !ok {
			return nil, 0, fmt.Errorf("no Service %s", svcName)
		}
		var out []*container
		target := 0
		for _, w := range workloads {
			if w.obj.Kind == "CronJob" || !selects(svc.Spec.Selector, w.tmpl.Metadata.Labels) {
				continue
			}
			if isPod && (w.obj.Kind != "StatefulSet" || w.obj.Spec.ServiceName != svcName) {
				continue
			}
			for name, cs := range w.pods {
				if isPod && name != pod {
					continue
				}
				for _, c := range cs {
					if isPod {
						if !c.ports[port] {
							return nil, 0, fmt.Errorf("%s declares no containerPort %d", c.where, port)
						}
						out, target = append(out, c), port
						continue
					}
					for _, sp := range svc.Spec.Ports {
						if sp.Port != port {
							continue
						}
						n, err := c.portNumber(sp.TargetPort)
						if err != nil {
							return nil, 0, fmt.Errorf("Service %s port %d: %w", svcName, port, err)
						}
						out, target = append(out, c), n
					}
				}
			}
		}
		if len(out) == 0 {
			return nil, 0, fmt.Errorf("reaches no pod (Service %s: port %d, selector %v)", svcName, port, svc.Spec.Selector)
		}
		return out, target, nil
	}
	errs = append(errs, checkServices(services, workloads)...)
	return objs, d, workloads, errs
}

// k8sToContainer makes the container of one pod: env, $(VAR) expansion of
// args with the pod's name and ordinal, ports, probes and mounts.
func k8sToContainer(sets map[string]flagSet, w *workload, key, pod string, ordinal int, kc k8sContainer) (*container, []error) {
	c := &container{where: fmt.Sprintf("k8s %s container %s", key, kc.Name), image: kc.Image, env: map[string]string{},
		portNames: map[string]int{}, ports: map[int]bool{}, probes: map[string]probe{}, mounts: map[string]string{},
		labels: w.tmpl.Metadata.Labels}
	if w.obj.Kind == "StatefulSet" {
		c.where += " pod " + pod
	}
	var errs []error
	vars := map[string]string{}
	for _, e := range kc.Env {
		switch {
		case e.ValueFrom == nil:
			c.env[e.Name], vars[e.Name] = e.Value, e.Value
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name" && w.obj.Kind == "StatefulSet":
			c.env[e.Name], vars[e.Name] = pod, pod
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.labels['apps.kubernetes.io/pod-index']" && w.obj.Kind == "StatefulSet":
			c.env[e.Name], vars[e.Name] = strconv.Itoa(ordinal), strconv.Itoa(ordinal)
		case e.ValueFrom.SecretKeyRef != nil:
			c.env[e.Name] = "<from secret " + e.ValueFrom.SecretKeyRef.Name + ">"
		case e.ValueFrom.ResourceFieldRef != nil:
			c.env[e.Name] = "<from " + e.ValueFrom.ResourceFieldRef.Resource + ">"
		default:
			errs = append(errs, fmt.Errorf("%s: env %s: a valueFrom these tests do not know", c.where, e.Name))
		}
	}
	for _, p := range kc.Ports {
		c.portNames[p.Name] = p.ContainerPort
		c.ports[p.ContainerPort] = true
	}
	volumes := map[string]string{}
	for _, v := range w.obj.Spec.VolumeClaimTemplates {
		volumes[v.Metadata.Name] = "pvc:" + v.Metadata.Name
	}
	for _, v := range w.tmpl.Spec.Volumes {
		switch {
		case v.Secret != nil:
			volumes[v.Name] = "secret:" + v.Secret.SecretName
		case v.PersistentVolumeClaim != nil:
			volumes[v.Name] = "pvc:" + v.PersistentVolumeClaim.ClaimName
		}
	}
	for _, m := range kc.VolumeMounts {
		vol, ok := volumes[m.Name]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: mounts volume %s, which the pod does not have", c.where, m.Name))
		}
		c.mounts[m.MountPath] = vol
	}
	switch {
	case kc.Image == ourImage:
		errs = append(errs, c.parseCommand(sets, append(slices.Clone(kc.Command), kc.Args...), vars)...)
	case strings.HasPrefix(kc.Image, kafkaImage):
		c.command = "kafka"
	default:
		errs = append(errs, fmt.Errorf("%s: image %s is neither %s nor Kafka's", c.where, kc.Image, ourImage))
	}
	errs = append(errs, c.fillListen(sets)...)
	for f, port := range c.listen {
		if !c.ports[port] && w.obj.Kind != "CronJob" {
			errs = append(errs, fmt.Errorf("%s: listens on %d (%s) but declares no such containerPort", c.where, port, f))
		}
	}
	for kind, p := range map[string]*k8sProbe{"liveness": kc.LivenessProbe, "readiness": kc.ReadinessProbe} {
		switch {
		case p == nil:
		case p.HTTPGet != nil:
			n, err := c.portNumber(p.HTTPGet.Port)
			errs = append(errs, err)
			c.probes[kind] = probe{path: p.HTTPGet.Path, port: n}
		case p.TCPSocket != nil:
			n, err := c.portNumber(p.TCPSocket.Port)
			errs = append(errs, err)
			c.probes[kind] = probe{port: n}
		}
	}
	if w.obj.Kind != "CronJob" && (c.probes["liveness"] == probe{} || c.probes["readiness"] == probe{}) {
		errs = append(errs, fmt.Errorf("%s: want liveness and readiness probes", c.where))
	}
	for _, r := range []string{"cpu", "memory"} {
		if kc.Resources.Requests[r] == "" || kc.Resources.Limits[r] == "" {
			errs = append(errs, fmt.Errorf("%s: no %s request and limit", c.where, r))
		}
	}
	return c, errs
}

// portNumber resolves a port given by number or by containerPort name.
func (c *container) portNumber(p any) (int, error) {
	switch v := p.(type) {
	case int:
		if !c.ports[v] {
			return 0, fmt.Errorf("%s declares no containerPort %d", c.where, v)
		}
		return v, nil
	case string:
		n, ok := c.portNames[v]
		if !ok {
			return 0, fmt.Errorf("%s has no port named %q", c.where, v)
		}
		return n, nil
	}
	return 0, fmt.Errorf("%s: port %v: want a number or a name", c.where, p)
}

// selects says whether a selector's labels are all among labels.
func selects(selector map[string]any, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != fmt.Sprint(v) {
			return false
		}
	}
	return true
}

// checkServices: every Service selects pods with a container for each of
// its target ports; a StatefulSet's serviceName is a headless Service that
// selects it.
func checkServices(services map[string]object, workloads map[string]*workload) []error {
	var errs []error
	for name, svc := range services {
		n := 0
		for _, w := range workloads {
			if w.obj.Kind == "CronJob" || !selects(svc.Spec.Selector, w.tmpl.Metadata.Labels) {
				continue
			}
			n++
			for _, sp := range svc.Spec.Ports {
				ok := false
				for _, c := range w.pods[slices.Sorted(maps.Keys(w.pods))[0]] {
					if _, err := c.portNumber(sp.TargetPort); err == nil {
						ok = true
					}
				}
				if !ok {
					errs = append(errs, fmt.Errorf("Service %s port %s: no container of %s %s has target port %v", name, sp.Name, w.obj.Kind, w.obj.Metadata.Name, sp.TargetPort))
				}
			}
		}
		if n == 0 {
			errs = append(errs, fmt.Errorf("Service %s selects no pods (%v)", name, svc.Spec.Selector))
		}
	}
	for _, w := range workloads {
		if w.obj.Kind != "StatefulSet" {
			continue
		}
		svc, ok := services[w.obj.Spec.ServiceName]
		if !ok || svc.Spec.ClusterIP != "None" || !selects(svc.Spec.Selector, w.tmpl.Metadata.Labels) {
			errs = append(errs, fmt.Errorf("StatefulSet %s: serviceName %q must be a headless Service selecting its pods", w.obj.Metadata.Name, w.obj.Spec.ServiceName))
		}
	}
	return errs
}

func errorsOf(t *testing.T, errs []error) {
	t.Helper()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// --- tests -----------------------------------------------------------------

func TestCompose(t *testing.T) {
	sets := binaryFlags(t)
	d, f, errs := loadCompose(t, sets)
	errorsOf(t, errs)
	errorsOf(t, d.check(sets))
	checkPaysimKeys(t, d)
	for _, c := range d.containers {
		if c.command == "" && c.image != "" && !strings.HasPrefix(c.image, "prom/prometheus:") && !strings.HasPrefix(c.image, "grafana/grafana:") {
			t.Errorf("%s: image %s is none of ours, Kafka's, Prometheus's or Grafana's", c.where, c.image)
		}
	}
	// Prometheus scrapes every process serving /metrics, under its binary's
	// name as the job, on the port that serves it.
	var prom struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, "prometheus/prometheus.yml", &prom)
	scraped := map[*container]bool{}
	for _, sc := range prom.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				host, port, _ := strings.Cut(target, ":")
				n, _ := strconv.Atoi(port)
				cs, at, err := d.resolve(host, n)
				if err != nil {
					t.Errorf("prometheus.yml: job %s target %s: %v", sc.JobName, target, err)
					continue
				}
				for _, c := range cs {
					if c.command != sc.JobName || !servesMetrics[c.command] || c.listen[healthFlag[c.command]] != at {
						t.Errorf("prometheus.yml: job %s target %s is %s (%s), whose /metrics is on port %d", sc.JobName, target, c.where, c.command, c.listen[healthFlag[c.command]])
					}
					scraped[c] = true
				}
			}
		}
	}
	for _, c := range d.containers {
		if servesMetrics[c.command] && !scraped[c] {
			t.Errorf("prometheus.yml does not scrape %s", c.where)
		}
	}
	checkRuleFiles(t, "prometheus/prometheus.yml", prom.RuleFiles)
	// Prometheus reads the rule files next to its configuration, and Grafana
	// its provisioning and the dashboard, where compose mounts them.
	mounted := map[string]string{}
	for _, name := range []string{"prometheus", "grafana"} {
		if _, ok := f.Services[name]; !ok {
			t.Fatalf("compose.yaml: no %s service", name)
		}
	}
	for _, c := range d.containers {
		for at, vol := range c.mounts {
			if src, ok := strings.CutPrefix(vol, "bind:"); ok {
				mounted[src] = at
			}
		}
	}
	for src, want := range map[string]string{
		"prometheus/prometheus.yml": "/etc/prometheus/prometheus.yml",
		"prometheus/alerts.yml":     "/etc/prometheus/" + prom.RuleFiles[0],
		"grafana/provisioning":      "/etc/grafana/provisioning",
	} {
		if mounted[src] != want {
			t.Errorf("compose.yaml mounts %s at %q; want %s", src, mounted[src], want)
		}
	}
	var provider struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, "grafana/provisioning/dashboards/seatd.yml", &provider)
	if len(provider.Providers) != 1 || filepath.Dir(mounted["grafana/onsale.json"]) != provider.Providers[0].Options.Path {
		t.Errorf("compose.yaml mounts grafana/onsale.json at %q, not in the provisioned dashboards' path", mounted["grafana/onsale.json"])
	}
}

func TestKubernetes(t *testing.T) {
	sets := binaryFlags(t)
	objs, d, workloads, errs := loadK8s(t, sets)
	errorsOf(t, errs)
	errorsOf(t, d.check(sets))
	checkPaysimKeys(t, d)
	for _, kind := range []string{"StatefulSet/seatd", "StatefulSet/orderflow", "Deployment/gateway"} {
		if workloads[kind] == nil {
			t.Errorf("k8s/: no %s", kind)
		}
	}
	// The order-flow instances' partitions are fixed per ordinal: one
	// persistent volume per pod.
	for _, kind := range []string{"StatefulSet/seatd", "StatefulSet/orderflow"} {
		if w := workloads[kind]; w != nil && len(w.obj.Spec.VolumeClaimTemplates) == 0 {
			t.Errorf("%s has no volumeClaimTemplates", kind)
		}
	}
	// seatd's pods start together (a pod is ready only once its groups have
	// leaders, which takes its peers) and find each other before they are ready.
	if w := workloads["StatefulSet/seatd"]; w != nil {
		if w.obj.Spec.PodManagementPolicy != "Parallel" {
			t.Errorf("StatefulSet/seatd: podManagementPolicy %q; want Parallel", w.obj.Spec.PodManagementPolicy)
		}
		for _, o := range objs {
			if o.Kind == "Service" && o.Metadata.Name == w.obj.Spec.ServiceName && !o.Spec.PublishNotReadyAddresses {
				t.Errorf("Service %s: want publishNotReadyAddresses, or seatd's peers never find each other", o.Metadata.Name)
			}
		}
	}
	// Each pod serving /metrics says so to prometheus-k8s.yml, whose job is
	// the pod's app.kubernetes.io/name: it must be the binary's name.
	for _, c := range d.containers {
		if !servesMetrics[c.command] {
			continue
		}
		var w *workload
		for _, wl := range workloads {
			for _, cs := range wl.pods {
				if slices.Contains(cs, c) {
					w = wl
				}
			}
		}
		a := w.tmpl.Metadata.Annotations
		if a["prometheus.io/scrape"] != "true" || a["prometheus.io/port"] != strconv.Itoa(c.listen[healthFlag[c.command]]) || a["prometheus.io/path"] != "/metrics" {
			t.Errorf("%s: annotations %v; want prometheus.io/scrape \"true\", port %d, path /metrics", c.where, a, c.listen[healthFlag[c.command]])
		}
		if c.labels["app.kubernetes.io/name"] != c.command {
			t.Errorf("%s: label app.kubernetes.io/name %q; want %q (the job in alerts.yml)", c.where, c.labels["app.kubernetes.io/name"], c.command)
		}
	}
	// PodDisruptionBudgets select exactly one workload's pods, let a drain
	// proceed, and keep seatd's quorum.
	pdbs := 0
	for _, o := range objs {
		if o.Kind != "PodDisruptionBudget" {
			continue
		}
		pdbs++
		sel, _ := o.Spec.Selector["matchLabels"].(map[string]any)
		var matched []*workload
		for _, w := range workloads {
			if w.obj.Kind != "CronJob" && selects(sel, w.tmpl.Metadata.Labels) {
				matched = append(matched, w)
			}
		}
		if len(matched) != 1 {
			t.Errorf("PodDisruptionBudget %s selects %d workloads; want 1", o.Metadata.Name, len(matched))
			continue
		}
		replicas := *matched[0].obj.Spec.Replicas
		available := replicas - 1
		switch {
		case o.Spec.MaxUnavailable != nil:
			available = replicas - *o.Spec.MaxUnavailable
		case o.Spec.MinAvailable != nil:
			available = *o.Spec.MinAvailable
		}
		if available >= replicas {
			t.Errorf("PodDisruptionBudget %s keeps all %d pods: no node can be drained", o.Metadata.Name, replicas)
		}
		if matched[0].obj.Metadata.Name == "seatd" && available < replicas/2+1 {
			t.Errorf("PodDisruptionBudget %s lets seatd go below a quorum (%d of %d)", o.Metadata.Name, available, replicas)
		}
	}
	if pdbs < 3 {
		t.Errorf("k8s/: %d PodDisruptionBudgets; want seatd's, orderflow's and the gateway's", pdbs)
	}
	var prom struct {
		RuleFiles []string `yaml:"rule_files"`
	}
	readYAML(t, "prometheus/prometheus-k8s.yml", &prom)
	checkRuleFiles(t, "prometheus/prometheus-k8s.yml", prom.RuleFiles)
}

// checkPaysimKeys: orderflow's Alipay and WeChat Pay settings are those of
// the keys paysim serves: its ids, and its key files on the volume paysim
// keeps them in.
func checkPaysimKeys(t *testing.T, d *deployment) {
	t.Helper()
	sims := d.byCommand("paysim")
	if len(sims) != 1 {
		t.Fatalf("%s: %d paysim containers; want 1", d.name, len(sims))
	}
	keysVol, _ := sims[0].mountOf(sims[0].flags["keys"])
	keys, err := paysim.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range d.byCommand("orderflow") {
		for flag, id := range map[string]string{"alipay-app-id": keys.AlipayAppID, "wechat-mch-id": keys.WechatMchID, "wechat-app-id": keys.WechatAppID} {
			if got := c.flags[flag]; got != id {
				t.Errorf("%s: -%s=%s; paysim's is %s", c.where, flag, got, id)
			}
		}
		for flag, file := range map[string]string{
			"alipay-key-file": paysim.FileAlipayAppPrivateKey, "alipay-public-key-file": paysim.FileAlipayPublicKey,
			"wechat-serial-file": paysim.FileWechatMerchantSN, "wechat-key-file": paysim.FileWechatMerchantKey,
			"wechat-apiv3-key-file": paysim.FileWechatAPIv3Key, "wechat-platform-cert-file": paysim.FileWechatPlatformCert,
		} {
			v := c.flags[flag]
			vol, at := c.mountOf(v)
			if filepath.Base(v) != file || vol != keysVol || filepath.Dir(v) != at {
				t.Errorf("%s: -%s=%s (on %q); want %s of paysim's keys (%q)", c.where, flag, v, vol, file, keysVol)
			}
		}
	}
}

func checkRuleFiles(t *testing.T, config string, files []string) {
	t.Helper()
	if len(files) != 1 || files[0] != "alerts.yml" {
		t.Errorf("%s: rule_files %v; want [alerts.yml]", config, files)
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
