// Package notify delivers alerts to Alertmanager, Slack and webhooks, with
// routing, grouping, retries and rate limits.
//
// Each integration is a subpackage (alertmanager, slack, webhook), and
// dispatch groups and durably delivers for the ones that cannot group
// themselves. This package holds the routing and what they all share, so
// that they send, retry and count alike: StatusError and the retry decision,
// the Retry-After and Backoff schedule, secret-safe URLs (Endpoint,
// RedactURL), the HTTP client, and the metric families every notifier
// registers on one registry.
package notify
