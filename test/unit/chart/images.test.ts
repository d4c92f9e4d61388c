// The chart runs this project's images, never upstream's: defaults name only the images we
// build (scripts/images.sh), tags follow the package version, upstream's image keys still
// work, and upstream's own values (which name upstream's Go images) make rendering fail with
// the keys to drop. docs/install.md describes exactly what is asserted here.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { toolBinary } from '../../../lab/src/paths.ts';
import { run } from '../../../src/common/exec.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CHART = join(ROOT, 'charts/egressgateway');
const UPSTREAM_STYLE_VALUES = join(ROOT, 'test/fixtures/chart/upstream-style-values.yaml');

const VERSION = (JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string })
  .version;
/** The images scripts/images.sh builds and the chart may run (nettools is not in the chart). */
const OURS = {
  agent: `ghcr.io/egressgateway-ts/egressgateway-agent:${VERSION}`,
  controller: `ghcr.io/egressgateway-ts/egressgateway-controller:${VERSION}`,
};

type Doc = { kind: string; metadata: { name: string }; [k: string]: unknown };
type Container = { name: string; image: string; imagePullPolicy?: string };
type PodSpec = {
  containers: Container[];
  initContainers?: Container[];
  imagePullSecrets?: { name: string }[];
};
type Workload = Doc & { spec: { template: { spec: PodSpec } } };

async function template(args: string[]): Promise<{ text: string; docs: Doc[] }> {
  const { stdout } = await run(toolBinary('helm'), [
    'template',
    'egressgateway',
    CHART,
    '-n',
    'kube-system',
    ...args,
  ]);
  const docs = parseAllDocuments(stdout)
    .map((d) => d.toJS() as Doc)
    .filter(Boolean);
  return { text: stdout, docs };
}

const sets = (s: string[]) => s.flatMap((x) => ['--set', x]);

/** Every value of an `image` key anywhere in the rendered objects. */
function imagesIn(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) imagesIn(v, out);
  else if (value && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) {
      if (k === 'image' && typeof v === 'string') out.push(v);
      else imagesIn(v, out);
    }
  return out;
}

/** Every image reference, cross-checked against the `image:` lines of the raw output. */
function allImages(r: { text: string; docs: Doc[] }): string[] {
  const parsed = imagesIn(r.docs);
  const lines = [...r.text.matchAll(/^\s*(?:-\s+)?image:\s*(\S.*?)\s*$/gm)].map((m) =>
    m[1]!.replace(/^"|"$/g, ''),
  );
  assert.deepEqual([...lines].sort(), [...parsed].sort(), 'every image: line is a container image');
  return parsed;
}

function workload(docs: Doc[], kind: string): Workload {
  const found = docs.filter((d) => d.kind === kind) as Workload[];
  assert.equal(found.length, 1, `one ${kind}`);
  return found[0]!;
}

/** Image of the agent DaemonSet, the controller Deployment and the cleanup hook Job. */
function imagesByWorkload(docs: Doc[]): { agent: string; controller: string; cleanup: string } {
  const one = (kind: string) => {
    const spec = workload(docs, kind).spec.template.spec;
    assert.equal(spec.containers.length, 1);
    assert.equal(spec.initContainers, undefined);
    return spec.containers[0]!.image;
  };
  return { agent: one('DaemonSet'), controller: one('Deployment'), cleanup: one('Job') };
}

const EVERY_OPTION = sets([
  'controller.podDisruptionBudget.enabled=true',
  'controller.prometheus.enabled=true',
  'controller.prometheus.serviceMonitor.install=true',
  'controller.prometheus.prometheusRule.install=true',
  'controller.prometheus.grafanaDashboard.install=true',
  'agent.prometheus.enabled=true',
  'agent.prometheus.serviceMonitor.install=true',
  'agent.prometheus.prometheusRule.install=true',
  'agent.prometheus.grafanaDashboard.install=true',
  'controller.tls.method=certmanager',
  'controller.tls.certmanager.issuerName=ca',
]);

test('defaults name only the images we build, the cleanup hook Job included', async () => {
  for (const args of [[], EVERY_OPTION]) {
    const r = await template(args);
    const images = allImages(r);
    const allowed = new Set(Object.values(OURS));
    const foreign = images.filter((i) => !allowed.has(i));
    assert.deepEqual(foreign, [], `images we do not build: ${foreign.join(', ')}`);
    assert.deepEqual(imagesByWorkload(r.docs), {
      agent: OURS.agent,
      controller: OURS.controller,
      cleanup: OURS.controller,
    });
    const job = workload(r.docs, 'Job') as Workload & { metadata: { annotations: Record<string, string> } };
    assert.equal(job.metadata.annotations['helm.sh/hook'], 'pre-delete');
    assert.equal(images.length, 3, 'agent, controller and cleanup: no other container');
  }
});

