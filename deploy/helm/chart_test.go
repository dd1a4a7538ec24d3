package helm_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/vllm-sentinel/vllm-sentinel/config"
	"github.com/vllm-sentinel/vllm-sentinel/internal/promtest"
	"github.com/vllm-sentinel/vllm-sentinel/notify/receivers"
)

const (
	chartDir   = "vllm-sentinel"
	configPath = "/etc/vllm-sentinel/config.yaml"
	secretsDir = "/etc/vllm-sentinel/secrets"
)

// The chart passes helm lint --strict with the default values and with each
// test values file.
func TestChartLint(t *testing.T) {
	t.Parallel()
	for _, values := range []string{"", "testdata/full-values.yaml", "testdata/existing-values.yaml"} {
		args := []string{"lint", chartDir, "--strict"}
		if values != "" {
			args = append(args, "--values", values)
		}
		if out, err := runHelm(t, args...); err != nil {
			t.Errorf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// The helm the tests run is the one tools/helm pins and install-deps.sh
// builds: one version in three places.
func TestHelmToolVersion(t *testing.T) {
	t.Parallel()
	mod, err := os.ReadFile("../../tools/helm/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^\s*(require\s+)?helm\.sh/helm/v3 ` + regexp.QuoteMeta(promtest.HelmVersion) + `(\s*// indirect)?\s*$`).Match(mod) {
		t.Errorf("tools/helm/go.mod does not require helm.sh/helm/v3 %s:\n%s", promtest.HelmVersion, mod)
	}
	script, err := os.ReadFile("../../scripts/install-deps.sh")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(script, []byte("\nHELM_VERSION="+promtest.HelmVersion+"\n")) {
		t.Errorf("scripts/install-deps.sh does not build HELM_VERSION=%s", promtest.HelmVersion)
	}
	out, err := runHelm(t, "version", "--short")
	if err != nil || !strings.HasPrefix(string(out), promtest.HelmVersion) {
		t.Errorf("helm version --short = %q, %v; want %s", out, err, promtest.HelmVersion)
	}
}

// With the default values: a Deployment that probes the port the config
// listens on, a PVC at state.path, a ConfigMap holding a config the daemon
// loads, and neither a Secret nor a ServiceMonitor.
func TestChartDefaults(t *testing.T) {
	t.Parallel()
	r := render(t)
	if got, want := r.kinds(), []string{"ConfigMap", "Deployment", "PersistentVolumeClaim", "Service"}; !slices.Equal(got, want) {
		t.Fatalf("kinds = %v, want %v", got, want)
	}
	cfg := r.config(t, nil)
	if cfg.Prometheus.URL != "http://prometheus-operated.monitoring.svc:9090" {
		t.Errorf("prometheus.url = %q, want values.prometheusURL's default", cfg.Prometheus.URL)
	}
	if len(cfg.SLOs) != 2 || len(cfg.Indicators) == 0 || len(cfg.Notifiers) != 1 || cfg.Notifiers[0].Type != "alertmanager" {
		t.Errorf("default config: %d SLOs, %d indicators, notifiers %v; want the example's 2 SLOs, its indicators and one alertmanager",
			len(cfg.SLOs), len(cfg.Indicators), cfg.Notifiers)
	}
	d, c := r.deployment(t)
	checkPod(t, r, cfg, d, c, 9105)
	if d.Spec.Replicas != 1 || d.Spec.Strategy.Type != "Recreate" {
		t.Errorf("replicas %d, strategy %q; want 1, Recreate (one writer of the state)", d.Spec.Replicas, d.Spec.Strategy.Type)
	}
	if want := "ghcr.io/vllm-sentinel/vllm-sentinel:" + appVersion(t); c.Image != want {
		t.Errorf("image = %q, want %q (the chart's appVersion)", c.Image, want)
	}
	wantArgs := []string{"run", "--config=" + configPath}
	if !slices.Equal(c.Command, []string{"/usr/local/bin/vllm-sentinel"}) || !slices.Equal(c.Args, wantArgs) {
		t.Errorf("command %q args %q, want [/usr/local/bin/vllm-sentinel] %q", c.Command, c.Args, wantArgs)
	}
	if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
		t.Errorf("resources = %+v, want cpu and memory requests and a memory limit", c.Resources)
	}
	if m := mountAt(c, secretsDir); m != nil {
		t.Errorf("a secrets mount without secrets: %+v", m)
	}

	var pvc persistentVolumeClaim
	r.one(t, "PersistentVolumeClaim").decode(t, &pvc)
	if !slices.Equal(pvc.Spec.AccessModes, []string{"ReadWriteOnce"}) || pvc.Spec.Resources.Requests["storage"] != "1Gi" || pvc.Spec.StorageClassName != nil {
		t.Errorf("PVC spec = %+v, want ReadWriteOnce, 1Gi, the default class", pvc.Spec)
	}

	var svc service
	r.one(t, "Service").decode(t, &svc)
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 9105 || svc.Spec.Ports[0].TargetPort != "http" {
		t.Errorf("service ports = %+v, want 9105 -> http", svc.Spec.Ports)
	}
	if !subset(svc.Spec.Selector, d.Spec.Template.Metadata.Labels) || len(svc.Spec.Selector) == 0 {
		t.Errorf("service selector %v does not select the pod labels %v", svc.Spec.Selector, d.Spec.Template.Metadata.Labels)
	}
}

// Everything optional switched on: the ServiceMonitor, a PVC of its own
// class and size, a Secret whose files the config reads, another port.
func TestChartFullValues(t *testing.T) {
	t.Parallel()
	r := render(t, "--values", "testdata/full-values.yaml")
	if got, want := r.kinds(), []string{"ConfigMap", "Deployment", "PersistentVolumeClaim", "Secret", "Service", "ServiceMonitor"}; !slices.Equal(got, want) {
		t.Fatalf("kinds = %v, want %v", got, want)
	}

	sec := r.one(t, "Secret")
	var secret struct {
		Type string            `yaml:"type"`
		Data map[string]string `yaml:"data"`
	}
	sec.decode(t, &secret)
	files := map[string][]byte{}
	for k, v := range secret.Data {
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			t.Fatalf("secret key %s: %v", k, err)
		}
		files[k] = b
	}
	if got := slices.Sorted(maps.Keys(files)); !slices.Equal(got, []string{"hook-secret", "prometheus-password", "slack-url"}) {
		t.Errorf("secret keys = %v", got)
	}
	if string(files["slack-url"]) != "https://hooks.slack.com/services/T000/B000/XXXXXXXX" {
		t.Errorf("slack-url = %q", files["slack-url"])
	}

	// Every secret file the config names is a key of the Secret.
	text := r.configText(t)
	for _, m := range regexp.MustCompile(regexp.QuoteMeta(secretsDir)+`/([^\s"',}]+)`).FindAllStringSubmatch(text, -1) {
		if _, ok := files[m[1]]; !ok {
			t.Errorf("the config reads %s/%s, which is not in the Secret", secretsDir, m[1])
		}
	}
	cfg := r.config(t, files)
	if cfg.Prometheus.URL != "http://thanos-query.monitoring.svc:10902" {
		t.Errorf("prometheus.url = %q, want values.prometheusURL", cfg.Prometheus.URL)
	}
	if ba := cfg.Prometheus.HTTPConfig.BasicAuth; ba == nil || ba.Username != "sentinel" || filepath.Base(ba.PasswordFile) != "prometheus-password" {
		t.Errorf("prometheus basic_auth = %+v", ba)
	}
	if got := notifierTypes(cfg); !slices.Equal(got, []string{"alertmanager", "slack", "webhook"}) {
		t.Errorf("notifier types = %v", got)
	}
	if cfg.Global.ExternalLabels["Team"] != "Inference" {
		t.Errorf("external labels = %v: a label's case must survive the chart", cfg.Global.ExternalLabels)
	}

	d, c := r.deployment(t)
	checkPod(t, r, cfg, d, c, 8080)
	m := mountAt(c, secretsDir)
	if m == nil || !m.ReadOnly {
		t.Fatalf("secrets mount = %+v, want %s read-only", m, secretsDir)
	}
	if v := volume(d, m.Name); v == nil || v.Secret == nil || v.Secret.SecretName != sec.Metadata.Name {
		t.Errorf("secrets volume = %+v, want the Secret %s", v, sec.Metadata.Name)
	}
	if d.Spec.Template.Metadata.Annotations["checksum/secret"] == "" {
		t.Errorf("no checksum/secret annotation: a changed secret would not roll the pod")
	}
	for _, a := range []string{"--web.enable-lifecycle", "--log.level=debug"} {
		if !slices.Contains(c.Args, a) {
			t.Errorf("args %q lack %s", c.Args, a)
		}
	}

	var pvc persistentVolumeClaim
	r.one(t, "PersistentVolumeClaim").decode(t, &pvc)
	if pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName != "fast-ssd" || pvc.Spec.Resources.Requests["storage"] != "5Gi" {
		t.Errorf("PVC spec = %+v, want fast-ssd, 5Gi", pvc.Spec)
	}

	var svc service
	r.one(t, "Service").decode(t, &svc)
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 80 || svc.Spec.Ports[0].Name != "http" {
		t.Errorf("service ports = %+v, want 80 named http", svc.Spec.Ports)
	}
	sm := r.one(t, "ServiceMonitor")
	var monitor struct {
		Spec struct {
			Selector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
			Endpoints []endpoint `yaml:"endpoints"`
		} `yaml:"spec"`
	}
	sm.decode(t, &monitor)
	if sm.APIVersion != "monitoring.coreos.com/v1" || sm.Metadata.Labels["release"] != "kube-prometheus-stack" {
		t.Errorf("ServiceMonitor %s, labels %v", sm.APIVersion, sm.Metadata.Labels)
	}
	if sel := monitor.Spec.Selector.MatchLabels; len(sel) == 0 || !subset(sel, r.one(t, "Service").Metadata.Labels) {
		t.Errorf("ServiceMonitor selector %v does not select the Service", sel)
	}
	want := []endpoint{{Port: "http", Path: "/metrics", Interval: "1m", ScrapeTimeout: "10s"}}
	if got := monitor.Spec.Endpoints; !slices.Equal(got, want) {
		t.Errorf("ServiceMonitor endpoints = %+v, want %+v", got, want)
	}
}

// A claim and a Secret made outside the chart, and a config given as a
// string: the chart still owns state.path and the listen address.
func TestChartExistingClaimAndSecret(t *testing.T) {
	t.Parallel()
	r := render(t, "--values", "testdata/existing-values.yaml")
	if got, want := r.kinds(), []string{"ConfigMap", "Deployment", "Service"}; !slices.Equal(got, want) {
		t.Fatalf("kinds = %v, want %v (no PVC, no Secret)", got, want)
	}
	cfg := r.config(t, nil)
	if cfg.Prometheus.URL != "http://prometheus.example:9090" {
		t.Errorf("prometheus.url = %q: with prometheusURL empty the config's own is kept", cfg.Prometheus.URL)
	}
	d, c := r.deployment(t)
	checkPod(t, r, cfg, d, c, 9105)
	if v := volume(d, mountAt(c, cfg.State.Path).Name); v.PersistentVolumeClaim.ClaimName != "sentinel-state" {
		t.Errorf("state claim = %q, want sentinel-state", v.PersistentVolumeClaim.ClaimName)
	}
	m := mountAt(c, secretsDir)
	if m == nil {
		t.Fatalf("no mount at %s", secretsDir)
	}
	if v := volume(d, m.Name); v == nil || v.Secret == nil || v.Secret.SecretName != "sentinel-secrets" {
		t.Errorf("secrets volume = %+v, want the existing Secret", v)
	}
}

// Without persistence the state is an emptyDir.
func TestChartPersistenceOff(t *testing.T) {
	t.Parallel()
	r := render(t, "--set", "persistence.enabled=false")
	if slices.Contains(r.kinds(), "PersistentVolumeClaim") {
		t.Errorf("a PVC with persistence.enabled=false")
	}
	cfg := r.config(t, nil)
	d, c := r.deployment(t)
	checkPod(t, r, cfg, d, c, 9105)
	if v := volume(d, mountAt(c, cfg.State.Path).Name); v.EmptyDir == nil {
		t.Errorf("state volume = %+v, want an emptyDir", v)
	}
}

// Values the sentinel could not run with fail the install, with the reason.
func TestChartRefusesBrokenValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		set  string
		want string
	}{
		{"replicaCount=2", "replicaCount > 1"},
		{"config=global: {evaluation_interval: 1m}", "no slos and no indicators"},
		{"config=slos: [", "config is not valid YAML"},
	} {
		out, err := runHelm(t, "template", "t", chartDir, "--set-string", tc.set)
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("--set-string %s: err %v, output %s; want it refused with %q", tc.set, err, out, tc.want)
		}
	}
}

