// Per-packet cost of policy classification on the real kernel: TCP throughput through a
// forwarding "node" namespace that holds 1000 egress policies, rendered our way by the
// nftables backend (a verdict map on the source jumps to that source's policy group), the
// linear way upstream does it (one rule per policy, scanned in order; the client's policy
// is last), and by the iptables + ipset backend (iptables-nft and iptables-legacy; and with
// a destSubnet on every policy, its linear case). Measured side by side in rounds against
// the same node with no policy at all; plus the iptables backend's apply times. Root only;
// everything lives in namespaces this bench creates and removes.
import { spawn } from 'node:child_process';
import { IptablesBackend, type IptVariant, nsExec } from '../src/agent/iptables.ts';
import { renderNft } from '../src/agent/nft-render.ts';
import { type DatapathInput, type DatapathPlan, planDatapath } from '../src/agent/planner.ts';
import { run } from '../src/common/exec.ts';
import { createLogger } from '../src/common/log.ts';
import type { BenchResult } from './lib.ts';

const POLICIES = Number(process.env['EGW_DATAPATH_POLICIES'] ?? 1000);
const SECONDS = Number(process.env['EGW_DATAPATH_SECONDS'] ?? 2);
const ROUNDS = Number(process.env['EGW_DATAPATH_ROUNDS'] ?? 3);
const tag = `egwb${process.pid}`;
const C = `${tag}-c`;
const N = `${tag}-n`;
const S = `${tag}-s`;
const CLIENT = '10.244.200.5';
const MARK = 0x26000002;

const inNs = (ns: string, args: string[], input?: string) =>
  run('ip', ['netns', 'exec', ns, ...args], input === undefined ? {} : { input });

