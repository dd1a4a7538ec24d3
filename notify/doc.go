// Package notify delivers alerts to Alertmanager, Slack and webhooks, with
// routing, grouping, retries and rate limits.
package notify
