// egctl: operator commands. `egctl vip move --egressGatewayName G --vip IP --targetNode N`
// moves an EIP to another Ready node of its gateway (upstream's command and messages).
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { Command } from 'commander';
import { GROUP, VERSION } from '../api/schema/json-schema.ts';
import type { EgressGateway } from '../api/types.generated.ts';
import { loadKubeConfig } from '../k8s/kubeconfig.ts';
import { planVipMove } from './vip-move.ts';

const program = new Command('egctl').description('egress gateway operator commands');
program.option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config or in-cluster)');
const vip = program.command('vip').description('egress IPs');
vip
  .command('move')
  .description('move an egress IP to another Ready node of its EgressGateway')
  .requiredOption('--egressGatewayName <name>', 'the EgressGateway that holds the VIP')
  .requiredOption('--vip <ip>', 'the egress IP to move')
  .requiredOption('--targetNode <node>', 'a Ready node of that gateway')
  .action(async (o: { egressGatewayName: string; vip: string; targetNode: string }) => {
    const kc = loadKubeConfig(program.opts<{ kubeconfig?: string }>().kubeconfig);
    const api = kc.makeApiClient(CustomObjectsApi);
    console.log(`Moving VIP ${o.vip} to node ${o.targetNode}...`);
    try {
      const readGateway = async () =>
        (await api.getClusterCustomObject({
          group: GROUP,
          version: VERSION,
          plural: 'egressgateways',
          name: o.egressGatewayName,
        })) as EgressGateway;
      const first = planVipMove(await readGateway(), o.vip, o.targetNode);
      if (first.kind === 'noop') {
        console.log(first.message);
        return;
      }
      if (first.kind === 'error') throw new Error(first.message);
      const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
      // Re-place every policy that shares the VIP, then wait until the controller shows the
      // VIP on the target (it may have reconciled between two patches: then patch again).
      let moved = false;
      for (let attempt = 0; attempt < 3 && !moved; attempt++) {
        const plan = planVipMove(await readGateway(), o.vip, o.targetNode);
        if (plan.kind === 'noop') break;
        if (plan.kind === 'error') throw new Error(plan.message);
        for (const p of plan.policies) {
          const target = {
            group: GROUP,
            version: VERSION,
            name: p.name,
            body: { status: { node: o.targetNode } },
          };
          if (p.namespace)
            await api.patchNamespacedCustomObjectStatus(
              { ...target, namespace: p.namespace, plural: 'egresspolicies' },
              mergePatch,
            );
          else
            await api.patchClusterCustomObjectStatus(
              { ...target, plural: 'egressclusterpolicies' },
              mergePatch,
            );
        }
        const deadline = Date.now() + 10_000;
        while (Date.now() < deadline) {
          if (planVipMove(await readGateway(), o.vip, o.targetNode).kind === 'noop') {
            moved = true;
            break;
          }
          await new Promise((r) => setTimeout(r, 300));
        }
      }
      if (!moved && planVipMove(await readGateway(), o.vip, o.targetNode).kind !== 'noop')
        throw new Error(`the controller did not place VIP ${o.vip} on ${o.targetNode}; is it running?`);
      console.log(`Successfully moved VIP ${o.vip} to node ${o.targetNode}`);
    } catch (err) {
      const body = (err as { body?: unknown }).body;
      console.error(
        `Move failed: ${err instanceof Error ? err.message : String(err)}${body ? ` ${String(body)}` : ''}`,
      );
      process.exitCode = 1;
    } finally {
      await kc.closeConnections();
    }
  });

await program.parseAsync(process.argv);
