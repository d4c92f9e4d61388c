// The thin adapter between a datapath plan and the kernel: reads with `ip -j`/`bridge -j`,
// writes in batches (`ip -batch -`, `bridge -batch -`, `nft -f -`), argument arrays only.
// Every step reads what is there and changes only the difference, so it is idempotent and
// an agent restart touches nothing that is already right (no traffic lost). Only what we
// own is removed: rules at our priority with a node mark, routes with our protocol number,
// permanent entries on our own device, our own nft table.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { assertSafeName, type RunOptions, run } from '../common/exec.ts';
import type { Family } from '../common/ip.ts';
import { canonicalIp, familyOf } from '../common/ip.ts';
import type { Logger } from '../common/log.ts';
import { NFT_TABLE } from './nft-render.ts';
import type { MarkRoute, ParentInterface, PeerPlan, VxlanPlan } from './planner.ts';

/** `ip rule` priority of the per-node mark rules (upstream's value). */
export const RULE_PRIORITY = 99;
/** route protocol number that marks our EIP routes (`dev lo`), so we find them after a restart */
export const ROUTE_PROTO = 114;

export interface KernelOptions {
  log: Logger;
  /** a network namespace to work in (tests); default: the process's own */
  netns?: string;
  bin?: Partial<Record<Tool, string>>;
}

interface LinkJson {
  ifname: string;
  address?: string;
  flags?: string[];
  linkinfo?: {
    info_kind?: string;
    info_data?: {
      id?: number;
      local?: string;
      local6?: string;
      link?: string;
      port?: number;
      learning?: boolean;
    };
  };
}
interface AddrJson {
  addr_info?: { family: string; local: string; prefixlen: number; scope: string }[];
}
interface RuleJson {
  priority?: number;
  fwmark?: string;
  table?: string;
}
interface NeighJson {
  dst: string;
  lladdr?: string;
  state?: string[];
}
interface FdbJson {
  mac: string;
  dst?: string;
  state?: string;
}
interface RouteJson {
  dst: string;
  dev?: string;
}

type Tool = 'ip' | 'bridge' | 'nft' | 'arping' | 'na6' | 'sysctl';

const familyFlag = (f: Family) => (f === 4 ? '-4' : '-6');

export class Kernel {
  readonly #o: KernelOptions;
  readonly #bin: Record<Tool, string>;
  #lastNft = '';

