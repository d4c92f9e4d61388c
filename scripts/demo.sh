#!/usr/bin/env bash
# The main job: bring the lab cluster up, install our chart with helm as the seed README
# does, apply the seed's EgressGateway and EgressPolicy, and show what happens.
# A visitor pod on the control-plane node (not a gateway node) reaches the external server,
# which answers with the source address it saw: the EIP. The script fails if it is not.
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
# The visitor runs on the control-plane node, which is not a gateway node. The seed uses nginx;
# the lab pulls nothing and runs only the images we built, so the visitor is our nettools image.
if ! $lab kubectl get deployment visitor >/dev/null 2>&1; then
  $lab kubectl create deployment visitor --image "$(bash scripts/images.sh ref nettools)"
  $lab kubectl patch deployment visitor --type merge -p \
    '{"spec":{"template":{"spec":{"nodeSelector":{"kubernetes.io/hostname":"egressgateway-control-plane"}}}}}'
fi
$lab kubectl rollout status deployment visitor --timeout 60s
log "waiting for the policy to be placed on a gateway node"
for _ in $(seq 1 120); do
  node=$($lab kubectl get egp test -o jsonpath='{.status.node}')
  [ -n "$node" ] && break
  sleep 0.5
done
[ -n "$node" ] || die "policy test was not placed on a gateway node within 60 s"
$lab kubectl get egw,egp,egt -A
eip=$($lab kubectl get egp test -o jsonpath='{.status.eip.ipv4}')
pod=$($lab kubectl get pods -l app=visitor -o jsonpath='{.items[0].metadata.name}')
log "from $pod on egressgateway-control-plane: curl 10.6.1.92:8080 (the policy leaves through $node)"
answer=""
for _ in $(seq 1 20); do
  answer=$($lab exec "$pod" -- curl -sS -m 3 10.6.1.92:8080 || true)
  [ "$answer" = "Remote IP: $eip" ] && break
  sleep 0.5
done
echo "$answer"
[ "$answer" = "Remote IP: $eip" ] || die "expected 'Remote IP: $eip' from the external server, got '$answer'"
cat <<MSG

What you see:
  - the chart installed with helm --wait: controller (webhook) and one agent per node;
  - the webhook defaulted the gateway's ipv4DefaultEIP ($eip, as in the seed);
  - the agents brought up their tunnels (kubectl get egt: Ready) and the controller placed
    policy "test" on gateway node $node;
  - the visitor pod on the control-plane node, which is not a gateway node, reached the
    external server through the VXLAN tunnel to $node, which SNATed it to the EIP:
    the server saw "Remote IP: $eip".
Explore: lab/bin/lab kubectl …, lab/bin/lab exec $pod -- …,
  ip netns exec egwlab-$node nft list table inet egressgateway
Stop: lab/bin/lab down
MSG
