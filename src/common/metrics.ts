// Prometheus metrics shared by the controller and the agent: one registry per process (so
// nothing registers on a global default that is never served — an upstream bug), the
// process/runtime defaults, and a small HTTP server for /metrics.
import { createServer, type Server } from 'node:http';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { BindAddress } from './config.ts';

export function newRegistry(component: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ component });
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** The agent's datapath syncs (plan → kernel). */
export function agentMetrics(registry: Registry) {
  return {
    syncSeconds: new Histogram({
      name: 'egressgateway_agent_sync_seconds',
      help: 'Time per datapath sync (plan and kernel changes), by result',
      labelNames: ['result'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    eipsAnnounced: new Gauge({
      name: 'egressgateway_agent_eips_announced',
      help: 'EIPs this node answers ARP/NDP for',
      registers: [registry],
    }),
    eipsTaken: new Counter({
      name: 'egressgateway_agent_eip_announcements_total',
      help: 'EIPs this node started announcing (placement by the controller, or takeover by fast failover)',
      registers: [registry],
    }),
  };
}

/** Work-queue and reconcile metrics, named like controller-runtime's so dashboards carry over. */
export function controllerMetrics(registry: Registry) {
  return {
    reconcileTotal: new Counter({
      name: 'controller_runtime_reconcile_total',
      help: 'Reconciliations per controller and result',
      labelNames: ['controller', 'result'] as const,
      registers: [registry],
    }),
    reconcileSeconds: new Histogram({
      name: 'controller_runtime_reconcile_time_seconds',
      help: 'Time per reconciliation',
      labelNames: ['controller'] as const,
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'workqueue_depth',
      help: 'Keys waiting in the work queue',
      labelNames: ['name'] as const,
      registers: [registry],
    }),
    queueAdds: new Counter({
      name: 'workqueue_adds_total',
      help: 'Keys added to the work queue',
      labelNames: ['name'] as const,
      registers: [registry],
    }),
    queueRetries: new Counter({
      name: 'workqueue_retries_total',
      help: 'Keys re-queued after a failure',
      labelNames: ['name'] as const,
      registers: [registry],
    }),
    webhookDuration: new Histogram({
      name: 'egressgateway_webhook_admission_duration_seconds',
      help: 'Time to decide one admission review',
      labelNames: ['path', 'kind', 'allowed'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
      registers: [registry],
    }),
    // Upstream's names for tunnel address and mark allocations (one per allocation written).
    tunnelIpAllocations: new Counter({
      name: 'egress_ip_allocate_next_restore_calls',
      help: 'Tunnel IPs allocated to EgressTunnels',
      labelNames: ['version'] as const,
      registers: [registry],
    }),
    tunnelIpReleases: new Counter({
      name: 'egress_ip_allocate_release_calls',
      help: 'Tunnel IPs released (tunnel removed with its node, or a duplicate reassigned)',
      labelNames: ['version'] as const,
      registers: [registry],
    }),
    markAllocations: new Counter({
      name: 'egress_mark_allocate_next_calls',
      help: 'Packet marks allocated to EgressTunnels',
      registers: [registry],
    }),
    markReleases: new Counter({
      name: 'egress_mark_release_calls',
      help: 'Packet marks released',
      registers: [registry],
    }),
    eipsPerNode: new Gauge({
      name: 'egressgateway_eips',
      help: 'EIPs a gateway has placed on each of its nodes',
      labelNames: ['gateway', 'node'] as const,
      registers: [registry],
    }),
    eipPlacements: new Counter({
      name: 'egressgateway_eip_placements_total',
      help: 'Policy EIP placements written, by outcome (EIPAssigned, EIPMoved, EIPUnplaced)',
      labelNames: ['gateway', 'reason'] as const,
      registers: [registry],
    }),
    eipAllocationFailures: new Counter({
      name: 'egressgateway_eip_allocation_failures_total',
      help: 'Gateway reconciles that left a policy without an EIP (pool exhausted, EIP outside the pool, ...)',
      labelNames: ['gateway'] as const,
      registers: [registry],
    }),
    eventsDropped: new Counter({
      name: 'egressgateway_controller_events_dropped_total',
      help: 'Kubernetes Events not written because the apiserver fell behind (oldest dropped first)',
      registers: [registry],
    }),
    leader: new Gauge({
      name: 'leader_election_master_status',
      help: '1 while this replica is the leader',
      labelNames: ['name'] as const,
      registers: [registry],
    }),
  };
}

export function startMetricsServer(registry: Registry, bind: BindAddress): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404).end('not found; metrics are at /metrics\n');
      return;
    }
    registry
      .metrics()
      .then((text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text))
      .catch((err: Error) => res.writeHead(500).end(`${err.message}\n`));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(bind.port, bind.host || undefined, () => resolve(server));
  });
}
