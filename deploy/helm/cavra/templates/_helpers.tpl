{{- define "cavra.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "cavra.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "cavra.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cavra.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "cavra.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "cavra.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "cavra.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "cavra.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "cavra.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the database URL: the existing one, else the one ExternalSecret fills. */}}
{{- define "cavra.databaseSecret" -}}
{{- if .Values.database.existingSecret -}}
{{- .Values.database.existingSecret -}}
{{- else if .Values.externalSecrets.enabled -}}
{{- printf "%s-database" (include "cavra.fullname" .) -}}
{{- else -}}
{{- fail "database.existingSecret: name the Secret holding the PostgreSQL URL (or enable externalSecrets)" -}}
{{- end -}}
{{- end -}}

{{- define "cavra.signingKeySecret" -}}
{{- if .Values.signingKey.existingSecret -}}
{{- .Values.signingKey.existingSecret -}}
{{- else if .Values.externalSecrets.enabled -}}
{{- printf "%s-signing-key" (include "cavra.fullname" .) -}}
{{- else -}}
{{- fail "signingKey.existingSecret: name the Secret holding the checkpoint signing key (or enable externalSecrets)" -}}
{{- end -}}
{{- end -}}

{{/* cavra serve's configuration file: what the values set, then `config` merged over it. */}}
{{- define "cavra.config" -}}
{{- $c := dict "listen" (printf "0.0.0.0:%d" (int .Values.service.port)) -}}
{{- with .Values.oidc -}}
{{- if .issuer -}}
{{- $o := dict "issuer" .issuer "audiences" .audiences "jwks" .jwks "tenant_claim" .tenantClaim "roles_claim" .rolesClaim "groups_claim" .groupsClaim "subject_claim" .subjectClaim -}}
{{- if .tenant -}}{{- $_ := set $o "tenant" .tenant -}}{{- end -}}
{{- if .roleMap -}}{{- $_ := set $o "role_map" .roleMap -}}{{- end -}}
{{- $_ := set $c "oidc" $o -}}
{{- end -}}
{{- end -}}
{{- toYaml (mergeOverwrite $c .Values.config) -}}
{{- end -}}

{{/* The database URL, from its Secret: every container of the chart reads it so. */}}
{{- define "cavra.databaseUrlEnv" -}}
- name: CAVRA_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "cavra.databaseSecret" . }}
      key: {{ .Values.database.urlKey }}
{{- end -}}

{{/* One NetworkPolicy egress rule per destination {cidrs, namespaces, podLabels, ports}. */}}
{{- define "cavra.egressRule" -}}
{{- if or .cidrs .namespaces .podLabels }}
- to:
  {{- range .cidrs }}
  - ipBlock:
      cidr: {{ . }}
  {{- end }}
  {{- range .namespaces }}
  - namespaceSelector:
      matchLabels:
        kubernetes.io/metadata.name: {{ . }}
    {{- with $.podLabels }}
    podSelector:
      matchLabels:
        {{- toYaml . | nindent 8 }}
    {{- end }}
  {{- end }}
  {{- if and .podLabels (not .namespaces) }}
  - podSelector:
      matchLabels:
        {{- toYaml .podLabels | nindent 8 }}
  {{- end }}
  ports:
  {{- range .ports }}
  - protocol: TCP
    port: {{ . }}
  {{- end }}
{{- end }}
{{- end -}}