test('the images the chart names are the ones scripts/images.sh builds', async () => {
  for (const name of ['agent', 'controller'] as const) {
    const { stdout } = await run('bash', [join(ROOT, 'scripts/images.sh'), 'ref', name]);
    assert.equal(stdout.trim(), OURS[name]);
  }
});

test('Chart.yaml appVersion is the package version; values.yaml leaves the tag to it', async () => {
  const chart = parse(await readFile(join(CHART, 'Chart.yaml'), 'utf8')) as { appVersion: string };
  assert.equal(chart.appVersion, VERSION);
  const values = parse(await readFile(join(CHART, 'values.yaml'), 'utf8')) as Record<
    string,
    { image: Record<string, unknown> }
  >;
  for (const c of ['agent', 'controller']) {
    assert.deepEqual(values[c]!.image, {
      registry: 'ghcr.io',
      repository: `egressgateway-ts/egressgateway-${c}`,
      pullPolicy: 'IfNotPresent',
      digest: '',
      tag: '',
      imagePullSecrets: [],
    });
  }
});

test("upstream's image keys still work: overrides, per-component tag, digest, pull settings", async () => {
  const ref = (registry: string, c: string, suffix: string) =>
    `${registry}/egressgateway-ts/egressgateway-${c}${suffix}`;

  const registry = imagesByWorkload(
    (await template(sets(['global.imageRegistryOverride=registry.example.com:5000']))).docs,
  );
  assert.deepEqual(registry, {
    agent: ref('registry.example.com:5000', 'agent', `:${VERSION}`),
    controller: ref('registry.example.com:5000', 'controller', `:${VERSION}`),
    cleanup: ref('registry.example.com:5000', 'controller', `:${VERSION}`),
  });

  const tag = imagesByWorkload((await template(sets(['global.imageTagOverride=dev']))).docs);
  assert.deepEqual(tag, {
    agent: ref('ghcr.io', 'agent', ':dev'),
    controller: ref('ghcr.io', 'controller', ':dev'),
    cleanup: ref('ghcr.io', 'controller', ':dev'),
  });

  // a component's own registry and tag; the global tag override wins over a component's tag
  const own = imagesByWorkload(
    (await template(sets(['agent.image.registry=mirror.local', 'agent.image.tag=1.2.3']))).docs,
  );
  assert.equal(own.agent, 'mirror.local/egressgateway-ts/egressgateway-agent:1.2.3');
  assert.equal(own.controller, OURS.controller);
  const both = imagesByWorkload(
    (await template(sets(['agent.image.tag=1.2.3', 'global.imageTagOverride=dev']))).docs,
  );
  assert.equal(both.agent, ref('ghcr.io', 'agent', ':dev'));

  // a digest replaces the tag, even an overridden one, and the registry override still applies
  const digest = `sha256:${'ab'.repeat(32)}`;
  const pinned = imagesByWorkload(
    (
      await template(
        sets([
          `controller.image.digest=${digest}`,
          'global.imageTagOverride=dev',
          'global.imageRegistryOverride=r.local',
        ]),
      )
    ).docs,
  );
  assert.deepEqual(pinned, {
    agent: ref('r.local', 'agent', ':dev'),
    controller: ref('r.local', 'controller', `@${digest}`),
    cleanup: ref('r.local', 'controller', `@${digest}`),
  });

  // an empty registry leaves the reference without one (the runtime's default registry)
  const bare = imagesByWorkload((await template(sets(['agent.image.registry=']))).docs);
  assert.equal(bare.agent, `egressgateway-ts/egressgateway-agent:${VERSION}`);

  const pull = await template(
    sets([
      'agent.image.pullPolicy=Always',
      'agent.image.imagePullSecrets[0].name=agent-pull',
      'controller.image.pullPolicy=Never',
      'controller.image.imagePullSecrets[0].name=controller-pull',
    ]),
  );
  const ds = workload(pull.docs, 'DaemonSet').spec.template.spec;
  const dep = workload(pull.docs, 'Deployment').spec.template.spec;
  assert.equal(ds.containers[0]!.imagePullPolicy, 'Always');
  assert.deepEqual(ds.imagePullSecrets, [{ name: 'agent-pull' }]);
  assert.equal(dep.containers[0]!.imagePullPolicy, 'Never');
  assert.deepEqual(dep.imagePullSecrets, [{ name: 'controller-pull' }]);
  assert.equal(workload(pull.docs, 'Job').spec.template.spec.containers[0]!.imagePullPolicy, 'Never');
});

