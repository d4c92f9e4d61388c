// The agent process (image egressgateway-agent, /usr/bin/agent), one per node (hostNetwork,
// privileged): programs this node's datapath (tunnel device, peers, mark routing, nft
// rules, EIP announcement) from the egress objects and reports its tunnel's underlay.

import { ConfigError, loadConfig } from '../common/config.ts';
import { startHealthServer } from '../common/health.ts';
import { createLogger } from '../common/log.ts';
import { agentMetrics, newRegistry, startMetricsServer } from '../common/metrics.ts';
import { loadKubeConfig } from '../k8s/kubeconfig.ts';
import { createAgent } from './agent.ts';
import { startBackend } from './backend-choice.ts';
import { ProbeKeyError, ProbeKeys } from './failover/probe-key.ts';
import { nsExec } from './iptables.ts';
import { Kernel } from './kernel.ts';

async function main(): Promise<void> {
  const config = await loadConfig();
  const log = createLogger('agent', config.env.logLevel).child({ node: config.env.nodeName });
  if (!config.env.nodeName)
    throw new ConfigError(['NODE_NAME: empty; set it from spec.nodeName (downward API)']);
  log.info({ config }, 'configuration');
  const f = config.feature;
  // Fast failover trusts only probes signed with the cluster's key: without it, no start
  // (before touching the kernel).
  let probeKeys: ProbeKeys | undefined;
  try {
    probeKeys = f.fastFailover.enable ? new ProbeKeys(config.env.probeKeyDir) : undefined;
  } catch (err) {
    if (err instanceof ProbeKeyError) throw new ConfigError([err.message]);
    throw err;
  }
  const kernel = new Kernel({ log });
  const packets = await startBackend({
    mode: f.datapathMode,
    iptables: f.iptables,
    kernel,
    exec: nsExec(),
    log,
    families: [...(f.enableIPv4 ? [4 as const] : []), ...(f.enableIPv6 ? [6 as const] : [])],
    render: { markBase: f.mark, vxlanName: f.vxlan.name },
  });
  const registry = newRegistry('agent');
  const metrics = agentMetrics(registry);
  const agent = createAgent({
    kc: loadKubeConfig(),
    config,
    kernel,
    packets,
    log,
    onSync: (seconds, ok) => metrics.syncSeconds.observe({ result: ok ? 'ok' : 'error' }, seconds),
    onAnnounce: (announced, added) => {
      metrics.eipsAnnounced.set(announced);
      metrics.eipsTaken.inc(added);
    },
    ...(probeKeys ? { probeKeys: () => probeKeys.keys() } : {}),
  });
  const health = await startHealthServer(config.env.healthProbeBindAddress, {
    healthz: { ping: () => true },
    readyz: { datapath: () => agent.ready() },
  });
  const metricsServer = config.env.metricsBindAddress
    ? await startMetricsServer(registry, config.env.metricsBindAddress)
    : undefined;
  // A restarting agent must not cut traffic: the datapath stays unless uninstalled.
  const stop = async () => {
    await agent.stop().catch((err: unknown) => log.error({ err: String(err) }, 'datapath teardown failed'));
    await health.close();
    metricsServer?.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  await agent.start();
}

await main().catch((err: unknown) => {
  console.error(
    err instanceof ConfigError ? err.message : `agent: ${err instanceof Error ? err.stack : String(err)}`,
  );
  process.exit(1);
});
