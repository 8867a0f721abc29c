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

{{/*
commonAnnotations (upstream: global.annotations) on every object's metadata, then `extra`.
Usage: include "ark-broker.annotations" (dict "root" . "extra" $someMap)
*/}}
{{- define "ark-broker.annotations" -}}
{{- $all := merge (deepCopy (.extra | default dict)) (deepCopy (.root.Values.commonAnnotations | default dict)) }}
{{- with $all }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{- define "ark-broker.labels" -}}
helm.sh/chart: {{ include "ark-broker.chart" . }}
{{ include "ark-broker.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
registry/repository, then @digest when set (it pins the image; the tag is then informational), else :tag.
*/}}
{{- define "ark-broker.image" -}}
{{- $repository := .Values.image.repository }}
{{- if .Values.image.registry }}{{ $repository = printf "%s/%s" (trimSuffix "/" .Values.image.registry) $repository }}{{ end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repository (default .Chart.AppVersion .Values.image.tag | toString) }}
{{- end }}
{{- end }}

{{- define "ark-broker.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ark-broker.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Upstream ark-broker 0.1.x value names. Those that mean the same here are copied onto this chart's
names (in place, idempotently: every template includes this first); those with no counterpart fail
the render with the name to use instead, so nothing an operator set is ignored silently.
*/}}
{{- define "ark-broker.upstreamValues" -}}
{{- $v := .Values }}
{{- with $v.app }}
{{- with .image }}
{{- range $key := list "repository" "tag" "pullPolicy" }}
{{- if index $.Values.app.image $key }}{{ $_ := set $v.image $key (index $.Values.app.image $key) }}{{ end }}
{{- end }}
{{- end }}
{{- with .resources }}{{ $_ := set $v "resources" . }}{{ end }}
{{- if and .name (ne .name "ark-broker") }}{{ fail "ark-broker: app.name (upstream) is fullnameOverride here" }}{{ end }}
{{- end }}
{{- with $v.database }}
{{- with .urlSecretRef }}
{{- if .name }}
{{- $_ := set $v.database "existingSecret" .name }}
{{- $_ := set $v.database "existingSecretKey" (default "database-url" .key) }}
{{- end }}
{{- end }}
{{- if .poolMax }}{{ $_ := set $v.config "DATABASE_POOL_SIZE" .poolMax }}{{ end }}
{{- if .messageVisibilityTtlSeconds }}{{ $_ := set $v.config "MESSAGE_VISIBILITY_TTL_SECONDS" .messageVisibilityTtlSeconds }}{{ end }}
{{- if .eventVisibilityTtlSeconds }}{{ $_ := set $v.config "EVENT_VISIBILITY_TTL_SECONDS" .eventVisibilityTtlSeconds }}{{ end }}
{{- if .migrateUrl }}{{ fail "ark-broker: database.migrateUrl (upstream) is migrations.existingSecret here (a Secret with the migration URL; migrations.mode=job or auto)" }}{{ end }}
{{- if or .connectTimeoutMs .statementTimeoutMs .debugQueries }}{{ fail "ark-broker: database.connectTimeoutMs, statementTimeoutMs and debugQueries (upstream) have no counterpart: remove them (the broker's settings are under config:)" }}{{ end }}
{{- end }}
{{- with $v.memory }}
{{- if hasKey . "createMemoryCRD" }}{{ $_ := set $v.ark.memory "enabled" .createMemoryCRD }}{{ end }}
{{- if hasKey . "setAsDefault" }}{{ $_ := set $v.ark.memory "setAsDefault" .setAsDefault }}{{ end }}
{{- if .port }}{{ $_ := set $v "containerPort" .port }}{{ end }}
{{- end }}
{{- with $v.streaming }}
{{- if hasKey . "enabled" }}{{ $_ := set $v.ark.streamingConfig "enabled" .enabled }}{{ end }}
{{- end }}
{{- with $v.otelEndpoint }}
{{- if hasKey . "enabled" }}{{ $_ := set $v.ark.brokerConfig "enabled" .enabled }}{{ end }}
{{- end }}
{{- with $v.backends }}
{{- range $kind, $backend := . }}
{{- if ne (toString $backend) "postgres" }}
{{- fail (printf "ark-broker: backends.%s=%s (upstream): this broker keeps messages, events and chunks in PostgreSQL (database.*); remove backends" $kind (toString $backend)) }}
{{- end }}
{{- end }}
{{- end }}
{{- if $v.redis }}{{ if or $v.redis.url (and $v.redis.urlSecretRef $v.redis.urlSecretRef.name) }}{{ fail "ark-broker: redis (upstream): chunks are stored in PostgreSQL here; remove redis" }}{{ end }}{{ end }}
{{- if and $v.persistence $v.persistence.enabled }}{{ fail "ark-broker: persistence (upstream's JSON files) has no counterpart: the data is in PostgreSQL (database.*, or postgresql.persistence for the bundled trial database)" }}{{ end }}
{{- with $v.limits }}{{ range $key, $limit := . }}{{ if $limit }}{{ fail (printf "ark-broker: limits.%s (upstream's in-memory store caps) has no counterpart: the data is in PostgreSQL; remove limits" $key) }}{{ end }}{{ end }}{{ end }}
{{- if and $v.migrate $v.migrate.image }}{{ if $v.migrate.image.repository }}{{ fail "ark-broker: migrate.image (upstream) has no counterpart: migrations run from the broker's own image (image.*, migrations.mode)" }}{{ end }}{{ end }}
{{- if and $v.server (hasKey $v.server "requestTimeout") (ne (toString $v.server.requestTimeout) "0") }}{{ fail "ark-broker: server.requestTimeout (upstream) has no counterpart: the broker sets no request timeout (watches and chunk uploads are long)" }}{{ end }}
{{- if and $v.restartController $v.restartController.enabled }}{{ fail "ark-broker: restartController (upstream) is not done by this chart (it needs no RBAC in the controller's namespace): set restartController.enabled=false and restart ark-controller after the first install (see NOTES)" }}{{ end }}
{{- with $v.global }}{{ with .annotations }}{{ $_ := set $v "commonAnnotations" (merge (deepCopy .) ($v.commonAnnotations | default dict)) }}{{ end }}{{ end }}
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
{{- define "ark-broker.validate" -}}
{{- include "ark-broker.upstreamValues" . }}
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
{{- if not (has .Values.migrations.mode (list "auto" "startup" "job")) }}
{{- fail "ark-broker: migrations.mode must be auto, startup or job" }}
{{- end }}
{{- if and .Values.database.tls.enabled (not .Values.database.tls.secretName) }}
{{- fail "ark-broker: database.tls.enabled needs database.tls.secretName (a Secret with ca.crt)" }}
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
  value: {{ ne .Values.migrations.mode "job" | quote }}
{{- if and (ne .Values.migrations.mode "job") .Values.migrations.existingSecret }}
# Start-up migration logs in as the owner; DATABASE_URL may then be a login that only serves.
- name: MIGRATE_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.migrations.existingSecret }}
      key: {{ .Values.migrations.existingSecretKey | default "DATABASE_URL" }}
{{- end }}
{{- if ne .Values.migrations.mode "job" }}
# Start-up migration gives up (with an error naming `ark-broker migrate`) before the start-up probe
# would kill the pod: the probe's whole window less 20 s for the rest of start-up, at least 10 s.
- name: MIGRATE_ON_START_TIMEOUT_MS
  value: {{ include "ark-broker.migrateOnStartTimeoutMs" . | quote }}
{{- end }}
{{- with (include "ark-broker.nodeOptions" .) }}
- name: NODE_OPTIONS
  value: {{ . | quote }}
{{- end }}
{{- if .Values.database.tls.enabled }}
- name: DATABASE_SSL_ROOT_CERT_PATH
  value: {{ printf "%s/%s" (trimSuffix "/" .Values.database.tls.mountPath) .Values.database.tls.caKey | quote }}
{{- end }}
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
{{- with .Values.tracing.sampler }}
- name: OTEL_TRACES_SAMPLER
  value: {{ . | quote }}
{{- end }}
{{- with .Values.tracing.samplerArg }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ . | toString | quote }}
{{- end }}
{{- with .Values.tracing.resourceAttributes }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- range $name, $value := .Values.config }}
{{- if and (not (kindIs "invalid" $value)) (ne (toString $value) "") (not (has $name (list "HOST" "PORT" "DATABASE_URL" "MIGRATE_DATABASE_URL" "MIGRATE_ON_START" "MIGRATE_ON_START_TIMEOUT_MS" "AUTH_MODE" "SHUTDOWN_GRACE_MS" "NODE_OPTIONS" "DATABASE_SSL_ROOT_CERT_PATH"))) }}
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

