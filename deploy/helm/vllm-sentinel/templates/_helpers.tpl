{{/* The chart name, or nameOverride. */}}
{{- define "vllm-sentinel.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The resource name: fullnameOverride, or the release name with the chart
name appended unless it already contains it.
*/}}
{{- define "vllm-sentinel.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "vllm-sentinel.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "vllm-sentinel.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vllm-sentinel.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "vllm-sentinel.labels" -}}
helm.sh/chart: {{ include "vllm-sentinel.chart" . }}
{{ include "vllm-sentinel.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "vllm-sentinel.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The Secret mounted at /etc/vllm-sentinel/secrets, or "" for none. */}}
{{- define "vllm-sentinel.secretName" -}}
{{- if .Values.existingSecret -}}
{{- .Values.existingSecret -}}
{{- else if .Values.secrets -}}
{{- include "vllm-sentinel.fullname" . -}}
{{- end -}}
{{- end -}}

{{- define "vllm-sentinel.listenAddress" -}}
{{- printf ":%d" (int .Values.web.port) -}}
{{- end -}}

{{/*
The sentinel's config.yaml: values.config (a string of YAML, or a map) with
the settings the chart owns: state.path on the volume, the listen address
on every interface, and prometheusURL.
*/}}
{{- define "vllm-sentinel.config" -}}
{{- $cfg := .Values.config -}}
{{- if kindIs "string" $cfg -}}
{{- $cfg = fromYaml $cfg -}}
{{- if hasKey $cfg "Error" -}}
{{- fail (printf "config is not valid YAML: %s" (get $cfg "Error")) -}}
{{- end -}}
{{- else -}}
{{- $cfg = deepCopy (default (dict) $cfg) -}}
{{- end -}}
{{- if not (or (get $cfg "slos") (get $cfg "indicators")) -}}
{{- fail "config has no slos and no indicators: it would evaluate nothing" -}}
{{- end -}}
{{- if .Values.prometheusURL -}}
{{- $prom := get $cfg "prometheus" | default (dict) -}}
{{- $_ := set $prom "url" .Values.prometheusURL -}}
{{- $_ = set $cfg "prometheus" $prom -}}
{{- end -}}
{{- $state := get $cfg "state" | default (dict) -}}
{{- $_ := set $state "path" .Values.persistence.mountPath -}}
{{- $_ = set $cfg "state" $state -}}
{{- $web := get $cfg "web" | default (dict) -}}
{{- $_ = set $web "listen_address" (include "vllm-sentinel.listenAddress" .) -}}
{{- $_ = set $cfg "web" $web -}}
{{- toYaml $cfg -}}
{{- end -}}