// A config change changes the pod template, so that helm upgrade rolls the
// pod onto it (the config is mounted with subPath, which is not updated in
// place).
func TestChartConfigChangeRollsPod(t *testing.T) {
	t.Parallel()
	sum := func(args ...string) string {
		d, _ := render(t, args...).deployment(t)
		s := d.Spec.Template.Metadata.Annotations["checksum/config"]
		if len(s) != 64 {
			t.Fatalf("checksum/config = %q, want a sha256", s)
		}
		return s
	}
	base := sum()
	if sum() != base {
		t.Errorf("checksum/config differs between two renders of the same values")
	}
	if sum("--set", "prometheusURL=http://thanos.example:9090") == base {
		t.Errorf("checksum/config unchanged by a config change")
	}
	if sum("--set", "resources.requests.cpu=100m") != base {
		t.Errorf("checksum/config changed by a change outside the config")
	}
}

// checkPod checks what every rendering must get right: the probes on the
// port the config listens on, the mounts of the config and of state.path,
// and the security settings.
func checkPod(t *testing.T, r rendered, cfg *config.Config, d deployment, c container, port int) {
	t.Helper()
	host, p, err := net.SplitHostPort(cfg.Web.ListenAddress)
	if err != nil || (host != "" && host != "0.0.0.0" && host != "::") || p != strconv.Itoa(port) {
		t.Errorf("web.listen_address = %q, want every interface, port %d", cfg.Web.ListenAddress, port)
	}
	for _, pr := range []struct {
		name string
		p    *probe
		path string
	}{{"liveness", c.LivenessProbe, "/-/healthy"}, {"readiness", c.ReadinessProbe, "/-/ready"}} {
		if pr.p == nil {
			t.Errorf("no %s probe", pr.name)
			continue
		}
		if pr.p.HTTPGet.Path != pr.path || c.portNumber(pr.p.HTTPGet.Port) != port {
			t.Errorf("%s probe = GET %s on %q (port %d), want %s on %d", pr.name, pr.p.HTTPGet.Path, pr.p.HTTPGet.Port,
				c.portNumber(pr.p.HTTPGet.Port), pr.path, port)
		}
	}
	// The image sets both for docker run, and the environment wins over
	// the config: the pod must say what the config says.
	for name, want := range map[string]string{"VLLM_SENTINEL_WEB_LISTEN_ADDRESS": cfg.Web.ListenAddress, "VLLM_SENTINEL_STATE_PATH": cfg.State.Path} {
		if got := c.env(name); got == nil || *got != want {
			t.Errorf("env %s = %v, want %q as in the config (else the image's value wins)", name, deref(got), want)
		}
	}

	cm := r.one(t, "ConfigMap")
	if m := mountAt(c, configPath); m == nil || m.SubPath != "config.yaml" || !m.ReadOnly {
		t.Errorf("config mount = %+v, want %s from config.yaml, read-only", m, configPath)
	} else if v := volume(d, m.Name); v == nil || v.ConfigMap == nil || v.ConfigMap.Name != cm.Metadata.Name {
		t.Errorf("config volume = %+v, want the ConfigMap %s", v, cm.Metadata.Name)
	}
	if cfg.State.Path != "/var/lib/vllm-sentinel" {
		t.Errorf("state.path = %q, want the volume's /var/lib/vllm-sentinel", cfg.State.Path)
	}
	m := mountAt(c, cfg.State.Path)
	if m == nil || m.ReadOnly {
		t.Fatalf("state mount = %+v, want a writable mount at state.path %s", m, cfg.State.Path)
	}
	v := volume(d, m.Name)
	switch {
	case v == nil:
		t.Errorf("no volume %s for state.path", m.Name)
	case v.PersistentVolumeClaim != nil:
		if pvc, ok := r.find("PersistentVolumeClaim"); ok && pvc.Metadata.Name != v.PersistentVolumeClaim.ClaimName {
			t.Errorf("state claim %s, the chart's PVC is %s", v.PersistentVolumeClaim.ClaimName, pvc.Metadata.Name)
		}
	case v.EmptyDir == nil:
		t.Errorf("state volume = %+v, want a PVC or an emptyDir", v)
	}

	ps := d.Spec.Template.Spec.SecurityContext
	if ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot || ps.RunAsUser == nil || *ps.RunAsUser == 0 || ps.FSGroup == nil || *ps.FSGroup == 0 {
		t.Errorf("pod securityContext: runAsNonRoot %v, runAsUser %v, fsGroup %v; want true and non-zero ids",
			deref(ps.RunAsNonRoot), deref(ps.RunAsUser), deref(ps.FSGroup))
	}
	cs := c.SecurityContext
	if cs.ReadOnlyRootFilesystem == nil || !*cs.ReadOnlyRootFilesystem || cs.AllowPrivilegeEscalation == nil || *cs.AllowPrivilegeEscalation ||
		!slices.Equal(cs.Capabilities.Drop, []string{"ALL"}) {
		t.Errorf("container securityContext: readOnlyRootFilesystem %v, allowPrivilegeEscalation %v, drop %v; want true, false, [ALL]",
			deref(cs.ReadOnlyRootFilesystem), deref(cs.AllowPrivilegeEscalation), cs.Capabilities.Drop)
	}
	if d.Spec.Template.Metadata.Annotations["checksum/config"] == "" {
		t.Errorf("no checksum/config annotation")
	}
	// A Service named vllm-sentinel would set VLLM_SENTINEL_SERVICE_HOST
	// and the like, in the namespace of the config's overrides.
	if l := d.Spec.Template.Spec.EnableServiceLinks; l == nil || *l {
		t.Errorf("enableServiceLinks = %v, want false", deref(l))
	}
}

