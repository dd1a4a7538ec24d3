#!/usr/bin/env bash
# make demo: vllm-sim (slow-ramp scenario, accelerated) over three days of
# healthy history, Prometheus scraping it, Alertmanager, and vllm-sentinel, all on
# 127.0.0.1. Ctrl-C stops everything. DEMO_SECONDS=N stops the demo by itself
# after N seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

DIR=.demo
SIM_PORT=${SIM_PORT:-18000}
PROM_PORT=${PROM_PORT:-19090}
AM_PORT=${AM_PORT:-19093}
SENTINEL_PORT=${SENTINEL_PORT:-19105}
SPEED=${SPEED:-8}
MODELS=llama-3.1-8b,qwen2.5-7b

for port in $SIM_PORT $PROM_PORT $AM_PORT $SENTINEL_PORT; do
  if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
    echo "port $port on 127.0.0.1 is taken; set SIM_PORT, PROM_PORT, AM_PORT or SENTINEL_PORT" >&2
    exit 1
  fi
done

rm -rf "$DIR"
mkdir -p "$DIR"
pids=()
cleanup() {
  trap - INT TERM EXIT
  echo
  echo "stopping the demo..."
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

cat > "$DIR/prometheus.yml" <<YAML
global: {scrape_interval: 2s, evaluation_interval: 2s}
scrape_configs:
  - job_name: vllm
    static_configs: [{targets: ["127.0.0.1:$SIM_PORT"]}]
  - job_name: vllm-sentinel
    honor_labels: true
    static_configs: [{targets: ["127.0.0.1:$SENTINEL_PORT"]}]
YAML
# Three days of ordinary traffic first (the last day every minute, the two
# before every 5 minutes), so that every window pair judges the incident
# against its whole window, as in production, and only the fast page fires.
# The live simulator serves $SPEED model seconds a second, so the history has
# $SPEED engines per model: as many requests a second, each engine healthy.
now=$(date +%s)
echo "writing three days of healthy history for Prometheus (vllm-sim backfill, promtool)"
history() { # start end interval
  bin/vllm-sim backfill --scenario healthy --models "$MODELS" --engines "${SPEED%.*}" --scrape-interval "$3" \
    --target-labels "job=vllm,instance=127.0.0.1:$SIM_PORT" \
    --start "$1" --end "$2" --out "$DIR/history.om" >>"$DIR/backfill.log" 2>&1
  promtool tsdb create-blocks-from openmetrics "$DIR/history.om" "$DIR/prometheus" >>"$DIR/backfill.log" 2>&1
  rm -f "$DIR/history.om"
}
history $((now - 3*86400)) $((now - 86400 - 300)) 5m
history $((now - 86400)) $((now - 120)) 60s

cat > "$DIR/alertmanager.yml" <<YAML
route:
  receiver: demo
  group_by: [alertname, slo, indicator, model_name]
  group_wait: 5s
  group_interval: 10s
# While an SLO pages for a model, its tickets for that model are noise.
inhibit_rules:
  - source_matchers: [alertname="SLOBurnRate", slo_tier="page"]
    target_matchers: [alertname="SLOBurnRate", slo_tier="ticket"]
    equal: [slo, model_name, cluster]
receivers:
  - name: demo
YAML
# The demo's clock runs $SPEED times faster in the simulator, so windows and
# "for" are about a tenth of production's (the example config's); the SLO
# maths is the same.
cat > "$DIR/sentinel.yaml" <<YAML
global:
  evaluation_interval: 5s
  resend_interval: 30s
  external_labels: {cluster: demo}
  external_url: http://127.0.0.1:$SENTINEL_PORT
prometheus: {url: "http://127.0.0.1:$PROM_PORT"}
vllm:
  selector: '{job="vllm"}'
  metric_names: auto
  group_by: [model_name]
slos:
  - name: ttft
    description: 99% of requests get their first token within 1s
    sli: {latency: {metric: time_to_first_token, threshold: 1s}}
    objective: 99
    window: 28d
    min_events: 50
    alerting:
      labels: {team: inference}
      annotations: {runbook_url: "https://runbooks.example/vllm/ttft"}
  - name: errors
    sli: {ratio: {errors: 'vllm:request_success_total{finished_reason="error"}', total: 'vllm:request_success_total'}}
    objective: 99.9
    window: 28d
    min_events: 50
indicators:
  - {name: saturation, kind: saturation, max_num_seqs: 128, threshold: 0.9, window: 60s, for: 30s}
  - {name: queue-time, kind: queue_time, threshold: 100ms, window: 60s, for: 12s}
  - {name: queue-growth, kind: queue_growth, window: 12s, for: 12s}
  - {name: kv-cache, kind: kv_cache_pressure, threshold: 0.9, window: 60s, for: 12s}
  - {name: preemptions, kind: preemption_rate, threshold: 0.05, window: 6s, for: 12s}
  - {name: stall, kind: queue_stall, for: 30s}
  - {name: ttft-p99, kind: latency_percentile, metric: time_to_first_token, percentile: 99, threshold: 2.5s, window: 6s, for: 30s}
notifiers:
  - {name: am, type: alertmanager, urls: ["http://127.0.0.1:$AM_PORT"]}
state: {path: $DIR/sentinel-state}
web: {listen_address: "127.0.0.1:$SENTINEL_PORT"}
YAML

echo "starting vllm-sim (slow-ramp, ${SPEED}x) on 127.0.0.1:$SIM_PORT"
bin/vllm-sim serve --listen "127.0.0.1:$SIM_PORT" --scenario slow-ramp --speed "$SPEED" --incident-at 75m \
  --max-num-seqs 128 --models "$MODELS" >"$DIR/vllm-sim.log" 2>&1 &
pids+=($!)
echo "starting Prometheus on 127.0.0.1:$PROM_PORT"
/usr/bin/prometheus --config.file="$DIR/prometheus.yml" --storage.tsdb.path="$DIR/prometheus" \
  --web.listen-address="127.0.0.1:$PROM_PORT" >"$DIR/prometheus.log" 2>&1 &
pids+=($!)
echo "starting Alertmanager on 127.0.0.1:$AM_PORT"
/usr/bin/prometheus-alertmanager --config.file="$DIR/alertmanager.yml" --storage.path="$DIR/alertmanager" \
  --web.listen-address="127.0.0.1:$AM_PORT" --cluster.listen-address= >"$DIR/alertmanager.log" 2>&1 &
pids+=($!)

for port in $PROM_PORT $AM_PORT; do
  for _ in $(seq 1 100); do
    (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
    sleep 0.2
  done
done

bin/vllm-sentinel check --config "$DIR/sentinel.yaml"
echo "starting vllm-sentinel on 127.0.0.1:$SENTINEL_PORT"
bin/vllm-sentinel run --config "$DIR/sentinel.yaml" --web.enable-lifecycle --log.format text > >(tee "$DIR/sentinel.log") 2>&1 &
pids+=($!)

cat <<TXT

  The simulator runs ${SPEED}x faster than the clock, over three days of healthy history. Its load
  creeps up from 60% of capacity. About seven minutes from now, as the running batch nears
  max_num_seqs, arrivals start to wait now and then (QueueTime, severity=warning, in
  Alertmanager); two minutes or more later the load passes capacity, the queue grows
  (QueueGrowth), TTFT breaches and the ttft SLO pages (SLOBurnRate, severity=critical, 1h/5m).
  The slower window pairs stay quiet: days of history outweigh minutes of incident. Both
  times are printed below when they reach Alertmanager.

  Prometheus      http://127.0.0.1:$PROM_PORT/graph?g0.expr=vllm:num_requests_running
  Alertmanager    http://127.0.0.1:$AM_PORT/#/alerts
  sentinel        http://127.0.0.1:$SENTINEL_PORT/   and /metrics
  alerts          amtool --alertmanager.url=http://127.0.0.1:$AM_PORT alert query
  logs            $DIR/*.log

  Ctrl-C stops everything.

TXT

# firing prints the alerts Alertmanager holds that match its matchers.
firing() { amtool --alertmanager.url="http://127.0.0.1:$AM_PORT" alert query "$@" 2>/dev/null | tail -n +2; }
began=$(date +%s)
warned=0 paged=0 last=0
deadline=$(( began + ${DEMO_SECONDS:-0} ))
while :; do
  sleep 2
  t=$(date +%s)
  if [ "$warned" = 0 ] && [ -n "$(firing severity=warning alertname!=SLOBurnRate alertname!~'Sentinel.*')" ]; then
    warned=$t
    echo "[$(date +%T)] first warning in Alertmanager, +$((t - began))s: $(firing severity=warning alertname!=SLOBurnRate alertname!~'Sentinel.*' | awk '{print $1}' | sort -u | xargs)"
  fi
  if [ "$paged" = 0 ] && [ -n "$(firing alertname=SLOBurnRate severity=critical)" ]; then
    paged=$t
    echo "[$(date +%T)] first page in Alertmanager, +$((t - began))s"
    if [ "$warned" != 0 ]; then
      echo "           the warning came $((paged - warned))s before the page"
    else
      echo "           no warning reached Alertmanager before the page"
    fi
  fi
  if [ $((t - last)) -ge 30 ]; then
    last=$t
    echo "--- alerts in Alertmanager at $(date +%T) ---"
    amtool --alertmanager.url="http://127.0.0.1:$AM_PORT" alert query 2>/dev/null || true
  fi
  if [ "${DEMO_SECONDS:-0}" -gt 0 ] && [ "$t" -ge "$deadline" ]; then
    break
  fi
done
