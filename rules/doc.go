// Package rules is the SLO and indicator model: the specs users write in YAML,
// their validation, the SRE-workbook burn-rate windows, and the PromQL built
// from them. It performs no I/O; the evaluator runs what it builds.
package rules
