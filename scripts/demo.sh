#!/usr/bin/env bash
# The main job: bring the lab cluster up, install our chart with helm as the seed README
# does, apply the seed's EgressGateway and EgressPolicy, and show what happens.
# Today: the control plane, webhook and controller work (EIPs are allocated, statuses
# written); the agent datapath that makes traffic actually leave with the EIP is the next
# milestone, so the visitor pod still leaves with its node's address. The script says so
# rather than pretending.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$REPO_ROOT"

bash scripts/setup.sh
lab=lab/bin/lab
$lab up
log "installing the chart (the seed's command, our chart path)"
$lab helm upgrade --install egressgateway charts/egressgateway -n kube-system \
  --set feature.tunnelIpv4Subnet="192.200.0.1/16" --wait --timeout 180s
$lab kubectl label node egressgateway-worker egressgateway-worker2 egressgateway=true --overwrite
log "the seed's EgressGateway and EgressPolicy"
cat <<'EOF_GW' | $lab kubectl apply -f -
apiVersion: egressgateway.spidernet.io/v1beta1
kind: EgressGateway
metadata:
  name: default
spec:
  ippools:
    ipv4:
      - "172.22.0.100-172.22.0.110"
  nodeSelector:
    selector:
      matchLabels:
        egressgateway: "true"
EOF_GW
cat <<'EOF_POL' | $lab kubectl apply -f -
apiVersion: egressgateway.spidernet.io/v1beta1
kind: EgressPolicy
metadata:
  name: test
  namespace: default
spec:
  egressGatewayName: default
  appliedTo:
    podSelector:
      matchLabels:
        app: "visitor"
EOF_POL
# The visitor runs on the control-plane node, which is not a gateway node.
if ! $lab kubectl get deployment visitor >/dev/null 2>&1; then
  $lab kubectl create deployment visitor --image nginx
  $lab kubectl patch deployment visitor --type merge -p \
    '{"spec":{"template":{"spec":{"nodeSelector":{"kubernetes.io/hostname":"egressgateway-control-plane"}}}}}'
fi
$lab kubectl rollout status deployment visitor --timeout 60s
$lab kubectl get egw,egp,egt -A
$lab kubectl get egw default -o jsonpath='{.spec.ippools.ipv4DefaultEIP}{"\n"}'
pod=$($lab kubectl get pods -l app=visitor -o jsonpath='{.items[0].metadata.name}')
log "from $pod: curl 10.6.1.92:8080"
$lab exec "$pod" -- curl -sS -m 5 10.6.1.92:8080
cat <<MSG

What you see:
  - the chart installed with helm --wait: controller (webhook) and one agent per node;
  - the webhook defaulted the gateway's ipv4DefaultEIP (172.22.0.110, as in the seed);
  - the controller manages one EgressTunnel per node (kubectl get egt) and lists the gateway's
    nodes in its status; they stay Init because no agent reports a tunnel yet, so the EIP is
    not placed and policy "test" shows no node (as upstream shows an unplaced EIP);
  - the visitor still leaves with its node's address: the agent datapath (VXLAN to the
    gateway node, SNAT to the EIP, ARP for it) is the next milestone, not built yet.
Explore: lab/bin/lab kubectl …, lab/bin/lab exec $pod -- …, lab/bin/lab node off egressgateway-worker
Stop: lab/bin/lab down
MSG
