package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/vllm-sentinel/vllm-sentinel/config"
)

func runCheck(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("check", stderr)
	cfgFile := configFlag(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *cfgFile == "" {
		fmt.Fprintln(stderr, "check: --config is required")
		return exitUsage
	}
	cfg, err := config.LoadFile(*cfgFile, os.Getenv)
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			for _, p := range ce.Problems {
				fmt.Fprintln(stderr, p)
			}
			fmt.Fprintf(stderr, "%s: %d problem(s) found\n", *cfgFile, len(ce.Problems))
		} else {
			fmt.Fprintf(stderr, "%s: %v\n", *cfgFile, err)
		}
		return exitFailure
	}
	fmt.Fprintf(stdout, "%s: valid: %d SLO(s), %d indicator(s), %d notifier(s)\n",
		*cfgFile, len(cfg.SLOs), len(cfg.Indicators), len(cfg.Notifiers))
	return exitOK
}
