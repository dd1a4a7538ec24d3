#!/usr/bin/env bash
# make demo: vllm-sim (slow-ramp scenario, accelerated) over three days of
# healthy history, Prometheus scraping it, Alertmanager, Jaeger holding the
# simulator's request spans, and vllm-sentinel, all on 127.0.0.1. Ctrl-C stops
# everything. DEMO_SECONDS=N stops the demo by itself after N seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
# $jaeger_bin: where scripts/install-deps.sh builds Jaeger (ONLY=jaeger).
source scripts/install-deps.sh

DIR=.demo
SIM_PORT=${SIM_PORT:-18000}
PROM_PORT=${PROM_PORT:-19090}
AM_PORT=${AM_PORT:-19093}
SENTINEL_PORT=${SENTINEL_PORT:-19105}
# Jaeger's own ports: the query service (UI and API) and OTLP/HTTP.
JAEGER_PORT=${JAEGER_PORT:-16686}
OTLP_PORT=${OTLP_PORT:-4318}
JAEGER_GRPC_PORT=${JAEGER_GRPC_PORT:-16685}
JAEGER_HEALTH_PORT=${JAEGER_HEALTH_PORT:-13133}
JAEGER_URL=http://127.0.0.1:$JAEGER_PORT
SPEED=${SPEED:-8}
MODELS=llama-3.1-8b,qwen2.5-7b

for port in $SIM_PORT $PROM_PORT $AM_PORT $SENTINEL_PORT $JAEGER_PORT $OTLP_PORT $JAEGER_GRPC_PORT $JAEGER_HEALTH_PORT; do
  if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
    echo "port $port on 127.0.0.1 is taken; set SIM_PORT, PROM_PORT, AM_PORT, SENTINEL_PORT," \
      "JAEGER_PORT, OTLP_PORT, JAEGER_GRPC_PORT or JAEGER_HEALTH_PORT" >&2
    exit 1
  fi
done

rm -rf "$DIR"
mkdir -p "$DIR"
pids=()
build_pid=
cleanup() {
  trap - INT TERM EXIT
  echo
  echo "stopping the demo..."
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  # The Jaeger build runs in its own session (below): its process group is
  # the go command and its compilers. Its output goes to a temporary name
  # until it is complete, so an interrupted build leaves no binary.
  if [ -n "$build_pid" ]; then
    kill -- -"$build_pid" 2>/dev/null || true
  fi
  wait 2>/dev/null || true
  if [ -n "$build_pid" ]; then
    rm -f "$jaeger/jaeger.tmp"
    rm -rf "$DIR/go-tmp"
  fi
}
# Ctrl-C and kill end the script (the loop below would go on after a trap
# that returns); the exit runs cleanup.
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

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
# A page carries example slow requests from Jaeger; until Jaeger answers it
# says traces: unavailable, and the lookup is retried every resend_interval.
tracing:
  jaeger: {url: "$JAEGER_URL", service: vllm}
  max_traces: 3
  timeout: 2s
state: {path: $DIR/sentinel-state}
web: {listen_address: "127.0.0.1:$SENTINEL_PORT"}
YAML

# Jaeger as internal/promtest runs it: OTLP/HTTP into memory, the query
# service, a health check; its own metrics and traces off.
cat > "$DIR/jaeger.yaml" <<YAML
service:
  extensions: [jaeger_storage, jaeger_query, healthcheckv2]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics: {level: none}
    logs: {level: info}
extensions:
  healthcheckv2:
    use_v2: true
    http:
      endpoint: 127.0.0.1:$JAEGER_HEALTH_PORT
      status: {enabled: true, path: /-/ready}
  jaeger_storage:
    backends:
      memstore: {memory: {max_traces: 50000}}
  jaeger_query:
    enable_tracing: false
    storage: {traces: memstore}
    http: {endpoint: "127.0.0.1:$JAEGER_PORT"}
    grpc: {endpoint: "127.0.0.1:$JAEGER_GRPC_PORT"}
receivers:
  otlp:
    protocols:
      http: {endpoint: "127.0.0.1:$OTLP_PORT"}
exporters:
  jaeger_storage_exporter: {trace_storage: memstore}
YAML
start_jaeger() {
  echo "[$(date +%T)] starting Jaeger on 127.0.0.1:$JAEGER_PORT (OTLP/HTTP on 127.0.0.1:$OTLP_PORT)"
  "$jaeger_bin" --config="file:$DIR/jaeger.yaml" >"$DIR/jaeger.log" 2>&1 &
  pids+=($!)
}
if [ -x "$jaeger_bin" ]; then
  start_jaeger
else
  echo "building Jaeger for trace links, ~10 minutes on first run; the demo runs meanwhile and pages"
  echo "say traces: unavailable until it is up (build log: $DIR/jaeger-build.log)"
  # Its own session, so that cleanup stops the go command and every compiler
  # it runs; its own temp dir, so that nothing of an interrupted build stays.
  mkdir -p "$DIR/go-tmp"
  setsid env ONLY=jaeger GOTMPDIR="$PWD/$DIR/go-tmp" ./scripts/install-deps.sh >"$DIR/jaeger-build.log" 2>&1 &
  build_pid=$!
fi

# The simulator and the sentinel point at Jaeger's ports from the start: the
# exporter drops spans while nobody listens, the sentinel retries its lookup.
echo "starting vllm-sim (slow-ramp, ${SPEED}x) on 127.0.0.1:$SIM_PORT"
bin/vllm-sim serve --listen "127.0.0.1:$SIM_PORT" --scenario slow-ramp --speed "$SPEED" --incident-at 75m \
  --max-num-seqs 128 --models "$MODELS" --otlp-traces-endpoint "http://127.0.0.1:$OTLP_PORT" >"$DIR/vllm-sim.log" 2>&1 &