  constructor(o: KernelOptions) {
    this.#o = o;
    this.#bin = {
      ip: 'ip',
      bridge: 'bridge',
      nft: 'nft',
      arping: 'arping',
      na6: 'na6',
      sysctl: 'sysctl',
      ...o.bin,
    };
    if (o.netns) assertSafeName('network namespace', o.netns);
  }

  /** Runs one of our tools, inside the configured network namespace if there is one. */
  #run(tool: Tool, args: string[], opts: RunOptions = {}) {
    const ns = this.#o.netns;
    return ns
      ? run(this.#bin.ip, ['netns', 'exec', ns, this.#bin[tool], ...args], opts)
      : run(this.#bin[tool], args, opts);
  }

  async #json<T>(file: 'ip' | 'bridge', args: string[]): Promise<T[]> {
    const r = await this.#run(file, ['-j', ...args], { okCodes: [0, 1] });
    if (r.code !== 0) return [];
    const text = r.stdout.trim();
    return text ? (JSON.parse(text) as T[]) : [];
  }

  async #batch(file: 'ip' | 'bridge', lines: string[], pre: string[] = []): Promise<void> {
    if (lines.length === 0) return;
    await this.#run(file, [...pre, '-batch', '-'], { input: `${lines.join('\n')}\n` });
  }

  /** Writes a sysctl by path relative to /proc/sys (slash form, so dotted names work). */
  async sysctl(path: string, value: string): Promise<void> {
    // /proc/sys/net shows the namespace of the process that reads it: in another
    // namespace, the sysctl tool runs there instead.
    if (this.#o.netns) await this.#run('sysctl', ['-q', '-w', `${path}=${value}`]);
    else await writeFile(join('/proc/sys', path), value);
  }

  /** The underlay interface: the default route's device, or a named one. */
  async detectParent(method: string, families: Family[]): Promise<ParentInterface | undefined> {
    let name = method.startsWith('interface=') ? method.slice('interface='.length) : '';
    if (!name) {
      for (const f of families) {
        const routes = await this.#json<RouteJson>('ip', [familyFlag(f), 'route', 'show', 'default']);
        name = routes.find((r) => r.dev)?.dev ?? '';
        if (name) break;
      }
    }
    if (!name) return undefined;
    assertSafeName('interface', name, 15);
    const [link] = await this.#json<AddrJson>('ip', ['addr', 'show', 'dev', name]);
    const parent: ParentInterface = { name };
    for (const a of link?.addr_info ?? []) {
      if (a.scope !== 'global') continue;
      if (a.family === 'inet' && !parent.ipv4 && a.prefixlen < 32) parent.ipv4 = a.local;
      if (a.family === 'inet6' && !parent.ipv6 && a.prefixlen < 128) parent.ipv6 = a.local;
    }
    return parent;
  }

  /** The tunnel device: recreated when its kind, VNI, parent, source or port differ. */
  async applyVxlan(p: VxlanPlan, families: Family[]): Promise<void> {
    const name = assertSafeName('tunnel device', p.name, 15);
    assertSafeName('interface', p.parent, 15);
    const [link] = await this.#json<LinkJson>('ip', ['-d', 'link', 'show', 'dev', name]);
    const d = link?.linkinfo?.info_data;
    const local = familyOf(p.local) === 4 ? d?.local : (d?.local6 ?? d?.local);
    const same =
      link?.linkinfo?.info_kind === 'vxlan' &&
      d?.id === p.vni &&
      local === p.local &&
      d?.link === p.parent &&
      d?.port === p.port &&
      d?.learning === false;
    const lines: string[] = [];
    if (link && !same) {
      this.#o.log.info({ device: name }, 'tunnel device differs from the plan: recreating it');
      lines.push(`link del dev ${name}`);
    }
    if (!link || !same)
      lines.push(
        `link add ${name} type vxlan id ${p.vni} local ${p.local} dev ${p.parent} dstport ${p.port} nolearning`,
      );
    if (!same || link?.address !== p.mac) lines.push(`link set dev ${name} address ${p.mac}`);
    if (!same || !link?.flags?.includes('UP')) lines.push(`link set dev ${name} up`);
    await this.#batch('ip', lines);
    // Loose reverse-path filtering: tunnelled pod traffic arrives here from addresses that
    // are routed through the underlay.
    if (families.includes(4)) await this.sysctl(`net/ipv4/conf/${name}/rp_filter`, '2');
    const [addrs] = await this.#json<AddrJson>('ip', ['addr', 'show', 'dev', name]);
    const have = new Set(
      (addrs?.addr_info ?? []).filter((a) => a.scope === 'global').map((a) => `${a.local}/${a.prefixlen}`),
    );
    const addrLines: string[] = [];
    for (const a of p.addresses) if (!have.has(a)) addrLines.push(`addr replace ${a} dev ${name}`);
    for (const a of have) if (!p.addresses.includes(a)) addrLines.push(`addr del ${a} dev ${name}`);
    await this.#batch('ip', addrLines);
  }

  /** Permanent neighbours (peer tunnel IP → MAC) and FDB entries (MAC → underlay IP). */
  async applyPeers(device: string, peers: PeerPlan[]): Promise<void> {
    const name = assertSafeName('tunnel device', device, 15);
    const wantNeigh = new Map<string, string>();
    const wantFdb = new Map<string, string>();
    for (const p of peers) {
      for (const ip of p.tunnelIps) wantNeigh.set(ip, p.mac);
      wantFdb.set(p.mac, p.underlay);
    }
    const neigh = await this.#json<NeighJson>('ip', ['neigh', 'show', 'dev', name]);
    const lines: string[] = [];
    const seen = new Set<string>();
    for (const n of neigh) {
      if (!n.state?.includes('PERMANENT')) continue;
      seen.add(n.dst);
      const mac = wantNeigh.get(n.dst);
      if (mac === undefined) lines.push(`neigh del ${n.dst} dev ${name}`);
      else if (n.lladdr !== mac) lines.push(`neigh replace ${n.dst} lladdr ${mac} dev ${name} nud permanent`);
    }
    for (const [ip, mac] of wantNeigh)
      if (!seen.has(ip)) lines.push(`neigh replace ${ip} lladdr ${mac} dev ${name} nud permanent`);
    await this.#batch('ip', lines);

    const fdb = await this.#json<FdbJson>('bridge', ['fdb', 'show', 'dev', name]);
    const fdbLines: string[] = [];
    const have = new Set<string>();
    for (const e of fdb) {
      if (!e.dst) continue;
      if (wantFdb.get(e.mac) === e.dst) have.add(e.mac);
      else fdbLines.push(`fdb del ${e.mac} dev ${name} dst ${e.dst} self`);
    }
    for (const [mac, dst] of wantFdb)
      if (!have.has(mac)) fdbLines.push(`fdb replace ${mac} dev ${name} dst ${dst} self permanent`);
    await this.#batch('bridge', fdbLines);
  }

  /** One `fwmark <mark> lookup <mark>` rule and a default route into the tunnel per peer mark. */
  async applyRoutes(
    device: string,
    routes: MarkRoute[],
    markBase: number,
    families: Family[],
  ): Promise<void> {
    const name = assertSafeName('tunnel device', device, 15);
    for (const f of families) {
      const want = routes.filter((r) => r.family === f);
      const wantMarks = new Set(want.map((r) => r.mark));
      const rules = await this.#json<RuleJson>('ip', [familyFlag(f), 'rule', 'show']);
      const lines: string[] = [];
      const have = new Set<number>();
      for (const r of rules) {
        if (r.priority !== RULE_PRIORITY || !r.fwmark) continue;
        const mark = Number(r.fwmark);
        // Ours: a mark of the configured base, or our signature (priority 99, table = mark)
        // with a mark of an earlier base — left over when feature.mark was changed.
        if ((mark & 0xff000000) >>> 0 !== markBase >>> 0 && r.table !== String(mark)) continue;
        if (wantMarks.has(mark) && r.table === String(mark) && !have.has(mark)) {
          have.add(mark);
          continue;
        }
        lines.push(`rule del priority ${RULE_PRIORITY} fwmark ${r.fwmark} lookup ${r.table}`);
        if (!wantMarks.has(mark)) lines.push(`route flush table ${mark}`);
      }
      for (const r of want) {
        // replace is idempotent and cheap; it also repairs a route someone changed
        lines.push(`route replace default via ${r.via} dev ${name} onlink table ${r.table}`);
        if (!have.has(r.mark))
          lines.push(`rule add fwmark 0x${r.mark.toString(16)} lookup ${r.table} priority ${RULE_PRIORITY}`);
      }
      await this.#batch('ip', lines, [familyFlag(f)]);
    }
  }

  /** Replaces our nft table in one transaction, unless the text is what we last applied. */
  async applyNft(text: string, force = false): Promise<boolean> {
    if (!force && text === this.#lastNft) return false;
    await this.#run('nft', ['-f', '-'], { input: text });
    this.#lastNft = text;
    return true;
  }

  /** Runs an nft script as it is (no cache): start-up probes and removals. */
  async nft(text: string): Promise<void> {
    await this.#run('nft', ['-f', '-'], { input: text });
  }

  /** Whether our nft table is in the kernel. */
  async nftTableExists(): Promise<boolean> {
    const r = await this.#run('nft', ['list', 'tables']);
    return r.stdout.split('\n').some((l) => l.trim() === `table inet ${NFT_TABLE}`);
  }

  /** Our nft table gone (nothing happens when there is none). */
  async removeNft(): Promise<void> {
    await this.nft(`table inet ${NFT_TABLE}\ndelete table inet ${NFT_TABLE}\n`);
    this.#lastNft = '';
  }

  /**
   * Answers ARP/NDP for the EIPs on the uplink without making them local addresses: a
   * route to `lo` plus a proxy neighbour entry (the kernel proxies for a target it routes
   * through another device). Returns the EIPs that are new here, for gratuitous ARP.
   */
  async applyAnnounce(uplink: string, eips: string[], families: Family[]): Promise<string[]> {
    const dev = assertSafeName('interface', uplink, 15);
    const added: string[] = [];
    for (const f of families) {
      const want = new Set(eips.filter((ip) => familyOf(ip) === f));
      const ours = await this.#json<RouteJson>('ip', [
        familyFlag(f),
        'route',
        'show',
        'proto',
        String(ROUTE_PROTO),
      ]);
      const proxies = new Set(
        (await this.#json<NeighJson>('ip', [familyFlag(f), 'neigh', 'show', 'proxy', 'dev', dev])).map(
          (n) => n.dst,
        ),
      );
      const lines: string[] = [];
      const have = new Set<string>();
      for (const r of ours) {
        const ip = r.dst.split('/')[0] ?? '';
        if (want.has(ip)) have.add(ip);
        else {
          lines.push(`route del ${r.dst} dev lo proto ${ROUTE_PROTO}`);
          if (proxies.has(ip)) lines.push(`neigh del proxy ${ip} dev ${dev}`);
        }
      }
      const host = f === 4 ? 32 : 128;
      for (const ip of want) {
        if (!have.has(ip)) {
          lines.push(`route replace ${ip}/${host} dev lo proto ${ROUTE_PROTO}`);
          added.push(ip);
        }
        if (!proxies.has(ip)) lines.push(`neigh replace proxy ${ip} dev ${dev}`);
      }
      await this.#batch('ip', lines, [familyFlag(f)]);
    }
    return added;
  }

  /**
   * Removes everything of ours from this node: the nft table, the mark rules and their
   * tables, the EIP routes and proxy entries, the tunnel device. For a node whose tunnel
   * identity is gone (node removed, product uninstalled).
   */
  async teardown(device: string, markBase: number, families: Family[], uplink?: string): Promise<void> {
    const name = assertSafeName('tunnel device', device, 15);
    // Only when there is one: a node on the iptables backend may have no usable nftables.
    if (await this.nftTableExists().catch(() => false)) await this.removeNft();
    this.#lastNft = '';
    await this.applyRoutes(name, [], markBase, families);
    if (uplink) await this.applyAnnounce(uplink, [], families);
    const [link] = await this.#json<LinkJson>('ip', ['link', 'show', 'dev', name]);
    if (link) await this.#run('ip', ['link', 'del', 'dev', name]);
  }

  /**
   * Tells the segment the EIP moved here, so that neighbours (the router above all) stop
   * sending to the old holder's MAC now rather than when their entry expires: a gratuitous
   * ARP for IPv4; for IPv6 an unsolicited Neighbor Advertisement to all nodes with the
   * override flag and our MAC as target link-layer address, which makes a neighbour replace
   * an existing entry (RFC 4861 §7.2.6; without it the router kept sending replies to a dead
   * holder for seconds). Debian's ipv6toolkit `na6` crafts it: Node has no raw sockets, and
   * the kernel only advertises addresses of its own, which an EIP must never be.
   * Not awaited by callers: arping waits for answers.
   */
  async announceTakeover(uplink: string, ip: string): Promise<void> {
    const dev = assertSafeName('interface', uplink, 15);
    const family = familyOf(ip);
    const addr = canonicalIp(ip);
    if (!addr) throw new Error(`invalid EIP "${ip}"`);
    if (family === 6) {
      await this.#run('na6', ['-i', dev, '-s', addr, '-d', 'ff02::1', '-t', addr, '-o', '-e'], {
        timeoutMs: 5000,
      });
      return;
    }
    // Debian's arping exits 1 in -U mode (no replies expected): not an error.
    await this.#run('arping', ['-U', '-c', '1', '-i', dev, '-S', addr, addr], {
      okCodes: [0, 1],
      timeoutMs: 5000,
    });
  }
}
