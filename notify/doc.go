// Package notify delivers alerts to Alertmanager, Slack and webhooks, with
// routing, grouping, retries and rate limits.
//
// Each integration is a subpackage (alertmanager, slack, webhook) that owns
// its config entry (a Config, DecodeConfig and a constructor from it);
// receivers registers them all in one place, and dispatch groups and
// durably delivers for the ones that cannot group themselves. This package
// holds the routing and what they all share, so that they send, retry,
// count and read their config alike: StatusError and the retry decision,
// the Retry-After and Backoff schedule, secret-safe URLs (Endpoint,
// RedactURL), the HTTP client and Poster, the metric families every
// notifier registers on one registry, the Meta of the notification being
// delivered, and the strict entry decoding, FieldError, Grouping and Secret
// of the config types.
package notify