// helmCommand runs the cached helm binary in this directory, with its own
// config, cache and data directories.
func helmCommand(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(promtest.HelmBinary(t), args...)
	home := t.TempDir()
	cmd.Env = append(os.Environ(),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
	)
	return cmd
}

func runHelm(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	return helmCommand(t, args...).CombinedOutput()
}

// render runs helm template and decodes its documents.
func render(t *testing.T, args ...string) rendered {
	t.Helper()
	args = append([]string{"template", "t", chartDir, "--namespace", "monitoring"}, args...)
	cmd := helmCommand(t, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	var r rendered
	dec := yaml.NewDecoder(bytes.NewReader(out))
	for {
		var n yaml.Node
		if err := dec.Decode(&n); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode helm template output: %v\n%s", err, out)
		}
		if len(n.Content) == 0 {
			continue // an empty document
		}
		m := manifest{node: &n}
		if err := n.Decode(&m); err != nil {
			t.Fatalf("decode a manifest: %v", err)
		}
		if m.APIVersion == "" || m.Kind == "" || m.Metadata.Name == "" {
			t.Fatalf("a manifest without apiVersion, kind or name: %+v", m)
		}
		if m.Metadata.Labels["app.kubernetes.io/instance"] != "t" {
			t.Errorf("%s %s: labels %v lack the release's instance label", m.Kind, m.Metadata.Name, m.Metadata.Labels)
		}
		r = append(r, m)
	}
	return r
}