pids+=($!)
echo "starting Prometheus on 127.0.0.1:$PROM_PORT"
/usr/bin/prometheus --config.file="$DIR/prometheus.yml" --storage.tsdb.path="$DIR/prometheus" \
  --web.listen-address="127.0.0.1:$PROM_PORT" >"$DIR/prometheus.log" 2>&1 &
pids+=($!)
echo "starting Alertmanager on 127.0.0.1:$AM_PORT"
/usr/bin/prometheus-alertmanager --config.file="$DIR/alertmanager.yml" --storage.path="$DIR/alertmanager" \
  --web.listen-address="127.0.0.1:$AM_PORT" --cluster.listen-address= >"$DIR/alertmanager.log" 2>&1 &
pids+=($!)

for port in $PROM_PORT $AM_PORT $([ -n "$build_pid" ] || echo "$JAEGER_HEALTH_PORT"); do
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
  The tickets (1d/2h, 3d/6h) stay quiet: days of history outweigh minutes of incident; the
  6h/30m page joins the 1h/5m one about half a minute later, as the breach deepens. Both
  times are printed below when they reach Alertmanager, with the page's cause and its example
  slow requests in Jaeger (the simulator sends one llm_request span per request).

  Prometheus      http://127.0.0.1:$PROM_PORT/graph?g0.expr=vllm:num_requests_running
  Alertmanager    http://127.0.0.1:$AM_PORT/#/alerts
  Jaeger          $JAEGER_URL/   traces: $JAEGER_URL/api/traces/{id}, links $JAEGER_URL/trace/{id}
                  (built without the UI assets: its web pages are a placeholder; the API and the /trace/{id} links answer)
  sentinel        http://127.0.0.1:$SENTINEL_PORT/   and /metrics
  alerts          amtool --alertmanager.url=http://127.0.0.1:$AM_PORT alert query
  logs            $DIR/*.log

  Ctrl-C stops everything.

TXT

# firing prints the alerts Alertmanager holds that match its matchers.
firing() { amtool --alertmanager.url="http://127.0.0.1:$AM_PORT" alert query "$@" 2>/dev/null | tail -n +2; }
# annotation NAME prints the value of label or annotation NAME of the alert
# line amtool -o extended wrote on stdin.
annotation() { { grep -o "\b$1=\"[^\"]*\"" || true; } | sed -n "1{s/^$1=\"//; s/\"\$//; p}"; }
# explain prints the cause and example traces of the alerts that match its
# matchers, as Alertmanager holds them, each trace checked against Jaeger's
# API; it fails while some alert has no trace links yet.
explain() {
  local line model cause url id all=0
  while IFS= read -r line; do
    model=$(annotation model_name <<<"$line")
    cause=$(annotation cause <<<"$line")
    echo "           $(annotation alertname <<<"$line") for ${model:-?}: cause ${cause:-(none)}: $(annotation cause_detail <<<"$line")"
    if [ -z "$(annotation example_trace_urls <<<"$line")" ]; then
      echo "             traces: $(annotation traces <<<"$line" | grep . || echo none yet)"
      all=1
      continue
    fi
    for url in $(annotation example_trace_urls <<<"$line"); do
      id=${url##*/}
      if curl -sf -o /dev/null "$JAEGER_URL/api/traces/$id"; then
        echo "             trace $url   (in Jaeger: $JAEGER_URL/api/traces/$id)"
      else
        echo "             trace $url   (Jaeger does not find it)"
      fi
    done
  done < <(amtool --alertmanager.url="http://127.0.0.1:$AM_PORT" alert query -o extended "$@" 2>/dev/null | tail -n +2)
  return $all
}
began=$(date +%s)
warned=0 paged=0 traced=0 last=0
deadline=$(( began + ${DEMO_SECONDS:-0} ))
while :; do
  sleep 2
  t=$(date +%s)
  if [ "$warned" = 0 ] && [ -n "$(firing severity=warning alertname!=SLOBurnRate alertname!~'Sentinel.*')" ]; then
    warned=$t
    echo "[$(date +%T)] first warning in Alertmanager, +$((t - began))s: $(firing severity=warning alertname!=SLOBurnRate alertname!~'Sentinel.*' | awk '{print $1}' | sort -u | xargs)"
    explain severity=warning alertname!=SLOBurnRate alertname!~'Sentinel.*' || true
  fi
  if [ "$paged" = 0 ] && [ -n "$(firing alertname=SLOBurnRate severity=critical)" ]; then
    paged=$t
    echo "[$(date +%T)] first page in Alertmanager, +$((t - began))s"
    if [ "$warned" != 0 ]; then
      echo "           the warning came $((paged - warned))s before the page"
    else
      echo "           no warning reached Alertmanager before the page"
    fi
    explain alertname=SLOBurnRate severity=critical && traced=$t
  elif [ "$paged" != 0 ] && [ "$traced" = 0 ] && explained=$(explain alertname=SLOBurnRate severity=critical); then
    traced=$t
    echo "[$(date +%T)] trace links reached the page, +$((t - began))s"
    echo "$explained"
  fi
  if [ -n "$build_pid" ] && ! kill -0 "$build_pid" 2>/dev/null; then
    if wait "$build_pid" && [ -x "$jaeger_bin" ]; then
      echo "[$(date +%T)] Jaeger is built ($jaeger_bin)"
      start_jaeger
    else
      echo "[$(date +%T)] building Jaeger failed (see $DIR/jaeger-build.log): pages keep saying traces: unavailable"
    fi
    build_pid=
    rm -rf "$DIR/go-tmp"
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
