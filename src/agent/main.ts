// The agent process (image egressgateway-agent, /usr/bin/agent), one per node.
// Today it loads and checks the configuration the chart renders and serves its health
// endpoints, so the DaemonSet is installable; the datapath (tunnel, policy routing, SNAT,
// ARP/NDP for EIPs) is the next milestone and is not claimed here.
import { ConfigError, loadConfig } from '../common/config.ts';
import { startHealthServer } from '../common/health.ts';
import { createLogger } from '../common/log.ts';
import { newRegistry, startMetricsServer } from '../common/metrics.ts';

async function main(): Promise<void> {
  const config = await loadConfig();
  const log = createLogger('agent', config.env.logLevel).child({ node: config.env.nodeName });
  if (!config.env.nodeName)
    throw new ConfigError(['NODE_NAME: empty; set it from spec.nodeName (downward API)']);
  log.info({ config }, 'configuration');
  const registry = newRegistry('agent');
  const health = await startHealthServer(config.env.healthProbeBindAddress, {
    healthz: { ping: () => true },
    readyz: { config: () => true },
  });
  const metrics = config.env.metricsBindAddress
    ? await startMetricsServer(registry, config.env.metricsBindAddress)
    : undefined;
  log.warn('datapath not implemented yet: this agent programs nothing');
  const stop = async () => {
    await health.close();
    metrics?.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

await main().catch((err: unknown) => {
  console.error(
    err instanceof ConfigError ? err.message : `agent: ${err instanceof Error ? err.stack : String(err)}`,
  );
  process.exit(1);
});
