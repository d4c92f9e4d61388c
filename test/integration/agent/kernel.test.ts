// The agent's kernel adapter on the real kernel, in network namespaces this test creates:
// every step converges to the plan, changes nothing when run again, removes only what is
// ours (foreign rules, routes and neighbours stay), answers ARP for an EIP without making it
// a local address, and tears everything down.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Kernel, ROUTE_PROTO } from '../../../src/agent/kernel.ts';
import { renderNft } from '../../../src/agent/nft-render.ts';
import { planDatapath } from '../../../src/agent/planner.ts';
import { run } from '../../../src/common/exec.ts';
import { createLogger } from '../../../src/common/log.ts';
import { PLANNER_CONFIG, policyFixture, tunnelFixture } from '../../support/agent-fixtures.ts';

const NODE = `egwk-${process.pid}-n`;
const PEER = `egwk-${process.pid}-p`;
const BASE = 0x26000000;
const kernel = new Kernel({ log: createLogger('kernel-test', 'error'), netns: NODE });
const inNode = async (...args: string[]) => (await run('ip', ['netns', 'exec', NODE, ...args])).stdout;
const ipJson = async <T>(...args: string[]) => JSON.parse((await inNode('ip', '-j', ...args)) || '[]') as T[];

const vxlan = {
  name: 'egress.vxlan',
  vni: 100,
  port: 7789,
  parent: 'eth0',
  local: '172.30.0.1',
  mac: '66:00:00:00:00:01',
  addresses: ['192.200.0.1/16'],
};

