package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/alecthomas/kingpin/v2"
	"golang.org/x/term"

	"github.com/vllm-sentinel/vllm-sentinel/internal/logging"
)

type logFlags struct {
	level  *string
	format *string
}

func addLogFlags(cmd *kingpin.CmdClause) logFlags {
	return logFlags{
		level:  cmd.Flag("log.level", "Log level: debug, info, warn, error.").Default("info").HintOptions("debug", "info", "warn", "error").String(),
		format: cmd.Flag("log.format", "Log format: auto (colours on a terminal, JSON otherwise), tint, text, json.").Default("auto").HintOptions("auto", "tint", "text", "json").String(),
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