async function topology(): Promise<void> {
  for (const ns of [C, N, S]) await run('ip', ['netns', 'add', ns]);
  await run('ip', ['-n', C, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'pod', 'netns', N]);
  await run('ip', ['-n', N, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', S]);
  await run('ip', ['-n', C, 'addr', 'add', `${CLIENT}/16`, 'dev', 'eth0']);
  await run('ip', ['-n', N, 'addr', 'add', '10.244.0.1/16', 'dev', 'pod']);
  await run('ip', ['-n', N, 'addr', 'add', '10.77.0.1/24', 'dev', 'eth0']);
  await run('ip', ['-n', S, 'addr', 'add', '10.77.0.2/24', 'dev', 'eth0']);
  for (const [ns, dev] of [
    [C, 'eth0'],
    [C, 'lo'],
    [N, 'pod'],
    [N, 'eth0'],
    [N, 'lo'],
    [S, 'eth0'],
    [S, 'lo'],
  ] as const)
    await run('ip', ['-n', ns, 'link', 'set', dev, 'up']);
  await run('ip', ['-n', C, 'route', 'add', 'default', 'via', '10.244.0.1']);
  await run('ip', ['-n', S, 'route', 'add', '10.244.0.0/16', 'via', '10.77.0.1']);
  await inNs(N, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
}

/** 1000 policies of 10 pods each, carried by another node; the client is in the last one. */
function policiesInput(): DatapathInput {
  const tunnel = (node: string, n: number) => ({
    metadata: { name: node },
    status: {
      mark: `0x${(0x26000000 + n).toString(16)}`,
      tunnel: { ipv4: `192.200.0.${n}`, mac: `66:00:00:00:00:0${n}`, parent: { ipv4: `172.22.0.${n}` } },
    },
  });
  const policies = Array.from({ length: POLICIES }, (_, i) => ({
    metadata: { name: `p${String(i).padStart(5, '0')}`, namespace: 'default' },
    spec: { appliedTo: { podSelector: {} } },
    status: { node: 'b', eip: { ipv4: '172.22.0.110' } },
  }));
  const slices = policies.map((p, i) => ({
    policyKey: `default/${p.metadata.name}`,
    endpoints: Array.from({ length: 10 }, (_, k) => ({
      node: 'a',
      ipv4: [i === POLICIES - 1 && k === 0 ? CLIENT : `10.${100 + (i >> 8)}.${i & 255}.${k + 1}`],
    })),
  }));
  return {
    parent: { name: 'eth0', ipv4: '172.22.0.1' },
    tunnels: [tunnel('a', 1), tunnel('b', 2)],
    policies,
    clusterPolicies: [],
    slices,
    clusterInfo: {
      metadata: { name: 'default' },
      status: { podCIDR: { k8s: { ipv4: ['10.250.0.0/16'] } }, clusterIP: { ipv4: ['10.96.0.0/16'] } },
    },
  };
}

/** Upstream's shape: one rule per policy, each with its own source set, scanned in order. */
function linearTable(input: DatapathInput): string {
  const lines = [
    'table inet egressgateway',
    'delete table inet egressgateway',
    'table inet egressgateway {',
    '\tset cluster4 { type ipv4_addr; flags interval; elements = { 10.96.0.0/16, 10.250.0.0/16 } }',
  ];
  const rules: string[] = [];
  input.slices.forEach((s, i) => {
    const ips = s.endpoints.flatMap((e) => e.ipv4 ?? []);
    lines.push(`\tset src${i} { type ipv4_addr; flags interval; elements = { ${ips.join(', ')} } }`);
    rules.push(
      `\t\tip saddr @src${i} ip daddr != @cluster4 ct direction original meta mark set ${MARK} accept`,
    );
  });
  lines.push('\tchain egress_mark {', '\t\ttype filter hook prerouting priority mangle - 5; policy accept;');
  lines.push(...rules, '\t}', '}');
  return `${lines.join('\n')}\n`;
}

async function throughput(): Promise<number> {
  const r = await inNs(C, ['iperf3', '-c', '10.77.0.2', '-t', String(SECONDS), '-J']);
  const j = JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } };
  return j.end.sum_received.bits_per_second / 1e9;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const iptables = (variant: IptVariant) =>
  new IptablesBackend({
    log: createLogger('bench', 'error'),
    exec: nsExec(N),
    variant,
    families: [4],
    render: { markBase: 0x26000000, vxlanName: 'egress.vxlan' },
  });

/** Throughput with the iptables backend carrying `plan` (and an empty nft table of ours). */
async function iptablesThroughput(variant: IptVariant, plan: DatapathPlan, none: string): Promise<number> {
  await inNs(N, ['nft', '-f', '-'], none);
  const b = iptables(variant);
  await b.apply(plan, true);
  // the client must be classified, or the comparison measures nothing
  await inNs(N, ['ipset', 'test', 'egw4-mark', CLIENT]);
  try {
    return await throughput();
  } finally {
    await b.remove();
  }
}

/** Full apply of the iptables backend, then one pod added (ms). */
async function iptablesApplyTimes(plan: DatapathPlan, plus: DatapathPlan): Promise<[number, number]> {
  const b = iptables('nft');
  const t0 = performance.now();
  await b.apply(plan, true);
  const t1 = performance.now();
  await b.apply(plus);
  const t2 = performance.now();
  await b.remove();
  return [t1 - t0, t2 - t1];
}

export default async function (): Promise<BenchResult[]> {
  if (process.getuid?.() !== 0)
    return [{ name: 'datapath classification', unit: 'skipped', value: 0, notes: 'needs root' }];
  let server: ReturnType<typeof spawn> | undefined;
  try {
    await topology();
    server = spawn('ip', ['netns', 'exec', S, 'iperf3', '-s'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 500));
    const input = policiesInput();
    const config = {
      node: 'a',
      families: { ipv4: true, ipv6: false },
      vxlan: { name: 'egress.vxlan', id: 100, port: 7789 },
      markBase: 0x26000000,
      tunnelSubnets: { ipv4: '192.200.0.0/16' },
    };
    const ours = renderNft(planDatapath(config, input), { markBase: 0x26000000, vxlanName: 'egress.vxlan' });
    const none = renderNft(planDatapath(config, { ...input, policies: [], slices: [] }), {
      markBase: 0x26000000,
      vxlanName: 'egress.vxlan',
    });
    const linear = linearTable(input);
    // both tables must classify the client, or the comparison measures nothing
    if (!ours.includes(`${CLIENT} : jump`) || !linear.includes(CLIENT))
      throw new Error(`the client ${CLIENT} is not in the rendered policies`);
    const tables = { none, ours, linear };
    const plan = planDatapath(config, input);
    // every policy with a destSubnet: no source decides alone (one rule per source group)
    const withDest = planDatapath(config, {
      ...input,
      policies: input.policies.map((p) => ({ ...p, spec: { ...p.spec!, destSubnet: ['10.77.0.0/24'] } })),
    });
    const ipt = {
      iptNft: () => iptablesThroughput('nft', plan, none),
      iptLegacy: () => iptablesThroughput('legacy', plan, none),
      iptDest: () => iptablesThroughput('nft', withDest, none),
    };
    const gbps: Record<keyof typeof tables | keyof typeof ipt, number[]> = {
      none: [],
      ours: [],
      linear: [],
      iptNft: [],
      iptLegacy: [],
      iptDest: [],
    };
    for (let round = 0; round < ROUNDS; round++) {
      for (const k of Object.keys(tables) as (keyof typeof tables)[]) {
        await inNs(N, ['nft', '-f', '-'], tables[k]);
        gbps[k].push(await throughput());
      }
      for (const k of Object.keys(ipt) as (keyof typeof ipt)[]) gbps[k].push(await ipt[k]());
    }
    const plus = planDatapath(config, {
      ...input,
      slices: input.slices.map((s, i) =>
        i === 0 ? { ...s, endpoints: [...s.endpoints, { node: 'a', ipv4: ['10.99.0.1'] }] } : s,
      ),
    });
    const [fullMs, podMs] = await iptablesApplyTimes(plan, plus);
    const m = { none: median(gbps.none), ours: median(gbps.ours), linear: median(gbps.linear) };
    const iptRow = (k: keyof typeof ipt, what: string): BenchResult => ({
      name: `TCP throughput through a node with ${POLICIES} policies, iptables backend: ${what}`,
      unit: 'Gbit/s',
      value: median(gbps[k]),
      baseline: { name: 'same node, no policy', value: m.none },
      ratio: median(gbps[k]) / m.none,
      notes: `median of ${ROUNDS} rounds; all rounds ${gbps[k].map((x) => x.toFixed(2)).join('/')}`,
    });
    const pods = input.slices.reduce((n, s) => n + s.endpoints.length, 0);
    return [
      iptRow('iptNft', 'iptables-nft, source → mark map (SET --map-mark)'),
      iptRow('iptLegacy', 'iptables-legacy, source → mark map (SET --map-mark)'),
      iptRow(
        'iptDest',
        "iptables-nft, every policy with a destSubnet (one rule per source group, client's last)",
      ),
      {
        name: `iptables backend: full apply of ${POLICIES} policies × ${pods} pod IPs (ipset restore + iptables-restore)`,
        unit: 'ms',
        value: fullMs,
      },
      {
        name: 'iptables backend: one pod added → kernel updated (its set entries added, no iptables-restore)',
        unit: 'ms',
        value: podMs,
      },
      {
        name: `TCP throughput through a node with ${POLICIES} policies, grouped verdict map (ours)`,
        unit: 'Gbit/s',
        value: m.ours,
        baseline: { name: 'same node, no policy', value: m.none },
        ratio: m.ours / m.none,
        notes: `median of ${ROUNDS} rounds of ${SECONDS} s; all rounds ${gbps.ours.map((x) => x.toFixed(2)).join('/')}`,
      },
      {
        name: `TCP throughput through a node with ${POLICIES} policies, one rule per policy (upstream's shape, client's policy last)`,
        unit: 'Gbit/s',
        value: m.linear,
        baseline: { name: 'same node, no policy', value: m.none },
        ratio: m.linear / m.none,
        notes: `median of ${ROUNDS} rounds; all rounds ${gbps.linear.map((x) => x.toFixed(2)).join('/')}`,
      },
      {
        name: 'grouped verdict map vs one rule per policy',
        unit: 'ratio of throughput',
        value: m.ours / m.linear,
        notes: '> 1: ours forwards more per second with the same 1000 policies',
      },
    ];
  } finally {
    // our own iperf3 server, by its PID (`ip netns exec` execs it in place)
    if (server?.pid && server.exitCode === null) process.kill(server.pid, 'SIGTERM');
    for (const ns of [C, N, S]) await run('ip', ['netns', 'del', ns]).catch(() => undefined);
  }
}
