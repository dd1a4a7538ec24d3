package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"golang.org/x/term"

	"github.com/vllm-sentinel/vllm-sentinel/internal/logging"
)

type logFlags struct {
	level  *string
	format *string
}

func addLogFlags(fs *flag.FlagSet) logFlags {
	return logFlags{
		level:  fs.String("log.level", "info", "log level: debug, info, warn, error"),
		format: fs.String("log.format", "auto", "log format: auto (colours on a terminal, JSON otherwise), tint, text, json"),
	}
}

// newLogger writes for humans on a terminal (tint) and JSON otherwise, so
// that journald and container log shippers get structured records.
func (f logFlags) newLogger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(*f.level)); err != nil {
		return nil, fmt.Errorf("--log.level %q: want debug, info, warn or error", *f.level)
	}
	format := *f.format
	if format == "auto" {
		format = "json"
		if file, ok := w.(*os.File); ok && term.IsTerminal(int(file.Fd())) {
			format = "tint"
		}
	}
	switch format {
	case logging.FormatTint, logging.FormatText, logging.FormatJSON:
		return logging.New(w, format, level, nil)
	default:
		return nil, fmt.Errorf("--log.format %q: want auto, tint, text or json", *f.format)
	}
}