{{- define "ark-broker.migrateOnStartTimeoutMs" -}}
{{- $probe := .Values.startupProbe | default dict }}
{{- $window := mul (int (default 10 $probe.periodSeconds)) (int (default 3 $probe.failureThreshold)) }}
{{- mul (max 10 (sub $window 20)) 1000 }}
{{- end }}

{{/*
A Kubernetes memory quantity (512Mi, 1Gi, 1G, 536870912) in MiB, rounded down.
*/}}
{{- define "ark-broker.memoryMiB" -}}
{{- $q := toString . }}
{{- $units := dict "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "k" 1000.0 "K" 1000.0 "M" 1000000.0 "G" 1000000000.0 "T" 1000000000000.0 }}
{{- $bytes := 0.0 }}
{{- $matched := false }}
{{- range $suffix := list "Ki" "Mi" "Gi" "Ti" "k" "K" "M" "G" "T" }}
{{- if and (not $matched) (hasSuffix $suffix $q) }}
{{- $bytes = mulf (trimSuffix $suffix $q | float64) (index $units $suffix) }}
{{- $matched = true }}
{{- end }}
{{- end }}
{{- if not $matched }}{{ $bytes = $q | float64 }}{{ end }}
{{- divf $bytes 1048576.0 | floor | int64 }}
{{- end }}

{{/*
NODE_OPTIONS: V8's old space capped at nodeOptions.heapPercentOfMemoryLimit of the container's
memory limit (Node sizes it from the host's memory otherwise, and the pod is OOM-killed before V8
collects), then nodeOptions.extra.
*/}}
{{- define "ark-broker.nodeOptions" -}}
{{- $options := list }}
{{- $limit := "" }}
{{- if and .Values.resources .Values.resources.limits .Values.resources.limits.memory }}{{ $limit = .Values.resources.limits.memory }}{{ end }}
{{- if and $limit .Values.nodeOptions.heapPercentOfMemoryLimit }}
{{- $mib := include "ark-broker.memoryMiB" $limit | int64 }}
{{- $options = append $options (printf "--max-old-space-size=%d" (div (mul $mib (int64 .Values.nodeOptions.heapPercentOfMemoryLimit)) 100)) }}
{{- end }}
{{- with .Values.nodeOptions.extra }}{{ $options = append $options . }}{{ end }}
{{- join " " $options }}
{{- end }}

{{/*
Volumes and mounts shared by the broker and the migration Job: the database CA, then extraVolumes.
*/}}
{{- define "ark-broker.volumeMounts" -}}
{{- if .Values.database.tls.enabled }}
- name: database-tls
  mountPath: {{ .Values.database.tls.mountPath }}
  readOnly: true
{{- end }}
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "ark-broker.volumes" -}}
{{- if .Values.database.tls.enabled }}
- name: database-tls
  secret:
    secretName: {{ .Values.database.tls.secretName }}
{{- end }}
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}
