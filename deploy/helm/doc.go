// Package helm holds the Helm chart of vllm-sentinel (vllm-sentinel/) and the tests that lint and render it.
package helm
