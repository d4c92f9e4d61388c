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

{{/*
The image of one component ("agent" or "controller"; the cleanup Job runs the controller's):
[registry/]repository@digest, else [registry/]repository:tag, where registry is
global.imageRegistryOverride or <component>.image.registry, and tag is
global.imageTagOverride, else <component>.image.tag, else the chart's appVersion (the
package version the images are built with). Refuses upstream's images first.
Call: include "egw.image" (dict "root" $ "component" "agent")
*/}}
{{- define "egw.image" -}}
{{- include "egw.refuseUpstreamImages" .root -}}
{{- $image := index .root.Values .component "image" -}}
{{- $registry := .root.Values.global.imageRegistryOverride | default $image.registry -}}
{{- $name := $image.repository -}}
{{- if $registry -}}
{{- $name = printf "%s/%s" (trimSuffix "/" $registry) $image.repository -}}
{{- end -}}
{{- if $image.digest -}}
{{ $name }}@{{ $image.digest }}
{{- else -}}
{{ $name }}:{{ .root.Values.global.imageTagOverride | default $image.tag | default .root.Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{/* This project's repositories (the defaults in values.yaml). */}}
{{- define "egw.ownRepositories" -}}
{{- dict "agent" "egressgateway-ts/egressgateway-agent" "controller" "egressgateway-ts/egressgateway-controller" | toJson -}}
{{- end -}}

{{/*
Upstream's values.yaml, passed whole with -f, names upstream's Go images
(spidernet-io/egressgateway-agent, -controller, tag v0.6.x): this chart cannot run them, so
rendering fails instead of installing them. Trigger: agent.image.repository or
controller.image.repository has a path segment "spidernet-io" (spidernet-io/..., or a
mirror's .../spidernet-io/...). The message names every key to drop: the repository, and
the tag and digest when they are set.
*/}}
{{- define "egw.refuseUpstreamImages" -}}
{{- $own := include "egw.ownRepositories" . | fromJson -}}
{{- $found := list -}}
{{- $drop := list -}}
{{- $ours := list -}}
{{- range $c := list "agent" "controller" -}}
{{- $image := index $.Values $c "image" -}}
{{- $repo := $image.repository | default "" | toString -}}
{{- if regexMatch "(^|/)spidernet-io/" $repo -}}
{{- $found = append $found (printf "%s.image.repository is %q" $c $repo) -}}
{{- $drop = append $drop (printf "%s.image.repository" $c) -}}
{{- if $image.tag -}}
{{- $drop = append $drop (printf "%s.image.tag" $c) -}}
{{- end -}}
{{- if $image.digest -}}
{{- $drop = append $drop (printf "%s.image.digest" $c) -}}
{{- end -}}
{{- $ours = append $ours (index $own $c) -}}
{{- end -}}
{{- end -}}
{{- if $found -}}
{{- $and := dict -}}
{{- range $k, $l := dict "found" $found "drop" $drop "ours" $ours -}}
{{- if gt (len $l) 1 -}}
{{- $_ := set $and $k (printf "%s and %s" (initial $l | join ", ") (last $l)) -}}
{{- else -}}
{{- $_ := set $and $k (first $l) -}}
{{- end -}}
{{- end -}}
{{- $s := ternary "s" "" (gt (len $found) 1) -}}
{{- fail (printf "%s, upstream's Go image%s, which this chart cannot run: drop %s from your values (or set them to this project's image%s: %s, tag %s)" $and.found $s $and.drop $s $and.ours .Chart.AppVersion) -}}
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
