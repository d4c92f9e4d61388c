{{/*
Upstream values this chart's binaries cannot honour yet. A non-default value fails the
install (and upgrade) naming the key, why, and what to set, instead of being rendered and
silently ignored. The controller and the agents refuse the same values at start
(src/common/config.ts), for conf.yml written by hand. docs/values.md lists every value.
*/}}
{{- define "egw.refuseUnsupported" -}}
{{- $f := .Values.feature -}}
{{- $why := list -}}
{{- $notYet := "reply routing through the tunnel for underlay CNIs (Spiderpool) is not supported yet" -}}
{{- if $f.enableGatewayReplyRoute -}}
{{- $why = append $why (printf "feature.enableGatewayReplyRoute=true: %s; set it to false" $notYet) -}}
{{- end -}}
{{- if ne (int $f.gatewayReplyRouteTable) 600 -}}
{{- $why = append $why (printf "feature.gatewayReplyRouteTable=%v: only enableGatewayReplyRoute uses it and %s; leave it at 600" $f.gatewayReplyRouteTable $notYet) -}}
{{- end -}}
{{- if ne (int $f.gatewayReplyRouteMark) 39 -}}
{{- $why = append $why (printf "feature.gatewayReplyRouteMark=%v: only enableGatewayReplyRoute uses it and %s; leave it at 39" $f.gatewayReplyRouteMark $notYet) -}}
{{- end -}}
{{- range $c := list "agent" "controller" -}}
{{- $d := index $.Values $c "debug" -}}
{{- if not (has (toString $d.gopsPort) (list "0" "5812" "5824" "")) -}}
{{- $why = append $why (printf "%s.debug.gopsPort=%v: gops is a Go-only debugging agent this build does not have; set it to 0 (upstream's 5812 / 5824 are accepted and mean off)" $c $d.gopsPort) -}}
{{- end -}}
{{- if $d.pyroscopeServerAddr -}}
{{- $why = append $why (printf "%s.debug.pyroscopeServerAddr=%q: Pyroscope profiling is Go-only and not available in this build; set it to \"\"" $c $d.pyroscopeServerAddr) -}}
{{- end -}}
{{- end -}}
{{- if $why -}}
{{- fail (printf "values this chart refuses (docs/values.md): %s" (join "; " $why)) -}}
{{- end -}}
{{- end -}}
