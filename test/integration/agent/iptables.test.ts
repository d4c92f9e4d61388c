// The iptables + ipset backend on the real kernel, in network namespaces this test creates:
// two nodes joined by our VXLAN tunnel, pods on both, an external echo server, and a
// Calico-style masquerade for pod traffic inserted at the top of nat POSTROUTING (as Felix's
// default chainInsertMode does); IPv4 and IPv6. For iptables-nft and iptables-legacy:
// selected pods on the non-gateway node and on the gateway leave with the EIP (the server
// sees it), a destSubnet policy captures only its destinations, changes swap sets in; then
// switching to nftables and back leaves nothing of the other backend, and removal leaves
// nothing of ours.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import { chooseBackend, chooseVariant, removeOtherBackends } from '../../../src/agent/backend-choice.ts';
import { IptablesBackend, type IptVariant, nsExec } from '../../../src/agent/iptables.ts';
import { Kernel } from '../../../src/agent/kernel.ts';
import { NftBackend } from '../../../src/agent/packet-backend.ts';
import { type DatapathInput, planDatapath } from '../../../src/agent/planner.ts';
import { ConfigError } from '../../../src/common/config.ts';
import { run } from '../../../src/common/exec.ts';
import { createLogger } from '../../../src/common/log.ts';
import { PLANNER_CONFIG, policyFixture, tunnelFixture } from '../../support/agent-fixtures.ts';

const tag = `egwi${process.pid}`;
const NS = {
  u: `${tag}-u`,
  a: `${tag}-a`,
  b: `${tag}-b`,
  x: `${tag}-x`,
  pa: `${tag}-pa`,
  pa2: `${tag}-pa2`,
  pb: `${tag}-pb`,
};
const log = createLogger('iptables-test', 'error');
const BASE = 0x26000000;
const render = { markBase: BASE, vxlanName: 'egress.vxlan' };
const kernel = { a: new Kernel({ log, netns: NS.a }), b: new Kernel({ log, netns: NS.b }) };
const exec = { a: nsExec(NS.a), b: nsExec(NS.b) };
const ip = (...args: string[]) => run('ip', args);
const inNs = async (ns: string, ...args: string[]) =>
  (await run('ip', ['netns', 'exec', ns, ...args])).stdout;
let server: ChildProcess | undefined;

/** What the external server saw as the source of a request from a pod (IPv4 or IPv6). */
const seenFrom = async (pod: string, family: 4 | 6 = 4) =>
  (
    await run(
      'ip',
      [
        'netns',
        'exec',
        pod,
        'curl',
        '-sS',
        '-m',
        '3',
        family === 4 ? 'http://172.30.0.92:8080/' : 'http://[fd00:30::92]:8080/',
      ],
      { okCodes: [0, 7, 28] },
    )
  ).stdout.trim();

