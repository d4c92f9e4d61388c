// The lab's container runtime config: what runc is told to run for a pod's container.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ImageStore, normaliseRef, parseImageConfig } from '../../../lab/src/kubelet/image-store.ts';
import {
  ALL_CAPS,
  capabilities,
  capsFromMask,
  containerArgv,
  containerUser,
  DEFAULT_CAPS,
  ociConfig,
  processEnv,
} from '../../../lab/src/kubelet/oci-spec.ts';

const image = parseImageConfig({
  config: {
    Entrypoint: ['/usr/bin/egw-entrypoint'],
    Cmd: ['/usr/bin/controller'],
    Env: ['PATH=/usr/local/bin:/usr/bin:/bin', 'NODE_ENV=production'],
    WorkingDir: '/app',
    User: '1000:1000',
  },
});
const passwd = 'root:x:0:0:root:/root:/bin/bash\nnode:x:1000:1000::/home/node:/bin/bash\n';
const group = 'root:x:0:\nnode:x:1000:\n';

test('image refs are normalised as container runtimes do', () => {
  assert.equal(normaliseRef('nginx'), 'docker.io/library/nginx:latest');
  assert.equal(normaliseRef('library/nginx:1.27'), 'docker.io/library/nginx:1.27');
  assert.equal(normaliseRef('ghcr.io/a/b'), 'ghcr.io/a/b:latest');
  assert.equal(normaliseRef('localhost:5000/a:1'), 'localhost:5000/a:1');
  const store = new ImageStore([
    {
      ref: 'ghcr.io/egressgateway-ts/egressgateway-agent:0.1.0',
      digest: 'sha256:x',
      rootfs: '/r',
      config: image,
    },
  ]);
  assert.equal(store.find('ghcr.io/egressgateway-ts/egressgateway-agent:0.1.0')?.rootfs, '/r');
  assert.equal(store.find('ghcr.io/spidernet-io/egressgateway-agent:v0.6.9'), undefined, 'no name mapping');
  assert.equal(store.find('nginx'), undefined);
});

test('argv: command replaces entrypoint and Cmd, args replace Cmd', () => {
  assert.deepEqual(containerArgv({ name: 'c' }, image), ['/usr/bin/egw-entrypoint', '/usr/bin/controller']);
  assert.deepEqual(containerArgv({ name: 'c', args: ['-x'] }, image), ['/usr/bin/egw-entrypoint', '-x']);
  assert.deepEqual(containerArgv({ name: 'c', command: ['/usr/bin/agent'], args: ['a'] }, image), [
    '/usr/bin/agent',
    'a',
  ]);
  assert.throws(() => containerArgv({ name: 'c' }, parseImageConfig({})), /no command/);
});

test('user: securityContext over the image USER; runAsNonRoot refuses root', () => {
  const base = { image, passwd, group };
  assert.deepEqual(containerUser({ ...base, container: { name: 'c' } }), {
    uid: 1000,
    gid: 1000,
    additionalGids: [],
    home: '/home/node',
  });
  const named = { ...image, user: 'node' };
  assert.equal(containerUser({ ...base, image: named, container: { name: 'c' } }).gid, 1000);
  const root = { ...image, user: '' };
  assert.equal(containerUser({ ...base, image: root, container: { name: 'c' } }).home, '/root');
  assert.equal(
    containerUser({ ...base, container: { name: 'c', securityContext: { runAsUser: 0, runAsGroup: 0 } } })
      .uid,
    0,
  );
  assert.throws(
    () =>
      containerUser({
        ...base,
        image: root,
        container: { name: 'c' },
        podSecurityContext: { runAsNonRoot: true },
      }),
    /runAsNonRoot/,
  );
  assert.throws(
    () => containerUser({ ...base, image: { ...image, user: 'nobody' }, container: { name: 'c' } }),
    /passwd/,
  );
});

test('capabilities: containerd defaults, add/drop, ALL, privileged', () => {
  assert.deepEqual(capabilities({ name: 'c' }), DEFAULT_CAPS);
  const net = capabilities({
    name: 'c',
    securityContext: { capabilities: { add: ['NET_ADMIN'], drop: ['KILL'] } },
  });
  assert.ok(net.includes('CAP_NET_ADMIN') && !net.includes('CAP_KILL'));
  assert.deepEqual(capabilities({ name: 'c', securityContext: { capabilities: { drop: ['ALL'] } } }), []);
  assert.deepEqual(capabilities({ name: 'c', securityContext: { privileged: true } }), ALL_CAPS);
  // never more than the runtime holds: this machine's root lacks CAP_SYS_RESOURCE (bit 24)
  const host = capsFromMask('1fffeffffff');
  assert.equal(host.length, ALL_CAPS.length - 1);
  assert.ok(!host.includes('CAP_SYS_RESOURCE') && host.includes('CAP_CHECKPOINT_RESTORE'));
  assert.deepEqual(capabilities({ name: 'c', securityContext: { privileged: true } }, host), host);
  const added = capabilities(
    { name: 'c', securityContext: { capabilities: { add: ['SYS_RESOURCE'] } } },
    host,
  );
  assert.ok(!added.includes('CAP_SYS_RESOURCE'));
});

test('env: the image first, then the kubelet and the pod; HOME from the user', () => {
  const env = processEnv(image, { NODE_ENV: 'test', A: '1' }, '/home/node');
  assert.deepEqual(env, ['PATH=/usr/local/bin:/usr/bin:/bin', 'NODE_ENV=test', 'A=1', 'HOME=/home/node']);
});

test('config: namespaces, mounts, privileges', () => {
  const input = {
    image,
    passwd,
    group,
    env: {},
    mounts: [{ source: '/run/xtables.lock', target: '/run/xtables.lock', readOnly: false }],
    rootfs: '/lab/pods/u/c/rootfs',
    netnsPath: '/run/netns/egwlab-worker',
    hostname: 'worker',
    hostCaps: ALL_CAPS,
  };
  const plain = ociConfig({
    ...input,
    container: { name: 'c', securityContext: { readOnlyRootFilesystem: true } },
  });
  const linux = plain['linux'] as Record<string, unknown>;
  assert.deepEqual((linux['namespaces'] as unknown[]).at(-1), {
    type: 'network',
    path: '/run/netns/egwlab-worker',
  });
  assert.ok(Array.isArray(linux['maskedPaths']) && Array.isArray(linux['readonlyPaths']));
  assert.deepEqual(plain['root'], { path: '/lab/pods/u/c/rootfs', readonly: true });
  const mounts = plain['mounts'] as { destination: string; options?: string[] }[];
  assert.deepEqual(mounts.find((m) => m.destination === '/run/xtables.lock')?.options, ['rbind', 'rw']);
  assert.ok(mounts.find((m) => m.destination === '/sys')?.options?.includes('ro'));
  const priv = ociConfig({ ...input, container: { name: 'a', securityContext: { privileged: true } } });
  assert.equal((priv['linux'] as Record<string, unknown>)['maskedPaths'], undefined);
  const privMounts = priv['mounts'] as { destination: string; options?: string[] }[];
  assert.ok(privMounts.find((m) => m.destination === '/sys')?.options?.includes('rw'));
});
