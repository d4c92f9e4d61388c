// The lab's stand-in for Calico's Felix, in --cni calico mode (Calico's own agent has no Go
// module version to build it from). It does the one thing of Felix's that the egress gateway
// meets: natOutgoing, driven by Calico's API as on a real cluster — the FelixConfiguration
// "default" (chainInsertMode: the seed's `kubectl patch felixconfigurations default …
// Append` really moves the jump) and the IPPools (cidr, natOutgoing, disabled). Like Felix it
// reacts to changes at once and re-checks every node periodically, putting its jump back
// where the mode says if something moved it.
// usage: felix.ts --lab-dir DIR
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KubernetesObject } from '@kubernetes/client-node';
import { createLogger } from '../../../src/common/log.ts';
import { Informer } from '../../../src/k8s/informer.ts';
import { loadKubeConfig } from '../../../src/k8s/kubeconfig.ts';
import { readLabState } from '../lab-state.ts';
import { applyNatOutgoing, type NatOutgoingSpec } from '../net/nat-outgoing.ts';
import { CALICO_API } from './crds.ts';

const REFRESH_MS = 10_000;

interface FelixConfiguration extends KubernetesObject {
  spec?: { chainInsertMode?: unknown };
}
interface IPPool extends KubernetesObject {
  spec?: { cidr?: unknown; natOutgoing?: unknown; disabled?: unknown };
}

/** Pure: Calico's objects → what natOutgoing programs. Felix's defaults for what is unset. */
export function natSpecFrom(felix: FelixConfiguration | undefined, pools: IPPool[]): NatOutgoingSpec {
  const enabled = pools.filter((p) => p.spec?.disabled !== true && typeof p.spec?.cidr === 'string');
  const cidr = (p: IPPool) => p.spec!.cidr as string;
  return {
    mode: felix?.spec?.chainInsertMode === 'Append' ? 'append' : 'insert',
    pools: enabled.map(cidr).sort(),
    natPools: enabled
      .filter((p) => p.spec?.natOutgoing === true)
      .map(cidr)
      .sort(),
  };
}

async function main(): Promise<void> {
  const i = process.argv.indexOf('--lab-dir');
  const labDir = i >= 0 ? process.argv[i + 1] : undefined;
  if (!labDir) throw new Error('usage: felix.ts --lab-dir DIR');
  const log = createLogger('lab-felix');
  const kc = loadKubeConfig(join(labDir, 'control-plane', 'admin.kubeconfig'));
  const felixConfigs = new Informer<FelixConfiguration>(kc, {
    apiVersion: CALICO_API,
    kind: 'FelixConfiguration',
    path: `/apis/${CALICO_API}/felixconfigurations`,
    log,
  });
  const pools = new Informer<IPPool>(kc, {
    apiVersion: CALICO_API,
    kind: 'IPPool',
    path: `/apis/${CALICO_API}/ippools`,
    log,
  });
  let pending: Promise<void> | undefined;
  let again = false;
  const sync = async () => {
    const state = readLabState(labDir);
    if (!state) return;
    const spec = natSpecFrom(felixConfigs.get('default'), pools.list());
    for (const n of state.topology.nodes) {
      if (state.off.includes(n.name)) continue; // a powered-off node's Felix is off too
      await applyNatOutgoing(n, spec).catch((err: unknown) =>
        log.warn({ node: n.name, err: String(err) }, 'natOutgoing not applied'),
      );
    }
    log.debug({ spec }, 'natOutgoing synced');
  };
  // One sync at a time; changes during a sync cause exactly one more.
  const kick = () => {
    if (pending) {
      again = true;
      return;
    }
    pending = sync().finally(() => {
      pending = undefined;
      if (again) {
        again = false;
        kick();
      }
    });
  };
  void felixConfigs.run();
  void pools.run();
  await Promise.all([felixConfigs.synced, pools.synced]);
  felixConfigs.onChange(kick);
  pools.onChange(kick);
  kick();
  const tick = setInterval(kick, REFRESH_MS);
  for (const sig of ['SIGTERM', 'SIGINT'] as const)
    process.on(sig, () => {
      clearInterval(tick);
      felixConfigs.stop();
      pools.stop();
      process.exit(0);
    });
  log.info('lab felix running');
}

if (fileURLToPath(import.meta.url) === process.argv[1]) {
  await main().catch((err: unknown) => {
    console.error(`lab felix: ${err instanceof Error ? err.stack : String(err)}`);
    process.exit(1);
  });
}