/** A pod: veth to its node, one address per family, default routes via the node side. */
async function wire(pod: string, node: string, hostIf: string, n: number, last: number): Promise<void> {
  await ip('-n', node, 'link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pod);
  for (const [ns, dev, v4, v6] of [
    [node, hostIf, `10.244.${n}.1/24`, `fd40:0:0:${n}::1/64`],
    [pod, 'eth0', `10.244.${n}.${last}/24`, `fd40:0:0:${n}::${last}/64`],
  ] as const) {
    await ip('-n', ns, 'addr', 'add', v4, 'dev', dev);
    await ip('-n', ns, '-6', 'addr', 'add', v6, 'dev', dev, 'nodad');
    await ip('-n', ns, 'link', 'set', dev, 'up');
  }
  await ip('-n', pod, 'link', 'set', 'lo', 'up');
  await ip('-n', pod, 'route', 'add', 'default', 'via', `10.244.${n}.1`);
  await ip('-n', pod, '-6', 'route', 'add', 'default', 'via', `fd40:0:0:${n}::1`);
}

before(async () => {
  for (const ns of Object.values(NS)) await ip('netns', 'add', ns);
  await ip('-n', NS.u, 'link', 'add', 'br0', 'type', 'bridge');
  await ip('-n', NS.u, 'link', 'set', 'br0', 'up');
  for (const [name, ns, n] of [
    ['a', NS.a, 1],
    ['b', NS.b, 2],
    ['x', NS.x, 92],
  ] as const) {
    await ip('-n', NS.u, 'link', 'add', `up-${name}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    await ip('-n', NS.u, 'link', 'set', `up-${name}`, 'master', 'br0', 'up');
    await ip('-n', ns, 'addr', 'add', `172.30.0.${n}/24`, 'dev', 'eth0');
    await ip('-n', ns, '-6', 'addr', 'add', `fd00:30::${n}/64`, 'dev', 'eth0', 'nodad');
    await ip('-n', ns, 'link', 'set', 'eth0', 'up');
    await ip('-n', ns, 'link', 'set', 'lo', 'up');
  }
  await wire(NS.pa, NS.a, 'pa', 0, 5);
  await wire(NS.pa2, NS.a, 'pa2', 2, 6);
  await wire(NS.pb, NS.b, 'pb', 1, 7);
  // pod routes between the nodes over the underlay, as Calico without overlay does
  await ip('-n', NS.a, 'route', 'add', '10.244.1.0/24', 'via', '172.30.0.2');
  await ip('-n', NS.a, '-6', 'route', 'add', 'fd40:0:0:1::/64', 'via', 'fd00:30::2');
  for (const net of ['fd40::/64', 'fd40:0:0:2::/64'])
    await ip('-n', NS.b, '-6', 'route', 'add', net, 'via', 'fd00:30::1');
  for (const net of ['10.244.0.0/24', '10.244.2.0/24'])
    await ip('-n', NS.b, 'route', 'add', net, 'via', '172.30.0.1');
  for (const k of [kernel.a, kernel.b]) {
    await k.sysctl('net/ipv4/ip_forward', '1');
    await k.sysctl('net/ipv6/conf/all/forwarding', '1');
  }
  // the gateway answers NDP for its IPv6 EIPs at once
  await kernel.b.sysctl('net/ipv6/conf/eth0/proxy_ndp', '1');
  await kernel.b.sysctl('net/ipv6/neigh/eth0/proxy_delay', '0');
  server = spawn(
    'ip',
    [
      'netns',
      'exec',
      NS.x,
      process.execPath,
      '-e',
      "require('node:http').createServer((q,s)=>s.end('Remote IP: '+q.socket.remoteAddress.replace(/^::ffff:/,''))).listen(8080,'::')",
    ],
    { stdio: 'ignore' },
  );
  for (let i = 0; i < 50 && !(await inNs(NS.x, 'ss', '-ltn')).includes(':8080'); i++)
    await new Promise((r) => setTimeout(r, 100));
});

after(async () => {
  if (server?.pid) process.kill(server.pid);
  for (const ns of Object.values(NS)) await ip('netns', 'del', ns).catch(() => undefined);
});

/** Node `node`'s plan: policy `sel` (pods pa, pb; EIP .110) and `narrow` (pa2 to `narrowDst`; EIP .111), both on b. */
/** The narrow policy's destinations: a network elsewhere, or the server. */
const NARROW = { elsewhere: ['10.99.0.0/16', 'fd99::/16'], server: ['172.30.0.92/32', 'fd00:30::92/128'] };
type Narrow = keyof typeof NARROW;
const placed = (p: ReturnType<typeof policyFixture>, eip: number) => ({
  ...p,
  status: { node: 'b', eip: { ipv4: `172.30.0.${eip}`, ipv6: `fd00:30::${eip}` } },
});

function planFor(node: 'a' | 'b', narrowDst: Narrow, narrow = true) {
  const input: DatapathInput = {
    parent: { name: 'eth0', ipv4: node === 'a' ? '172.30.0.1' : '172.30.0.2' },
    tunnels: [tunnelFixture('a', 1, '172.30.0'), tunnelFixture('b', 2, '172.30.0')],
    policies: [
      placed(policyFixture('sel', 'b'), 110),
      ...(narrow ? [placed(policyFixture('narrow', 'b', { destSubnet: NARROW[narrowDst] }), 111)] : []),
    ],
    clusterPolicies: [],
    slices: [
      {
        policyKey: 'default/sel',
        endpoints: [
          { node: 'a', ipv4: ['10.244.0.5'], ipv6: ['fd40::5'] },
          { node: 'b', ipv4: ['10.244.1.7'], ipv6: ['fd40:0:0:1::7'] },
        ],
      },
      {
        policyKey: 'default/narrow',
        endpoints: [{ node: 'a', ipv4: ['10.244.2.6'], ipv6: ['fd40:0:0:2::6'] }],
      },
    ],
    clusterInfo: {
      metadata: { name: 'default' },
      status: {
        podCIDR: { k8s: { ipv4: ['10.244.0.0/16'], ipv6: ['fd40::/48'] } },
        nodeIP: {
          a: { ipv4: ['172.30.0.1'], ipv6: ['fd00:30::1'] },
          b: { ipv4: ['172.30.0.2'], ipv6: ['fd00:30::2'] },
        },
      },
    },
  };
  return planDatapath(
    {
      ...PLANNER_CONFIG,
      node,
      families: { ipv4: true, ipv6: true },
      tunnelSubnets: { ipv4: '192.200.0.0/16', ipv6: 'fd11::/112' },
    },
    input,
  );
}

/** Tunnel, peers, routes and announcements of both nodes (the parts that are not packet rules). */
async function links(narrowDst: Narrow): Promise<void> {
  for (const n of ['a', 'b'] as const) {
    const p = planFor(n, narrowDst);
    assert.ok(p.vxlan, `node ${n} has a tunnel plan`);
    await kernel[n].applyVxlan(p.vxlan, [4, 6]);
    await kernel[n].applyPeers(p.vxlan.name, p.peers);
    await kernel[n].applyRoutes(p.vxlan.name, p.routes, BASE, [4, 6]);
    await kernel[n].applyAnnounce('eth0', p.announce, [4, 6]);
  }
}

/** The Calico-style masquerade of pod traffic, at the top of nat POSTROUTING. */
async function calico(node: string, variant: IptVariant, on: boolean): Promise<void> {
  for (const [tool, pods] of [
    ['iptables', '10.244.0.0/16'],
    ['ip6tables', 'fd40::/48'],
  ] as const) {
    const rules = on
      ? [
          '*nat',
          ':cali-nat-outgoing - [0:0]',
          `-A cali-nat-outgoing -s ${pods} ! -d ${pods} -j MASQUERADE`,
          '-I POSTROUTING 1 -j cali-nat-outgoing',
          'COMMIT',
        ]
      : [
          '*nat',
          ':cali-nat-outgoing - [0:0]',
          '-D POSTROUTING -j cali-nat-outgoing',
          '-X cali-nat-outgoing',
          'COMMIT',
        ];
    await run('ip', ['netns', 'exec', node, `${tool}-${variant}-restore`, '--noflush', '-w', '5'], {
      input: `${rules.join('\n')}\n`,
    });
  }
}

const ours = async (node: string) => {
  const out: string[] = [];
  for (const v of ['nft', 'legacy'])
    for (const f of ['iptables', 'ip6tables']) {
      const text = await inNs(node, `${f}-${v}-save`);
      out.push(
        ...text
          .split('\n')
          .filter((l) => /EGW-|egw[46]-/.test(l))
          .map((l) => `${f}-${v}: ${l}`),
      );
    }
  out.push(
    ...(await inNs(node, 'ipset', 'list', '-n'))
      .split('\n')
      .filter(Boolean)
      .map((s) => `ipset: ${s}`),
  );
  if ((await inNs(node, 'nft', 'list', 'tables')).includes('egressgateway')) out.push('nft table');
  return out;
};
const countersOff = (text: string) => text.replace(/\[\d+:\d+\]/g, '').replace(/^#.*$/gm, '');

for (const variant of ['nft', 'legacy'] as const) {
  test(`iptables-${variant}: pods leave with the EIP through the tunnel; destSubnet; updates; removal`, async () => {
    const backend = {
      a: new IptablesBackend({ log, exec: exec.a, variant, families: [4, 6], render }),
      b: new IptablesBackend({ log, exec: exec.b, variant, families: [4, 6], render }),
    };
    for (const n of [NS.a, NS.b]) await calico(n, variant, true);
    assert.equal(
      (await chooseVariant(exec.a, 'auto')).variant,
      variant,
      'auto follows the rules already there',
    );
    await links('elsewhere');
    for (const n of ['a', 'b'] as const) assert.equal(await backend[n].apply(planFor(n, 'elsewhere')), true);
    assert.equal(
      await seenFrom(NS.pa),
      'Remote IP: 172.30.0.110',
      'pod on the other node, through the tunnel',
    );
    assert.equal(await seenFrom(NS.pb), 'Remote IP: 172.30.0.110', 'pod on the gateway node');
    assert.equal(await seenFrom(NS.pa2), 'Remote IP: 172.30.0.1', 'destination not listed: the node address');
    assert.equal(await seenFrom(NS.pa, 6), 'Remote IP: fd00:30::110', 'IPv6, through the tunnel');
    assert.equal(await seenFrom(NS.pb, 6), 'Remote IP: fd00:30::110', 'IPv6, on the gateway node');
    assert.equal(await seenFrom(NS.pa2, 6), 'Remote IP: fd00:30::1', 'IPv6, destination not listed');
    // the tunnel carried pa's traffic with the base mark (the mark-loop guard) and no NAT
    const save = await inNs(NS.a, `iptables-${variant}-save`, '-c', '-t', 'nat');
    assert.match(
      save,
      /\[[1-9]\d*:\d+\] -A EGW-POSTROUTING -o egress\.vxlan -m mark --mark 0x26000000 -j NETMAP/,
    );
    // nothing changed: nothing written; forced: rewritten to the same rules
    const before = countersOff(await inNs(NS.a, `iptables-${variant}-save`));
    assert.equal(await backend.a.apply(planFor('a', 'elsewhere')), false);
    assert.equal(await backend.a.apply(planFor('a', 'elsewhere'), true), true);
    assert.equal(countersOff(await inNs(NS.a, `iptables-${variant}-save`)), before);
    assert.equal((before.match(/-j EGW-POSTROUTING/g) ?? []).length, 1, 'one jump');
    // the narrow policy now lists the server: its pod leaves with its own EIP
    await links('server');
    for (const n of ['a', 'b'] as const) await backend[n].apply(planFor(n, 'server'));
    assert.equal(await seenFrom(NS.pa2), 'Remote IP: 172.30.0.111', 'destination listed');
    assert.equal(await seenFrom(NS.pa2, 6), 'Remote IP: fd00:30::111', 'IPv6, destination listed');
    assert.equal(await seenFrom(NS.pa), 'Remote IP: 172.30.0.110');
    // the gateway no longer SNATs pa2 (its view changed first): the tunnel guard drops
    // pa2's requests instead of letting them leave with the gateway's own address
    await backend.b.apply(planFor('b', 'server', false));
    assert.equal(await seenFrom(NS.pa2), '', 'dropped, never leaked');
    // Calico in chainInsertMode Insert: its jump goes (back) to the top, before ours; the next
    // write of our chains finds it there and says so
    assert.deepEqual(backend.a.calicoAhead(), []);
    await run('ip', ['netns', 'exec', NS.a, `iptables-${variant}-restore`, '--noflush', '-w', '5'], {
      input: '*nat\n:cali-POSTROUTING - [0:0]\n-I POSTROUTING 1 -j cali-POSTROUTING\nCOMMIT\n',
    });
    await backend.a.apply(planFor('a', 'server'), true);
    assert.deepEqual(backend.a.calicoAhead(), ['IPv4 nat POSTROUTING → cali-POSTROUTING']);
    await run('ip', ['netns', 'exec', NS.a, `iptables-${variant}-restore`, '--noflush', '-w', '5'], {
      input:
        '*nat\n:cali-POSTROUTING - [0:0]\n-D POSTROUTING -j cali-POSTROUTING\n-X cali-POSTROUTING\nCOMMIT\n',
    });
    for (const n of ['a', 'b'] as const) {
      await backend[n].remove();
      assert.deepEqual(await ours(n === 'a' ? NS.a : NS.b), [], `node ${n}: nothing of ours left`);
    }
    assert.match(
      await inNs(NS.a, `iptables-${variant}-save`, '-t', 'nat'),
      /-A POSTROUTING -j cali-nat-outgoing/,
    );
    assert.equal(await seenFrom(NS.pa), 'Remote IP: 172.30.0.1', 'without us: the CNI masquerade');
    for (const n of [NS.a, NS.b]) await calico(n, variant, false);
  });
}

test('switching backends leaves nothing of the other one', async () => {
  const choice = (mode: 'iptables' | 'nftables', backendMode: 'nft' | 'legacy' = 'nft') => ({
    mode,
    iptables: { backendMode, lockFilePath: `/run/${tag}.lock` },
    kernel: kernel.a,
    exec: exec.a,
    log,
    families: [4 as const],
    render,
  });
  await links('server');
  const ipt = new IptablesBackend({ log, exec: exec.a, variant: 'legacy', families: [4, 6], render });
  await ipt.apply(planFor('a', 'server'));
  const nft = new NftBackend(kernel.a, render);
  assert.deepEqual(await removeOtherBackends(choice('nftables'), nft), [
    '12 iptables-legacy chains',
    '12 ipsets',
  ]);
  await nft.apply(planFor('a', 'server'));
  assert.deepEqual(await ours(NS.a), ['nft table']);
  // back to iptables (nft variant): the nft table goes, and so would legacy leftovers
  const back = await chooseBackend(choice('iptables'));
  assert.equal(back.backend.name, 'iptables');
  assert.deepEqual(await removeOtherBackends(choice('iptables'), back.backend), ['nftables table']);
  await back.backend.apply(planFor('a', 'server'));
  assert.ok((await ours(NS.a)).every((l) => l.startsWith('iptables-nft') || l.startsWith('ipset')));
  await back.backend.remove();
  assert.deepEqual(await ours(NS.a), []);
});

test('datapathMode: auto takes nftables where it loads, iptables where it does not; forced modes fail clearly', async () => {
  const opts = (mode: 'auto' | 'nftables' | 'iptables', k: Kernel) => ({
    mode,
    iptables: { backendMode: 'auto' as const, lockFilePath: '/run/xtables.lock' },
    kernel: k,
    exec: exec.a,
    log,
    families: [4 as const, 6 as const],
    render,
  });
  const auto = await chooseBackend(opts('auto', kernel.a));
  assert.equal(auto.backend.name, 'nftables', auto.why);
  // a node whose nft cannot load our table (here: an nft that fails every command)
  const broken = new Kernel({ log, netns: NS.a, bin: { nft: 'false' } });
  const fallback = await chooseBackend(opts('auto', broken));
  assert.equal(fallback.backend.name, 'iptables');
  assert.match(fallback.why, /cannot load our nftables table/);
  await assert.rejects(chooseBackend(opts('nftables', broken)), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, /feature\.datapathMode: nftables was asked for/);
    return true;
  });
  assert.equal((await chooseBackend(opts('iptables', kernel.a))).backend.name, 'iptables');
  assert.deepEqual(await ours(NS.a), [], 'probes leave nothing behind');
});
