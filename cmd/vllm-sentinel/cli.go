package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/version"
)

const appHelp = `SLO burn-rate alerting and leading indicators for vLLM, over Prometheus.`

// appExamples are shown by the top-level --help; each command's own are in
// its HelpLong.
const appExamples = `  vllm-sentinel check --config.file configs/example.yaml --online
  vllm-sentinel run --config.file /etc/vllm-sentinel/config.yaml --web.enable-lifecycle
  vllm-sentinel eval --config.file configs/example.yaml --at -1h --output json
  vllm-sentinel backtest --config.file configs/example.yaml --from -7d --step 1m
  vllm-sentinel help eval
  source <(vllm-sentinel --completion-script-bash)`

// usageTemplate is kingpin's default with an Examples section: the
// selected command's HelpLong, or the application's examples.
const usageTemplate = `{{define "FormatCommand" -}}
{{if .FlagSummary}} {{.FlagSummary}}{{end -}}
{{range .Args}}{{if not .Hidden}} {{if not .Required}}[{{end}}{{if .PlaceHolder}}{{.PlaceHolder}}{{else}}<{{.Name}}>{{end}}{{if .Value|IsCumulative}}...{{end}}{{if not .Required}}]{{end}}{{end}}{{end -}}
{{end -}}

{{define "FormatCommands" -}}
{{range .FlattenedCommands -}}
{{if not .Hidden -}}
  {{.FullCommand}}{{if .Default}}*{{end}}{{template "FormatCommand" .}}
{{.Help|Wrap 4}}
{{end -}}
{{end -}}
{{end -}}

{{define "FormatUsage" -}}
{{template "FormatCommand" .}}{{if .Commands}} <command> [<args> ...]{{end}}
{{if .Help}}
{{.Help|Wrap 0 -}}
{{end -}}

{{end -}}

{{if .Context.SelectedCommand -}}
usage: {{.App.Name}} {{.Context.SelectedCommand}}{{template "FormatUsage" .Context.SelectedCommand}}
{{if .Context.SelectedCommand.HelpLong -}}
Examples:
{{.Context.SelectedCommand.HelpLong}}

{{end -}}
{{ else -}}
usage: {{.App.Name}}{{template "FormatUsage" .App}}
Examples:
` + appExamples + `

{{end -}}
{{if .Context.Flags -}}
Flags:
{{.Context.Flags|FlagsToTwoColumns|FormatTwoColumns}}
{{end -}}
{{if .Context.Args -}}
Args:
{{.Context.Args|ArgsToTwoColumns|FormatTwoColumns}}
{{end -}}
{{if .Context.SelectedCommand -}}
{{if len .Context.SelectedCommand.Commands -}}
Subcommands:
{{template "FormatCommands" .Context.SelectedCommand}}
{{end -}}
{{else if .App.Commands -}}
Commands:
{{template "FormatCommands" .App}}
{{end -}}
`

// Exit codes: 0 success, 1 the work failed (e.g. an invalid config), 2 the
// command line was wrong.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// runner runs a parsed command.
type runner func(ctx context.Context, stdout, stderr io.Writer) int

// terminated is what the application's terminate function panics with, so
// that --help, --version and help COMMAND stop parsing as os.Exit would,
// without ending the process: parse recovers it.
type terminated int

// newApp builds the command line: one kingpin application per call, so
// that concurrent runs (tests) share no flag state.
func newApp(stdout, stderr io.Writer) (*kingpin.Application, map[string]runner) {
	app := kingpin.New("vllm-sentinel", appHelp)
	app.Terminate(func(code int) { panic(terminated(code)) })
	app.UsageWriter(stdout).ErrorWriter(stderr)
	app.UsageTemplate(usageTemplate)
	app.HelpFlag.Short('h')
	app.Version(version.Print("vllm-sentinel"))
	cmds := map[string]runner{
		"run":               addRunCommand(app),
		"check":             addCheckCommand(app),
		"eval":              addEvalCommand(app),
		"backtest":          addBacktestCommand(app),
		"rules export":      addRulesCommand(app),
		"dashboards export": addDashboardsCommand(app),
	}
	app.Command("version", "Print the version, revision, branch, build user and date.").
		HelpLong("  vllm-sentinel version\n  vllm-sentinel --version")
	cmds["version"] = func(_ context.Context, stdout, _ io.Writer) int {
		fmt.Fprintln(stdout, version.Print("vllm-sentinel"))
		return exitOK
	}
	return app, cmds
}

