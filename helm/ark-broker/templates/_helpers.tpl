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
The Secret holding DATABASE_URL: the user's existing one, or the one this chart creates (from
database.url or for the bundled PostgreSQL).
*/}}
{{- define "ark-broker.databaseSecretName" -}}
{{- if .Values.database.existingSecret }}
{{- .Values.database.existingSecret }}
{{- else if .Values.postgresql.enabled }}
{{- include "ark-broker.postgresqlName" . }}
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

{{- define "ark-broker.postgresqlName" -}}
{{- printf "%s-postgresql" (include "ark-broker.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The bundled PostgreSQL's password: the value given, else the one already stored in its Secret (so an
upgrade keeps it), else a new random one.
*/}}
{{- define "ark-broker.postgresqlPassword" -}}
{{- if .Values.postgresql.password }}
{{- .Values.postgresql.password }}
{{- else }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "ark-broker.postgresqlName" .) }}
{{- if and $existing $existing.data (index $existing.data "POSTGRES_PASSWORD") }}
{{- index $existing.data "POSTGRES_PASSWORD" | b64dec }}
{{- else }}
{{- randAlphaNum 32 }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Fails the render unless exactly one database option is set: the broker's embedded PostgreSQL is not
for pods, and two options would leave it unclear which one the pods use.
*/}}
{{- define "ark-broker.validateDatabase" -}}
{{- $options := 0 }}
{{- if .Values.database.existingSecret }}{{ $options = add1 $options }}{{ end }}
{{- if .Values.database.url }}{{ $options = add1 $options }}{{ end }}
{{- if .Values.postgresql.enabled }}{{ $options = add1 $options }}{{ end }}
{{- if eq $options 0 }}
{{- fail "ark-broker: set database.existingSecret (a Secret holding the postgres:// URL), database.url, or postgresql.enabled=true (trials)" }}
{{- end }}
{{- if gt $options 1 }}
{{- fail "ark-broker: set only one of database.existingSecret, database.url and postgresql.enabled" }}
{{- end }}
{{- if and .Values.database.url (not (regexMatch "^postgres(ql)?://" .Values.database.url)) }}
{{- fail "ark-broker: database.url must be a postgres:// or postgresql:// URL" }}
{{- end }}
{{- if not (has .Values.migrations.mode (list "startup" "job")) }}
{{- fail "ark-broker: migrations.mode must be startup or job" }}
{{- end }}
{{- if and (eq .Values.migrations.mode "job") .Values.postgresql.enabled }}
{{- fail "ark-broker: migrations.mode=job needs a database that exists before install (pre-install hooks run before the bundled PostgreSQL); use migrations.mode=startup with postgresql.enabled" }}
{{- end }}
{{- if not (has .Values.auth.mode (list "none" "jwt" "header")) }}
{{- fail "ark-broker: auth.mode must be none, jwt or header" }}
{{- end }}
{{- if and (eq .Values.auth.mode "jwt") (not (or .Values.auth.jwtSecret .Values.auth.existingSecret .Values.auth.jwksUrl)) }}
{{- fail "ark-broker: auth.mode=jwt needs auth.existingSecret (with AUTH_JWT_SECRET), auth.jwtSecret or auth.jwksUrl" }}
{{- end }}
{{- end }}

{{- define "ark-broker.authSecretName" -}}
{{- if .Values.auth.existingSecret }}
{{- .Values.auth.existingSecret }}
{{- else if .Values.auth.jwtSecret }}
{{- printf "%s-auth" (include "ark-broker.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/*
The name of the Memory resource: `default` (what queries use when they name none) or the full name.
*/}}
{{- define "ark-broker.memoryName" -}}
{{- if .Values.ark.memory.setAsDefault }}default{{ else }}{{ include "ark-broker.fullname" . }}{{ end }}
{{- end }}

{{/*
The ark-config-* ConfigMaps' serviceRef: the Service by name and port name, as upstream's chart.
*/}}
{{- define "ark-broker.arkServiceRef" -}}
name: {{ include "ark-broker.fullname" . }}
namespace: {{ .Release.Namespace }}
port: "http"
{{- end }}

{{/*
The broker's environment, shared by the Deployment and the migration Job.
*/}}
{{- define "ark-broker.env" -}}
- name: HOST
  value: "0.0.0.0"
- name: PORT
  value: {{ include "ark-broker.envValue" .Values.containerPort | quote }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "ark-broker.databaseSecretName" . }}
      key: {{ include "ark-broker.databaseSecretKey" . }}
- name: MIGRATE_ON_START
  value: {{ eq .Values.migrations.mode "startup" | quote }}
- name: SHUTDOWN_GRACE_MS
  value: {{ mul (int .Values.shutdownGraceSeconds) 1000 | quote }}
- name: AUTH_MODE
  value: {{ .Values.auth.mode | quote }}
{{- with .Values.auth }}
{{- if ne .mode "none" }}
{{- if .jwksUrl }}
- name: AUTH_JWKS_URL
  value: {{ .jwksUrl | quote }}
{{- end }}
{{- if .jwtIssuer }}
- name: AUTH_JWT_ISSUER
  value: {{ .jwtIssuer | quote }}
{{- end }}
{{- if .jwtAudience }}
- name: AUTH_JWT_AUDIENCE
  value: {{ .jwtAudience | quote }}
{{- end }}
- name: AUTH_TENANT_CLAIM
  value: {{ .tenantClaim | quote }}
- name: AUTH_USER_CLAIM
  value: {{ .userClaim | quote }}
- name: AUTH_ROLES_CLAIM
  value: {{ .rolesClaim | quote }}
{{- if .trustedProxies }}
- name: AUTH_TRUSTED_PROXIES
  value: {{ .trustedProxies | quote }}
{{- end }}
{{- if .trustedNetworks }}
- name: AUTH_TRUSTED_NETWORKS
  value: {{ .trustedNetworks | quote }}
{{- end }}
{{- if .serviceAccounts }}
- name: AUTH_K8S_SERVICE_ACCOUNTS
  value: {{ .serviceAccounts | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- if .Values.tracing.otlpEndpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ .Values.tracing.otlpEndpoint | quote }}
- name: OTEL_SERVICE_NAME
  value: {{ .Values.tracing.serviceName | quote }}
{{- end }}
{{- range $name, $value := .Values.config }}
{{- if and (not (kindIs "invalid" $value)) (ne (toString $value) "") (not (has $name (list "HOST" "PORT" "DATABASE_URL" "MIGRATE_ON_START" "AUTH_MODE" "SHUTDOWN_GRACE_MS"))) }}
- name: {{ $name }}
  value: {{ include "ark-broker.envValue" $value | quote }}
{{- end }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
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