type rendered []manifest

type manifest struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name        string            `yaml:"name"`
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	} `yaml:"metadata"`
	node *yaml.Node
}

func (m manifest) decode(t *testing.T, v any) {
	t.Helper()
	if err := m.node.Decode(v); err != nil {
		t.Fatalf("decode %s %s: %v", m.Kind, m.Metadata.Name, err)
	}
}

// kinds lists the rendered kinds, sorted.
func (r rendered) kinds() []string {
	var ks []string
	for _, m := range r {
		ks = append(ks, m.Kind)
	}
	slices.Sort(ks)
	return ks
}

func (r rendered) find(kind string) (manifest, bool) {
	for _, m := range r {
		if m.Kind == kind {
			return m, true
		}
	}
	return manifest{}, false
}

func (r rendered) one(t *testing.T, kind string) manifest {
	t.Helper()
	m, ok := r.find(kind)
	if !ok {
		t.Fatalf("no %s rendered", kind)
	}
	return m
}

func (r rendered) deployment(t *testing.T) (deployment, container) {
	t.Helper()
	var d deployment
	m := r.one(t, "Deployment")
	m.decode(t, &d)
	if m.APIVersion != "apps/v1" || len(d.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("Deployment %s with %d containers, want apps/v1 with one", m.APIVersion, len(d.Spec.Template.Spec.Containers))
	}
	if !subset(d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels) {
		t.Errorf("selector %v does not select the pod labels %v", d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels)
	}
	return d, d.Spec.Template.Spec.Containers[0]
}

