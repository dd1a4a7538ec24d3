// Package evaluator runs SLO and indicator evaluations against Prometheus at
// explicit timestamps, accounts SLIs and burn rates, keeps alert state, and
// hands alerts to a Sender.
package evaluator
