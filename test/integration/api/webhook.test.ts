// The CRDs and our admission webhook in a real kube-apiserver: every bad object of the table
// is refused through the apiserver with its message, the valid edge cases and the seed's
// YAMLs are admitted and defaulted, and kubectl prints the upstream columns. A private
// control plane: a webhook registration is cluster-wide and must not touch other tests.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ApiException, CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { toolBinary } from '../../../lab/src/paths.ts';
import { GROUP, VERSION } from '../../../src/api/schema/json-schema.ts';
import { kindByName } from '../../../src/api/schema/kinds.ts';
import { run } from '../../../src/common/exec.ts';
import type { WebhookServer } from '../../../src/controller/webhook/server.ts';
import {
  BAD_CASES,
  type Case,
  FIXTURE_B_STATUS,
  FIXTURE_GATEWAYS,
  FIXTURE_POLICY,
  fuzzedPoolCases,
  NS,
  NS_LABELLED,
  validObjects,
} from '../../support/admission-cases.ts';
import { privateControlPlane } from '../../support/cluster.ts';
import { SEED_GATEWAY, SEED_POLICY } from '../../support/seed.ts';
import { startTestWebhook } from '../../support/webhook.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
let kc: KubeConfig;
let kubeconfigPath: string;
let webhook: WebhookServer;
let custom: CustomObjectsApi;

async function kubectl(args: string[], input?: string): Promise<string> {
  const res = await run(
    toolBinary('kubectl'),
    ['--kubeconfig', kubeconfigPath, ...args],
    input ? { input } : {},
  );
  return res.stdout;
}

type Obj = { kind: string; metadata: { name: string; namespace?: string }; spec?: unknown; status?: unknown };

function coords(o: Obj) {
  const k = kindByName(o.kind);
  return { group: GROUP, version: VERSION, plural: k.plural, namespaced: k.scope === 'Namespaced' };
}

async function createObj(o: Obj): Promise<Obj> {
  const c = coords(o);
  return (
    c.namespaced
      ? await custom.createNamespacedCustomObject({ ...c, namespace: o.metadata.namespace!, body: o })
      : await custom.createClusterCustomObject({ ...c, body: o })
  ) as Obj;
}

async function getObj(o: Obj): Promise<Obj & { metadata: { resourceVersion?: string } }> {
  const c = coords(o);
  return (
    c.namespaced
      ? await custom.getNamespacedCustomObject({
          ...c,
          namespace: o.metadata.namespace!,
          name: o.metadata.name,
        })
      : await custom.getClusterCustomObject({ ...c, name: o.metadata.name })
  ) as Obj & { metadata: { resourceVersion?: string } };
}

async function replaceObj(o: Obj): Promise<void> {
  const c = coords(o);
  if (c.namespaced)
    await custom.replaceNamespacedCustomObject({
      ...c,
      namespace: o.metadata.namespace!,
      name: o.metadata.name,
      body: o,
    });
  else await custom.replaceClusterCustomObject({ ...c, name: o.metadata.name, body: o });
}

async function deleteObj(o: Obj): Promise<void> {
  const c = coords(o);
  if (c.namespaced)
    await custom.deleteNamespacedCustomObject({
      ...c,
      namespace: o.metadata.namespace!,
      name: o.metadata.name,
    });
  else await custom.deleteClusterCustomObject({ ...c, name: o.metadata.name });
}

/** The apiserver's refusal message, or undefined when the request was admitted. */
async function attempt(c: Case): Promise<string | undefined> {
  try {
    if (c.op === 'CREATE') {
      await createObj(c.object);
      await deleteObj(c.object).catch(() => undefined);
    } else if (c.op === 'UPDATE') {
      const current = await getObj(c.object);
      await replaceObj({ ...current, spec: c.object.spec });
    } else await deleteObj(c.object);
    return undefined;
  } catch (err) {
    if (!(err instanceof ApiException)) throw err;
    const body = typeof err.body === 'string' ? JSON.parse(err.body) : err.body;
    return String(body?.message ?? err.message);
  }
}

before(async () => {
  const cp = await privateControlPlane();
  kc = cp.kubeConfig;
  kubeconfigPath = cp.kubeconfigPath;
  custom = kc.makeApiClient(CustomObjectsApi);
  await kubectl(['apply', '-f', join(ROOT, 'charts/egressgateway/crds')]);
  await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);

  webhook = await startTestWebhook(kc, join(cp.state.dir, 'webhook-pki'), {
    enableIPv4: true,
    enableIPv6: true,
  });

  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: NS } } });
  await core.createNamespace({
    body: { metadata: { name: NS_LABELLED, labels: { 'spidernet.io/egressgateway-default': 'ok-range' } } },
  });
  for (const g of FIXTURE_GATEWAYS) await createObj(g as Obj);
  const b = await getObj(FIXTURE_GATEWAYS[1] as Obj);
  await custom.replaceClusterCustomObjectStatus({
    group: GROUP,
    version: VERSION,
    plural: 'egressgateways',
    name: 'fixture-b',
    body: { ...b, status: FIXTURE_B_STATUS },
  });
  await createObj(FIXTURE_POLICY as Obj);
  await createObj({
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'EgressClusterInfo',
    metadata: { name: 'default' },
    spec: {},
  } as Obj);
});

after(async () => {
  await webhook?.close();
});

