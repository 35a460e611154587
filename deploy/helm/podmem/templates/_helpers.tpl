{{/* The objects' name: the release's, or <release>-podmem when the release says otherwise. */}}
{{- define "podmem.fullname" -}}
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

{{/* Selects podmem's pods. app.kubernetes.io/name stays "podmem": the rules' job="podmem". */}}
{{- define "podmem.selectorLabels" -}}
app.kubernetes.io/name: {{ default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: bot
{{- end -}}

{{- define "podmem.labels" -}}
{{ include "podmem.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "podmem.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* The Secret the pod reads its tokens from. */}}
{{- define "podmem.secretName" -}}
{{- default (printf "%s-slack" (include "podmem.fullname" .)) .Values.secret.existingSecret -}}
{{- end -}}

{{/* Whether the chart creates that Secret: inline credentials and no existing Secret. */}}
{{- define "podmem.inlineSecret" -}}
{{- if not .Values.secret.existingSecret -}}
{{- range $key, $value := omit .Values.secret "existingSecret" -}}
{{- if $value -}}yes{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* A setting's environment variable: the Slack tokens keep the names every Slack tool uses
(bot/settings env_name); everything else is PODMEM_<KEY>. */}}
{{- define "podmem.envName" -}}
{{- if hasPrefix "slack_" . -}}{{ upper . }}{{- else -}}{{ printf "PODMEM_%s" (upper .) }}{{- end -}}
{{- end -}}

{{/* The settings as PODMEM_* variables: strings as they are, everything else (numbers,
booleans, routes, access rules, headers) as JSON, which is how podmem reads lists and maps
from the environment. JSON also keeps 268435456 an integer where Go would print 2.68e+08. */}}
{{- define "podmem.settingsEnv" -}}
{{- range $key, $value := .Values.config }}
{{- if not (kindIs "invalid" $value) }}
{{ printf "PODMEM_%s" (upper $key) }}: {{ ternary $value (toJson $value) (kindIs "string" $value) | quote }}
{{- end }}
{{- end }}
{{- if .Values.ha.enabled }}
PODMEM_LEADER_ELECTION: "true"
PODMEM_STATE_BACKEND: kubernetes
{{- else }}
PODMEM_LEADER_ELECTION: "false"
PODMEM_STATE_BACKEND: sqlite
{{- end }}
PODMEM_STATE_PATH: /var/lib/podmem/state.db
{{- end -}}

{{/* RBAC pins podmem's Lease and state ConfigMap by name: the settings' names, whose
defaults (bot/settings) a test keeps equal to these. */}}
{{- define "podmem.leaseName" -}}
{{- .Values.config.lease_name | default "podmem-leader" -}}
{{- end -}}
{{- define "podmem.stateConfigMap" -}}
{{- .Values.config.state_configmap | default "podmem-state" -}}
{{- end -}}

{{/*
The port of the probes and /metrics: their own with config.metrics_port, else the one port.
*/}}
{{- define "podmem.probePort" -}}
{{- if .Values.config.metrics_port -}}metrics{{- else -}}http{{- end -}}
{{- end }}