const UPSTREAM_REFUSAL =
  'agent.image.repository is "spidernet-io/egressgateway-agent" and controller.image.repository is ' +
  '"spidernet-io/egressgateway-controller", upstream\'s Go images, which this chart cannot run: drop ' +
  'agent.image.repository, agent.image.tag, controller.image.repository and controller.image.tag from your ' +
  "values (or set them to this project's images: egressgateway-ts/egressgateway-agent and " +
  `egressgateway-ts/egressgateway-controller, tag ${VERSION})`;

async function refusal(args: string[]): Promise<string> {
  const err = await template(args).then(
    () => assert.fail('rendering should have failed'),
    (e: Error) => e,
  );
  const m = /execution error at \([^)]*\): (.*)/.exec(err.message);
  assert.ok(m, err.message);
  return m[1]!.trim();
}

test("upstream's values.yaml passed whole: refused, naming the keys; without them, our images", async () => {
  const message = await refusal(['-f', UPSTREAM_STYLE_VALUES]);
  assert.equal(message, UPSTREAM_REFUSAL);

  // drop exactly the keys the message names, and nothing else
  const keys = /drop (.*) from your values/
    .exec(message)![1]!
    .split(/, | and /)
    .map((k) => k.split('.'));
  assert.deepEqual(
    keys.map((k) => k.join('.')),
    ['agent.image.repository', 'agent.image.tag', 'controller.image.repository', 'controller.image.tag'],
  );
  const values = parse(await readFile(UPSTREAM_STYLE_VALUES, 'utf8')) as Record<string, unknown>;
  for (const path of keys) {
    let o = values as Record<string, unknown>;
    for (const p of path.slice(0, -1)) o = o[p] as Record<string, unknown>;
    assert.ok(path.at(-1)! in o, path.join('.'));
    delete o[path.at(-1)!];
  }
  const dir = await mkdtemp(join(tmpdir(), 'egw-chart-'));
  try {
    const file = join(dir, 'values.yaml');
    await writeFile(file, stringify(values));
    const r = await template(['-f', file]);
    assert.deepEqual(imagesByWorkload(r.docs), {
      agent: OURS.agent,
      controller: OURS.controller,
      cleanup: OURS.controller,
    });
    assert.deepEqual(
      allImages(r).filter((i) => !Object.values(OURS).includes(i)),
      [],
    );
    // the rest of the upstream values still applies
    const cm = r.docs.find((d) => d.kind === 'ConfigMap') as Doc & { data: Record<string, string> };
    assert.match(cm.data['conf.yml']!, /datapathMode: iptables/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('refusal trigger: a repository with a spidernet-io path segment, one component at a time', async () => {
  assert.equal(
    await refusal(
      sets(['agent.image.repository=spidernet-io/egressgateway-agent', 'agent.image.tag=v0.6.9']),
    ),
    'agent.image.repository is "spidernet-io/egressgateway-agent", upstream\'s Go image, which this chart ' +
      'cannot run: drop agent.image.repository and agent.image.tag from your values (or set them to this ' +
      `project's image: egressgateway-ts/egressgateway-agent, tag ${VERSION})`,
  );
  // our default tag is empty, so only the repository is named; a digest is named when set
  assert.equal(
    await refusal(sets(['controller.image.repository=spidernet-io/egressgateway-controller'])),
    'controller.image.repository is "spidernet-io/egressgateway-controller", upstream\'s Go image, which this ' +
      'chart cannot run: drop controller.image.repository from your values (or set them to this ' +
      `project's image: egressgateway-ts/egressgateway-controller, tag ${VERSION})`,
  );
  assert.match(
    await refusal(
      sets([
        'controller.image.repository=mirror/spidernet-io/egressgateway-controller',
        'controller.image.digest=sha256:00',
      ]),
    ),
    /^controller\.image\.repository is "mirror\/spidernet-io\/egressgateway-controller", .*: drop controller\.image\.repository and controller\.image\.digest from your values/,
  );
  // whatever the registry: the repository decides
  assert.match(
    await refusal(sets(['global.imageRegistryOverride=r.local', 'agent.image.repository=spidernet-io/x'])),
    /^agent\.image\.repository is "spidernet-io\/x"/,
  );
  // not under spidernet-io/: rendered as given
  const other = imagesByWorkload(
    (
      await template(
        sets([
          'agent.image.repository=myorg/egressgateway-agent',
          'controller.image.repository=spidernet-io-fork/c',
        ]),
      )
    ).docs,
  );
  assert.equal(other.agent, `ghcr.io/myorg/egressgateway-agent:${VERSION}`);
  assert.equal(other.controller, `ghcr.io/spidernet-io-fork/c:${VERSION}`);
});