const cases = [...BAD_CASES, ...fuzzedPoolCases(12)];

test(`the real apiserver refuses ${cases.length} bad objects with their messages`, async (t) => {
  for (const c of cases) {
    await t.test(c.id, async () => {
      const message = await attempt(c);
      assert.ok(message !== undefined, `${c.id} was admitted`);
      assert.match(message, c.expect);
      if (c.layer !== 'schema')
        assert.match(
          message,
          /admission webhook "egressgateway\.egressgateway\.spidernet\.io" denied the request/,
        );
    });
  }
});

test('valid edge cases are admitted and defaulted', async () => {
  for (const v of validObjects()) await createObj(v.object);
  const range = await getObj({ kind: 'EgressGateway', metadata: { name: 'ok-range' } });
  assert.equal((range.spec as { ippools: { ipv4DefaultEIP: string } }).ippools.ipv4DefaultEIP, '10.50.1.20');
  assert.deepEqual((range.metadata as { finalizers?: string[] }).finalizers, [
    'egressgateway.spidernet.io/egressgateway',
  ]);
  const v6 = await getObj({ kind: 'EgressGateway', metadata: { name: 'ok-v6' } });
  assert.equal(
    (v6.spec as { ippools: { ipv6DefaultEIP: string } }).ippools.ipv6DefaultEIP,
    'fd50::ffff:ffff:ffff:ffff',
  );
  const p = await getObj({ kind: 'EgressPolicy', metadata: { name: 'ok-explicit', namespace: NS } });
  assert.deepEqual((p.spec as { egressIP: unknown }).egressIP, {
    ipv4: '10.50.1.5',
    allocatorPolicy: 'default',
    useNodeIP: false,
  });
});

test('a policy without a gateway gets the namespace default, then the cluster default', async () => {
  const policy = (name: string, namespace: string) =>
    `apiVersion: ${GROUP}/${VERSION}\nkind: EgressPolicy\nmetadata: {name: ${name}, namespace: ${namespace}}\nspec:\n  appliedTo:\n    podSelector: {matchLabels: {app: a}}\n`;
  await kubectl(['apply', '-f', '-'], policy('by-label', NS_LABELLED));
  const byLabel = await getObj({
    kind: 'EgressPolicy',
    metadata: { name: 'by-label', namespace: NS_LABELLED },
  });
  assert.equal((byLabel.spec as { egressGatewayName: string }).egressGatewayName, 'ok-range');
  const refused = await kubectl(['apply', '-f', '-'], policy('nothing', NS)).catch((e: Error) => e.message);
  assert.match(refused, /egressGatewayName cannot be empty/);
  await kubectl(['patch', 'egw', 'ok-cidr', '--type=merge', '-p', '{"spec":{"clusterDefault":true}}']);
  await kubectl(['apply', '-f', '-'], policy('by-cluster', NS));
  const byCluster = await getObj({ kind: 'EgressPolicy', metadata: { name: 'by-cluster', namespace: NS } });
  assert.equal((byCluster.spec as { egressGatewayName: string }).egressGatewayName, 'ok-cidr');
  const second = await kubectl([
    'patch',
    'egw',
    'ok-single',
    '--type=merge',
    '-p',
    '{"spec":{"clusterDefault":true}}',
  ]).catch((e: Error) => e.message);
  assert.match(second, /A cluster can only have one default gateway, default gateway: ok-cidr/);
});

test("the seed's YAMLs apply unchanged and kubectl prints the upstream columns", async () => {
  await kubectl(['apply', '-f', '-'], SEED_GATEWAY);
  await kubectl(['apply', '-f', '-'], SEED_POLICY);
  const gwYaml = await kubectl(['get', 'EgressGateway', 'default', '-o', 'yaml']);
  assert.match(gwYaml, /ipv4DefaultEIP: 172\.22\.0\.110/);
  const polYaml = await kubectl(['get', 'EgressPolicy', 'test', '-n', 'default', '-o', 'yaml']);
  assert.match(polYaml, /egressIP:\n\s+allocatorPolicy: default\n\s+useNodeIP: false/);
  const listed = await kubectl(['get', 'egw,egp', '-A']);
  assert.match(
    listed,
    /NAME\s+IPV4DEFAULTEIP\s+IPV6DEFAULTEIP\s+CLUSTERDEFAULT\s+IPV4TOTAL\s+IPV4FREE\s+IPV6TOTAL\s+IPV6FREE/,
  );
  assert.match(listed, /egressgateway\.egressgateway\.spidernet\.io\/default\s+172\.22\.0\.110\s+/);
  assert.match(listed, /NAMESPACE\s+NAME\s+GATEWAY\s+IPV4\s+IPV6\s+EGRESSTUNNEL/);
  assert.match(listed, /default\s+egresspolicy\.egressgateway\.spidernet\.io\/test\s+default\s/);
  const crds = await kubectl(['get', 'crd', '-o', 'name']);
  assert.equal(
    crds
      .trim()
      .split('\n')
      .filter((l) => l.includes('egressgateway.spidernet.io')).length,
    7,
  );
});

test('deleting EgressClusterInfo/default is refused', async () => {
  await assert.rejects(
    kubectl(['delete', 'egci', 'default']),
    /EgressClusterInfo 'default' is not allowed to be deleted/,
  );
});
