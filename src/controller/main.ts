// The controller process (image egressgateway-controller, /usr/bin/controller).
//   controller                      run: webhook, health, metrics (reconcilers: see docs/status)
//   controller clean --validate V --mutating M   the chart's pre-delete cleanup
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { Command } from 'commander';
import { ConfigError, loadConfig } from '../common/config.ts';
import { startHealthServer } from '../common/health.ts';
import { createLogger } from '../common/log.ts';
import { controllerMetrics, newRegistry, startMetricsServer } from '../common/metrics.ts';
import { loadKubeConfig } from '../k8s/kubeconfig.ts';
import { LeaderElector } from '../k8s/leader-election.ts';
import { clean } from './clean.ts';
import { createControllers } from './controller.ts';
import { apiserverContext } from './webhook/apiserver-context.ts';
import { startWebhookServer } from './webhook/server.ts';

function kubeConfig(): KubeConfig {
  return loadKubeConfig();
}

async function runController(): Promise<void> {
  const config = await loadConfig();
  const log = createLogger('controller', config.env.logLevel);
  log.info({ config }, 'configuration');
  const kc = kubeConfig();
  const registry = newRegistry('controller');
  const metrics = controllerMetrics(registry);
  const families = { enableIPv4: config.feature.enableIPv4, enableIPv6: config.feature.enableIPv6 };
  const webhook = await startWebhookServer({
    certFile: join(config.env.tlsCertDir, 'tls.crt'),
    keyFile: join(config.env.tlsCertDir, 'tls.key'),
    port: config.env.webhookPort,
    context: apiserverContext(kc, families),
    log,
    observe: (path, kind, allowed, seconds) =>
      metrics.webhookDuration.observe({ path, kind, allowed: String(allowed) }, seconds),
  });
  log.info({ port: webhook.port }, 'webhook serving /validate and /mutate');
  const controllers = createControllers(kc, config, log, metrics);
  controllers.start();
  const lead = (signal: AbortSignal) => {
    metrics.leader.set({ name: config.env.leaderElectionId }, 1);
    controllers.lead(signal).catch((err: unknown) => {
      log.error({ err: String(err) }, 'reconcilers stopped');
      process.exit(1);
    });
  };
  let elector: LeaderElector | undefined;
  if (config.env.leaderElection) {
    elector = new LeaderElector(kc, {
      name: config.env.leaderElectionId,
      namespace: config.env.leaderElectionNamespace,
      identity: config.env.podName || `${process.pid}`,
      log,
      onStartedLeading: lead,
      // A controller that lost its lease may hold stale intentions: start over clean.
      onStoppedLeading: () => {
        metrics.leader.set({ name: config.env.leaderElectionId }, 0);
        if (!stopping) process.exit(1);
      },
    });
    void elector.run();
  } else lead(new AbortController().signal);
  let stopping = false;
  const health = await startHealthServer(config.env.healthProbeBindAddress, {
    healthz: { ping: () => true },
    // Every replica serves the webhook, leader or not; ready once caches are warm.
    readyz: { webhook: () => true, caches: () => controllers.informers.every((i) => i.hasSynced()) },
  });
  const metricsServer = config.env.metricsBindAddress
    ? await startMetricsServer(registry, config.env.metricsBindAddress)
    : undefined;
  const stop = async () => {
    log.info('shutting down');
    stopping = true;
    await elector?.stop(true);
    controllers.stop();
    await Promise.all([webhook.close(), health.close()]);
    metricsServer?.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

const program = new Command('controller').description('egressgateway controller').action(async () => {
  await runController();
});
program
  .command('clean')
  .description('delete the webhook configurations and every egress custom resource (helm pre-delete)')
  .requiredOption('--validate <name>', 'ValidatingWebhookConfiguration to delete')
  .requiredOption('--mutating <name>', 'MutatingWebhookConfiguration to delete')
  .option('--controller <namespace/name>', 'controller Deployment to scale to zero first')
  .action(async (o: { validate: string; mutating: string; controller?: string }) => {
    await clean(kubeConfig(), o, createLogger('controller-clean'));
  });

await program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof ConfigError) console.error(err.message);
  else console.error(`controller: ${err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
});
