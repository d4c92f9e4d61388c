#!/usr/bin/env bash
# The main job: bring the lab up and show the product working.
# Today the datapath does not exist yet, so it stops after the control plane is up and says
# how to reach it (see README "Status").
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$REPO_ROOT"

bash scripts/setup.sh
lab/bin/lab up
lab/bin/lab status
lab/bin/lab kubectl get --raw /version
cat <<MSG

The lab control plane is up. Reach it with:
  lab/bin/lab kubectl get namespaces
  lab/bin/lab helm list -A
  export KUBECONFIG=$(lab/bin/lab status | awk '/^kubeconfig/{print \$2}')
Stop it with: lab/bin/lab down
MSG
