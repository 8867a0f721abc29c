{{/*
Chart name, truncated to the 63 characters Kubernetes names allow.
*/}}
{{- define "ark-broker.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full resource name: <release>-<chart>, or the release name when it already contains the chart name.
*/}}
{{- define "ark-broker.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "ark-broker.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ark-broker.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ark-broker.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ark-broker.labels" -}}
helm.sh/chart: {{ include "ark-broker.chart" . }}
{{ include "ark-broker.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "ark-broker.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) }}
{{- end }}

{{/*
The Secret holding DATABASE_URL: the user's existing one, or the one this chart creates.
*/}}
{{- define "ark-broker.databaseSecretName" -}}
{{- if .Values.database.existingSecret }}
{{- .Values.database.existingSecret }}
{{- else }}
{{- printf "%s-database" (include "ark-broker.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "ark-broker.databaseSecretKey" -}}
{{- if .Values.database.existingSecret }}
{{- .Values.database.existingSecretKey | default "DATABASE_URL" }}
{{- else }}
{{- "DATABASE_URL" }}
{{- end }}
{{- end }}

{{/*
Fails the render unless a database is configured: the broker's embedded PostgreSQL is not for pods.
*/}}
{{- define "ark-broker.validateDatabase" -}}
{{- if not .Values.database.existingSecret }}
{{- if not .Values.database.url }}
{{- fail "ark-broker: set database.existingSecret (a Secret holding the postgres:// URL) or database.url" }}
{{- end }}
{{- if not (regexMatch "^postgres(ql)?://" .Values.database.url) }}
{{- fail "ark-broker: database.url must be a postgres:// or postgresql:// URL" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
A config value as an environment variable string. Helm reads unquoted numbers as float64, which
would print 10485760 as 1.048576e+07; whole floats are printed as integers.
*/}}
{{- define "ark-broker.envValue" -}}
{{- if and (kindIs "float64" .) (eq (float64 (int64 .)) .) }}
{{- int64 . | toString }}
{{- else }}
{{- toString . }}
{{- end }}
{{- end }}