before(async () => {
  await run('ip', ['netns', 'add', NODE]);
  await run('ip', ['netns', 'add', PEER]);
  await run('ip', ['-n', NODE, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1', 'netns', PEER]);
  await run('ip', ['-n', NODE, 'addr', 'add', '172.30.0.1/24', 'dev', 'eth0']);
  await run('ip', ['-n', PEER, 'addr', 'add', '172.30.0.254/24', 'dev', 'eth1']);
  for (const [ns, dev] of [
    [NODE, 'eth0'],
    [NODE, 'lo'],
    [PEER, 'eth1'],
    [PEER, 'lo'],
  ] as const)
    await run('ip', ['-n', ns, 'link', 'set', dev, 'up']);
  await run('ip', ['-n', NODE, 'route', 'add', 'default', 'via', '172.30.0.254']);
  await kernel.sysctl('net/ipv4/ip_forward', '1');
});

after(async () => {
  for (const ns of [NODE, PEER]) await run('ip', ['netns', 'del', ns]).catch(() => undefined);
});

test('kernel: the underlay is the default route device and its address', async () => {
  assert.deepEqual(await kernel.detectParent('defaultRouteInterface', [4]), {
    name: 'eth0',
    ipv4: '172.30.0.1',
  });
  assert.deepEqual(await kernel.detectParent('interface=eth0', [4]), { name: 'eth0', ipv4: '172.30.0.1' });
  await assert.rejects(kernel.detectParent('interface=-x', [4]), /invalid interface "-x"/);
});

test('kernel: tunnel device created once, kept when right, recreated when its VNI differs', async () => {
  type Link = { ifindex: number; address: string; flags: string[]; linkinfo: { info_data: { id: number } } };
  await kernel.applyVxlan(vxlan, [4]);
  const [first] = await ipJson<Link>('-d', 'link', 'show', 'dev', 'egress.vxlan');
  assert.equal(first?.address, vxlan.mac);
  assert.ok(first?.flags.includes('UP'));
  assert.equal(first?.linkinfo.info_data.id, 100);
  assert.equal((await inNode('cat', '/proc/sys/net/ipv4/conf/egress.vxlan/rp_filter')).trim(), '2');
  await kernel.applyVxlan(vxlan, [4]);
  const [again] = await ipJson<Link>('-d', 'link', 'show', 'dev', 'egress.vxlan');
  assert.equal(again?.ifindex, first?.ifindex, 'not recreated when nothing differs');
  await kernel.applyVxlan({ ...vxlan, vni: 101, addresses: ['192.200.0.9/16'] }, [4]);
  const [changed] = await ipJson<Link>('-d', 'link', 'show', 'dev', 'egress.vxlan');
  assert.notEqual(changed?.ifindex, first?.ifindex);
  assert.equal(changed?.linkinfo.info_data.id, 101);
  await kernel.applyVxlan(vxlan, [4]);
  const addrs = await ipJson<{ addr_info: { local: string; scope: string }[] }>(
    'addr',
    'show',
    'dev',
    'egress.vxlan',
  );
  assert.deepEqual(
    addrs[0]?.addr_info.filter((a) => a.scope === 'global').map((a) => a.local),
    ['192.200.0.1'],
  );
});

test('kernel: peers become permanent neighbours and FDB entries; gone peers are removed', async () => {
  const peer = (n: number) => ({
    node: `n${n}`,
    mac: `66:00:00:00:00:0${n}`,
    underlay: `172.30.0.${n}`,
    tunnelIps: [`192.200.0.${n}`],
  });
  await kernel.applyPeers('egress.vxlan', [peer(2), peer(3)]);
  const neigh = async () =>
    (await ipJson<{ dst: string; lladdr: string }>('neigh', 'show', 'dev', 'egress.vxlan'))
      .map((n) => `${n.dst} ${n.lladdr}`)
      .sort();
  const fdb = async () =>
    (
      JSON.parse(await inNode('bridge', '-j', 'fdb', 'show', 'dev', 'egress.vxlan')) as {
        mac: string;
        dst?: string;
      }[]
    )
      .filter((e) => e.dst)
      .map((e) => `${e.mac} ${e.dst}`)
      .sort();
  assert.deepEqual(await neigh(), ['192.200.0.2 66:00:00:00:00:02', '192.200.0.3 66:00:00:00:00:03']);
  assert.deepEqual(await fdb(), ['66:00:00:00:00:02 172.30.0.2', '66:00:00:00:00:03 172.30.0.3']);
  // peer 3 leaves, peer 2 moves to another underlay address
  await kernel.applyPeers('egress.vxlan', [{ ...peer(2), underlay: '172.30.0.22' }]);
  assert.deepEqual(await neigh(), ['192.200.0.2 66:00:00:00:00:02']);
  assert.deepEqual(await fdb(), ['66:00:00:00:00:02 172.30.0.22']);
});

test('kernel: one mark rule and tunnel route per peer; foreign rules stay', async () => {
  await inNode('ip', 'rule', 'add', 'fwmark', '0x1', 'lookup', '77', 'priority', '99');
  await inNode('ip', 'rule', 'add', 'fwmark', '0x26000009', 'lookup', '5', 'priority', '99');
  const routes = [2, 3].map((n) => ({
    family: 4 as const,
    mark: BASE + n,
    table: BASE + n,
    via: `192.200.0.${n}`,
  }));
  await kernel.applyRoutes('egress.vxlan', routes, BASE, [4]);
  const rules = async () =>
    (await ipJson<{ priority: number; fwmark?: string; table: string }>('rule', 'show'))
      .filter((r) => r.priority === 99)
      .map((r) => `${r.fwmark} ${r.table}`)
      .sort();
  assert.deepEqual(await rules(), ['0x1 77', `0x26000002 ${BASE + 2}`, `0x26000003 ${BASE + 3}`]);
  assert.equal(
    (await inNode('ip', 'route', 'show', 'table', String(BASE + 2))).trim(),
    'default via 192.200.0.2 dev egress.vxlan onlink',
  );
  await kernel.applyRoutes('egress.vxlan', routes.slice(0, 1), BASE, [4]);
  assert.deepEqual(await rules(), ['0x1 77', `0x26000002 ${BASE + 2}`]);
  assert.equal(
    (await inNode('ip', 'route', 'show', 'table', String(BASE + 3))).trim(),
    '',
    'stale table flushed',
  );
});

test('kernel: nft is applied once per change, or when forced', async () => {
  const text = 'table inet egressgateway\ndelete table inet egressgateway\ntable inet egressgateway {\n}\n';
  assert.equal(await kernel.applyNft(text), true);
  assert.equal(await kernel.applyNft(text), false);
  assert.equal(await kernel.applyNft(text, true), true);
  assert.match(await inNode('nft', 'list', 'tables'), /table inet egressgateway/);
});

test('kernel: a rendered plan with overlapping policies of both families loads', async () => {
  const plan = planDatapath(
    { ...PLANNER_CONFIG, markBase: BASE },
    {
      parent: { name: 'eth0', ipv4: '172.30.0.1' },
      tunnels: [tunnelFixture('a', 1, '172.30.0'), tunnelFixture('b', 2, '172.30.0')],
      policies: [
        policyFixture(
          'p1',
          'b',
          { priority: 1, destSubnet: ['8.8.8.0/24', '2001:db8::/32'] },
          '172.30.0.110',
        ),
        policyFixture('p2', 'a', {}, '172.30.0.110'),
        policyFixture('p3', 'a', {
          egressIP: { useNodeIP: true },
          appliedTo: { podSubnet: ['10.244.0.0/24'] },
        }),
      ],
      clusterPolicies: [],
      slices: ['p1', 'p2'].map((p) => ({
        policyKey: `default/${p}`,
        endpoints: [
          { node: 'a', ipv4: ['10.244.0.5'], ipv6: ['fd40::5'] },
          { node: 'b', ipv4: ['10.244.1.7'], ipv6: ['fd40:0:0:1::7'] },
        ],
      })),
    },
  );
  assert.equal(await kernel.applyNft(renderNft(plan, { markBase: BASE, vxlanName: 'egress.vxlan' })), true);
  const table = await inNode('nft', 'list', 'table', 'inet', 'egressgateway');
  assert.match(table, /ip saddr vmap @mark_src4/);
  assert.match(table, /snat ip6 to fd00::110/);
  assert.match(table, /masquerade comment "EgressPolicy default\/p3"/);
});

test('kernel: the EIP is answered by ARP on the uplink and is not a local address', async () => {
  await inNode('ip', 'route', 'add', '10.9.9.9/32', 'dev', 'lo');
  assert.deepEqual(await kernel.applyAnnounce('eth0', ['172.30.0.110'], [4]), ['172.30.0.110']);
  assert.deepEqual(
    await kernel.applyAnnounce('eth0', ['172.30.0.110'], [4]),
    [],
    'nothing new the second time',
  );
  // From the segment: ARP for the EIP gets the node's uplink MAC.
  const [eth0] = await ipJson<{ address: string }>('link', 'show', 'dev', 'eth0');
  const arp = await run(
    'ip',
    ['netns', 'exec', PEER, 'arping', '-c', '1', '-w', '2', '-i', 'eth1', '172.30.0.110'],
    {
      okCodes: [0, 1],
    },
  );
  assert.equal(arp.code, 0, arp.stdout);
  assert.match(arp.stdout.toLowerCase(), new RegExp(eth0!.address));
  const local = await ipJson<{ dst: string }>('route', 'show', 'table', 'local');
  assert.ok(!local.some((r) => r.dst === '172.30.0.110'), 'the EIP is not local');
  assert.match(await inNode('ip', 'route', 'show', 'proto', String(ROUTE_PROTO)), /172\.30\.0\.110 dev lo/);
  // withdrawn: route and proxy entry gone, the foreign lo route stays
  await kernel.applyAnnounce('eth0', [], [4]);
  assert.equal((await inNode('ip', 'route', 'show', 'proto', String(ROUTE_PROTO))).trim(), '');
  assert.equal((await inNode('ip', 'neigh', 'show', 'proxy')).trim(), '');
  assert.match(await inNode('ip', 'route', 'show', 'dev', 'lo'), /10\.9\.9\.9/);
});

test("kernel: a takeover overrides a neighbour's stale entry for the EIP: gratuitous ARP and unsolicited NA", async () => {
  // The segment still believes the old holder (another MAC) has the EIPs.
  const OLD = '02:00:00:00:00:99';
  await run('ip', ['-n', NODE, 'addr', 'add', 'fd30::1/64', 'dev', 'eth0', 'nodad']);
  await run('ip', ['-n', PEER, 'addr', 'add', 'fd30::fe/64', 'dev', 'eth1', 'nodad']);
  for (const [ip, v] of [
    ['172.30.0.112', '-4'],
    ['fd30::112', '-6'],
  ] as const)
    await run('ip', [
      '-n',
      PEER,
      v,
      'neigh',
      'replace',
      ip,
      'lladdr',
      OLD,
      'dev',
      'eth1',
      'nud',
      'reachable',
    ]);
  const [eth0] = await ipJson<{ address: string }>('link', 'show', 'dev', 'eth0');
  const peerEntry = async (ip: string) =>
    (
      JSON.parse(
        (await run('ip', ['-n', PEER, '-j', 'neigh', 'show', 'to', ip, 'dev', 'eth1'])).stdout || '[]',
      ) as {
        lladdr?: string;
      }[]
    )[0]?.lladdr;
  await kernel.announceTakeover('eth0', 'fd30::112');
  assert.equal(await peerEntry('fd30::112'), eth0!.address, 'the NA replaced the old MAC');
  await kernel.announceTakeover('eth0', '172.30.0.112');
  assert.equal(await peerEntry('172.30.0.112'), eth0!.address, 'the gratuitous ARP replaced the old MAC');
  await assert.rejects(kernel.announceTakeover('eth0', 'fd30::112; reboot'), /invalid EIP/);
  await assert.rejects(kernel.announceTakeover('-x', 'fd30::112'), /invalid interface/);
});

test('kernel: teardown removes everything of ours and nothing else', async () => {
  await kernel.applyAnnounce('eth0', ['172.30.0.111'], [4]);
  await kernel.teardown('egress.vxlan', BASE, [4], 'eth0');
  assert.equal(
    (await run('ip', ['-n', NODE, 'link', 'show', 'dev', 'egress.vxlan'], { okCodes: [1] })).code,
    1,
  );
  assert.doesNotMatch(await inNode('nft', 'list', 'tables'), /egressgateway/);
  const rules = await ipJson<{ priority: number; fwmark?: string }>('rule', 'show');
  assert.deepEqual(
    rules.filter((r) => r.priority === 99).map((r) => r.fwmark),
    ['0x1'],
  );
  assert.equal((await inNode('ip', 'route', 'show', 'proto', String(ROUTE_PROTO))).trim(), '');
  assert.match(await inNode('ip', 'route', 'show', 'dev', 'lo'), /10\.9\.9\.9/);
  // teardown of nothing is fine (a node that never had a datapath)
  await kernel.teardown('egress.vxlan', BASE, [4], 'eth0');
});