func (r rendered) configText(t *testing.T) string {
	t.Helper()
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	r.one(t, "ConfigMap").decode(t, &cm)
	text, ok := cm.Data["config.yaml"]
	if !ok {
		t.Fatalf("the ConfigMap has no config.yaml: keys %v", slices.Sorted(maps.Keys(cm.Data)))
	}
	return text
}

// config loads the ConfigMap's config.yaml as the daemon does, with the
// secret files it names under secretsDir written to a temporary directory.
func (r rendered) config(t *testing.T, secrets map[string][]byte) *config.Config {
	t.Helper()
	text := r.configText(t)
	dir := t.TempDir()
	for name, b := range secrets {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	text = strings.ReplaceAll(text, secretsDir+"/", dir+"/")
	cfg, err := config.Load(configPath, []byte(text), receivers.New())
	if err != nil {
		t.Fatalf("the rendered config.yaml does not load: %v\n%s", err, text)
	}
	return cfg
}

type deployment struct {
	Spec struct {
		Replicas int `yaml:"replicas"`
		Strategy struct {
			Type string `yaml:"type"`
		} `yaml:"strategy"`
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"metadata"`
			Spec struct {
				SecurityContext struct {
					RunAsNonRoot *bool  `yaml:"runAsNonRoot"`
					RunAsUser    *int64 `yaml:"runAsUser"`
					FSGroup      *int64 `yaml:"fsGroup"`
				} `yaml:"securityContext"`
				EnableServiceLinks *bool       `yaml:"enableServiceLinks"`
				Containers         []container `yaml:"containers"`
				Volumes            []podVolume `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type container struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	LivenessProbe   *probe `yaml:"livenessProbe"`
	ReadinessProbe  *probe `yaml:"readinessProbe"`
	SecurityContext struct {
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	VolumeMounts []volumeMount `yaml:"volumeMounts"`
}

// portNumber resolves a probe's port, a number or a container port's name;
// 0 if it names none.
func (c container) portNumber(port string) int {
	if n, err := strconv.Atoi(port); err == nil {
		return n
	}
	for _, p := range c.Ports {
		if p.Name == port {
			return p.ContainerPort
		}
	}
	return 0
}

func (c container) env(name string) *string {
	for _, e := range c.Env {
		if e.Name == name {
			return &e.Value
		}
	}
	return nil
}

type probe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

type volumeMount struct {
	Name      string `yaml:"name"`
	MountPath string `yaml:"mountPath"`
	SubPath   string `yaml:"subPath"`
	ReadOnly  bool   `yaml:"readOnly"`
}

type podVolume struct {
	Name      string `yaml:"name"`
	ConfigMap *struct {
		Name string `yaml:"name"`
	} `yaml:"configMap"`
	Secret *struct {
		SecretName string `yaml:"secretName"`
	} `yaml:"secret"`
	PersistentVolumeClaim *struct {
		ClaimName string `yaml:"claimName"`
	} `yaml:"persistentVolumeClaim"`
	EmptyDir *struct{} `yaml:"emptyDir"`
}

type persistentVolumeClaim struct {
	Spec struct {
		AccessModes      []string `yaml:"accessModes"`
		StorageClassName *string  `yaml:"storageClassName"`
		Resources        struct {
			Requests map[string]string `yaml:"requests"`
		} `yaml:"resources"`
	} `yaml:"spec"`
}

type service struct {
	Spec struct {
		Selector map[string]string `yaml:"selector"`
		Ports    []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort string `yaml:"targetPort"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

func mountAt(c container, path string) *volumeMount {
	for i, m := range c.VolumeMounts {
		if m.MountPath == path {
			return &c.VolumeMounts[i]
		}
	}
	return nil
}

func volume(d deployment, name string) *podVolume {
	for i, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == name {
			return &d.Spec.Template.Spec.Volumes[i]
		}
	}
	return nil
}

// deref is *p for messages, "unset" for nil.
func deref[T any](p *T) any {
	if p == nil {
		return "unset"
	}
	return *p
}

func subset(sub, of map[string]string) bool {
	for k, v := range sub {
		if w, ok := of[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func notifierTypes(cfg *config.Config) []string {
	var ts []string
	for _, n := range cfg.Notifiers {
		ts = append(ts, n.Type)
	}
	return ts
}

// endpoint is a ServiceMonitor endpoint, as far as the chart sets it.
type endpoint struct {
	Port          string `yaml:"port"`
	Path          string `yaml:"path"`
	Interval      string `yaml:"interval"`
	ScrapeTimeout string `yaml:"scrapeTimeout"`
}

func appVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		AppVersion string `yaml:"appVersion"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil || c.AppVersion == "" {
		t.Fatalf("Chart.yaml appVersion: %q, %v", c.AppVersion, err)
	}
	return c.AppVersion
}