// run is main without the process: tests call it with their own arguments
// and writers.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app, cmds := newApp(stdout, stderr)
	if len(args) == 0 {
		app.UsageWriter(stderr)
		_, code, _ := parse(app, []string{"--help"}, stderr)
		if code == exitOK {
			code = exitUsage
		}
		return code
	}
	args = compatArgs(app, args)
	if code, ok := printScript(app, args, stdout); ok {
		return code
	}
	cmd, code, ok := parse(app, args, stderr)
	if !ok {
		return code
	}
	r, ok := cmds[cmd]
	if !ok {
		fmt.Fprintf(stderr, "vllm-sentinel: error: command %q is not runnable, try --help\n", cmd)
		return exitUsage
	}
	return r(ctx, stdout, stderr)
}

// parse runs kingpin and maps its outcome to an exit code; ok is false when
// the caller should return code at once (help, version, a usage error).
func parse(app *kingpin.Application, args []string, stderr io.Writer) (cmd string, code int, ok bool) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		t, isExit := r.(terminated)
		if !isExit {
			panic(r)
		}
		cmd, code, ok = "", exitOK, false
		if t != 0 {
			code = exitUsage
		}
	}()
	cmd, err := app.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "vllm-sentinel: error: %v, try --help\n", err)
		return "", exitUsage, false
	}
	return cmd, exitOK, true
}

// scriptTemplates are kingpin's generators that write to os.Stdout: run
// renders them itself, to its own stdout.
var scriptTemplates = map[string]string{
	"--completion-script-bash": kingpin.BashCompletionTemplate,
	"--completion-script-zsh":  kingpin.ZshCompletionTemplate,
	"--help-long":              kingpin.LongHelpTemplate,
	"--help-man":               kingpin.ManPageTemplate,
}

func printScript(app *kingpin.Application, args []string, stdout io.Writer) (code int, ok bool) {
	for _, a := range args {
		if a == "--" {
			break
		}
		tmpl, found := scriptTemplates[a]
		if !found {
			continue
		}
		ctx, err := app.ParseContext(args)
		if err != nil {
			ctx, _ = app.ParseContext(nil)
		}
		app.UsageWriter(stdout)
		if err := app.UsageForContextWithTemplate(ctx, 2, tmpl); err != nil {
			return exitFailure, true
		}
		return exitOK, true
	}
	return 0, false
}

// valueFlags are the flags that take a value, of every command.
func valueFlags(app *kingpin.Application) map[string]bool {
	m := map[string]bool{}
	for _, cmd := range app.Model().FlattenedCommands() {
		for _, f := range cmd.Flags {
			if !f.IsBoolFlag() {
				m["--"+f.Name] = true
			}
		}
	}
	return m
}

// compatArgs keeps the old command lines working: single-dash -help and
// -version, and a value beginning with '-' after a space (--at -1h, --out -,
// --label -x=y), which kingpin would read as a short flag: it is joined to
// its flag with '='.
func compatArgs(app *kingpin.Application, args []string) []string {
	switch args[0] {
	case "-help":
		args = append([]string{"--help"}, args[1:]...)
	case "-version":
		args = append([]string{"--version"}, args[1:]...)
	}
	takesValue := valueFlags(app)
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			out = append(out, args[i:]...)
			break
		}
		if takesValue[a] && i+1 < len(args) && strings.HasPrefix(args[i+1], "-") && !strings.HasPrefix(args[i+1], "--") {
			out = append(out, a+"="+args[i+1])
			i++
			continue
		}
		out = append(out, a)
	}
	return out
}

// configFlags are --config.file and its alias --config, kept for the
// command lines written before the rename.
type configFlags struct {
	file, alias string
	fileSet     bool
}

func addConfigFlag(cmd *kingpin.CmdClause) *configFlags {
	c := &configFlags{}
	def := "/etc/vllm-sentinel/config.yaml"
	if _, err := os.Stat(def); err != nil {
		def = ""
	}
	f := cmd.Flag("config.file", "Path to the configuration file.").PlaceHolder("FILE").IsSetByUser(&c.fileSet)
	if def != "" {
		f.Default(def)
	}
	f.StringVar(&c.file)
	cmd.Flag("config", "Alias of --config.file.").Hidden().PlaceHolder("FILE").
		Action(func(*kingpin.ParseContext) error {
			if c.fileSet && c.file != c.alias {
				return fmt.Errorf("--config %s and --config.file %s name different files: give one", c.alias, c.file)
			}
			c.file = c.alias
			return nil
		}).StringVar(&c.alias)
	return c
}

// path is the configuration file given, or the default.
func (c *configFlags) path() string { return c.file }

// commandHelp joins a command's examples, one per line, for HelpLong.
func commandHelp(examples ...string) string {
	return "  " + strings.Join(examples, "\n  ")
}
