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

// ToolsDir is the cache scripts/install-deps.sh builds tools into:
// $VLLM_SENTINEL_TOOLS, else $XDG_CACHE_HOME/vllm-sentinel/tools, else
// $HOME/.cache/vllm-sentinel/tools (/tmp when HOME is unset). Prometheus3Binary
// looks in the same place.
func ToolsDir() string {
	if dir := os.Getenv("VLLM_SENTINEL_TOOLS"); dir != "" {
		return dir
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home := os.Getenv("HOME")
		if home == "" {
			home = "/tmp"
		}
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "vllm-sentinel", "tools")
}
