// Command vllm-sim serves vLLM-shaped Prometheus metrics from a queueing
// model, live or as an OpenMetrics backfill file with scripted incidents.
// See `vllm-sim --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
