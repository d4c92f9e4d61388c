{{/* Common labels on every object. */}}
{{- define "egw.labels" -}}
app.kubernetes.io/name: egressgateway
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- with .Values.global.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "egw.annotations" -}}
{{- with .Values.global.commonAnnotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "egw.controllerSelector" -}}
app.kubernetes.io/name: egressgateway
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end -}}

{{- define "egw.agentSelector" -}}
app.kubernetes.io/name: egressgateway
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: agent
{{- end -}}

{{/* registry/repository:tag or @digest, honouring the global overrides. */}}
{{- define "egw.image" -}}
{{- $registry := .global.imageRegistryOverride | default .image.registry -}}
{{- $tag := .global.imageTagOverride | default .image.tag -}}
{{- if .image.digest -}}
{{ $registry }}/{{ .image.repository }}@{{ .image.digest }}
{{- else -}}
{{ $registry }}/{{ .image.repository }}:{{ $tag }}
{{- end -}}
{{- end -}}

{{/* Environment shared by the controller and the agents (upstream names). */}}
{{- define "egw.commonEnv" -}}
- name: POD_NAME
  valueFrom: {fieldRef: {fieldPath: metadata.name}}
- name: POD_NAMESPACE
  valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
- name: CONFIGMAP_PATH
  value: /tmp/config-map/conf.yml
- name: LOG_LEVEL
  value: {{ .debug.logLevel | quote }}
- name: LOG_ENCODER
  value: {{ .debug.logEncoder | quote }}
- name: LOG_WITH_CALLER
  value: {{ .debug.logWithCaller | quote }}
- name: LOG_USE_DEV_MODE
  value: {{ .debug.logUseDevMode | quote }}
- name: GOPS_PORT
  value: {{ .debug.gopsPort | quote }}
- name: PYROSCOPE_SERVER_ADDR
  value: {{ .debug.pyroscopeServerAddr | quote }}
- name: HEALTH_PROBE_BIND_ADDRESS
  value: {{ printf ":%v" .healthServer.port | quote }}
{{- if .prometheus.enabled }}
- name: METRICS_BIND_ADDRESS
  value: {{ printf ":%v" .prometheus.port | quote }}
{{- end }}
{{- end -}}

{{/* startup + readiness on /readyz, liveness on /healthz, as upstream. */}}
{{- define "egw.probes" -}}
startupProbe:
  httpGet: {path: /readyz, port: {{ .healthServer.port }}, scheme: HTTP}
  failureThreshold: {{ .healthServer.startupProbe.failureThreshold }}
  periodSeconds: {{ .healthServer.startupProbe.periodSeconds }}
  successThreshold: 1
livenessProbe:
  httpGet: {path: /healthz, port: {{ .healthServer.port }}, scheme: HTTP}
  initialDelaySeconds: 60
  periodSeconds: {{ .healthServer.livenessProbe.periodSeconds }}
  failureThreshold: {{ .healthServer.livenessProbe.failureThreshold }}
  timeoutSeconds: 5
readinessProbe:
  httpGet: {path: /readyz, port: {{ .healthServer.port }}, scheme: HTTP}
  initialDelaySeconds: 5
  periodSeconds: {{ .healthServer.readinessProbe.periodSeconds }}
  failureThreshold: {{ .healthServer.readinessProbe.failureThreshold }}
  timeoutSeconds: 5
{{- end -}}

{{/* The webhook certificate: provided, or generated once and then kept across upgrades. */}}
{{- define "egw.webhookCerts" -}}
{{- $ctl := .Values.controller -}}
{{- $svc := $ctl.name -}}
{{- $ns := .Release.Namespace -}}
{{- $dns := list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.%s" $svc $ns .Values.global.clusterDnsDomain) -}}
{{- if eq $ctl.tls.method "provided" -}}
{{- if not (and $ctl.tls.provided.tlsCert $ctl.tls.provided.tlsKey $ctl.tls.provided.tlsCa) -}}
{{- fail "controller.tls.method=provided needs controller.tls.provided.tlsCert, tlsKey and tlsCa (base64 PEM)" -}}
{{- end -}}
{{- dict "cert" $ctl.tls.provided.tlsCert "key" $ctl.tls.provided.tlsKey "ca" $ctl.tls.provided.tlsCa | toJson -}}
{{- else -}}
{{- $existing := lookup "v1" "Secret" $ns $ctl.tls.secretName -}}
{{- if and $existing (index $existing.data "ca.crt") -}}
{{- dict "cert" (index $existing.data "tls.crt") "key" (index $existing.data "tls.key") "ca" (index $existing.data "ca.crt") | toJson -}}
{{- else -}}
{{- $ca := genCA "egressgateway-webhook-ca" (int $ctl.tls.auto.caExpiration) -}}
{{- $cert := genSignedCert $svc $ctl.tls.auto.extraIpAddresses (concat $dns $ctl.tls.auto.extraDnsNames) (int $ctl.tls.auto.certExpiration) $ca -}}
{{- dict "cert" ($cert.Cert | b64enc) "key" ($cert.Key | b64enc) "ca" ($ca.Cert | b64enc) | toJson -}}
{{- end -}}
{{- end -}}
{{- end -}}
