package promtest

import (
	"os"
	"path/filepath"
	"testing"
)

// HelmVersion is the Helm version make deps builds from the tool module
// tools/helm (whose go.mod requires helm.sh/helm/v3 at this version).
const HelmVersion = "v3.22.0"

// HelmBinary is Helm, as scripts/install-deps.sh builds it into the tools
// cache beside Prometheus 3 ($VLLM_SENTINEL_TOOLS, or
// ~/.cache/vllm-sentinel/tools). A missing one fails the test with the
// command that builds it.
func HelmBinary(t testing.TB) string {
	t.Helper()
	p := filepath.Join(ToolsDir(), "helm-"+HelmVersion, "helm")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("promtest: Helm %s not found at %s: run make deps (scripts/install-deps.sh) to build it", HelmVersion, p)
	}
	return p
}
