// The configuration both binaries share: environment variables plus the `conf.yml` the Helm
// chart renders from its `feature` block (upstream-compatible keys). Parsing is pure and
// reports every problem at once, each naming the key, the bad value and what is allowed.
//
// Defaults: when a key is absent we use the chart's default, not upstream's zero-value code
// default (upstream starts with IPv4 disabled and failover enabled when no file is mounted).
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { DEFAULT_MARK_BASE, isMarkBase } from '../api/contracts.ts';
import { featureSchema } from '../api/values-schema.ts';
import { parseCidr } from './ip.ts';

export type DatapathMode = 'auto' | 'nftables' | 'iptables';
export type IptablesBackend = 'auto' | 'nft' | 'legacy';
export type PodCidrMode = 'auto' | 'k8s' | 'calico' | '';

export interface FeatureConfig {
  enableIPv4: boolean;
  enableIPv6: boolean;
  datapathMode: DatapathMode;
  tunnelIpv4Subnet: string;
  tunnelIpv6Subnet: string;
  /** 'defaultRouteInterface' or 'interface=<name>' */
  tunnelDetectMethod: string;
  tunnelDetectCustomInterface: { nodeSelector: Record<string, string>; interfaceName: string }[];
  vxlan: { name: string; id: number; port: number; disableChecksumOffload: boolean };
  iptables: { backendMode: IptablesBackend; refreshIntervalSecond: number; lockFilePath: string };
  maxNumberEndpointPerSlice: number;
  mark: number;
  announcedInterfacesToExclude: string[];
  enableGatewayReplyRoute: boolean;
  gatewayReplyRouteTable: number;
  gatewayReplyRouteMark: number;
  gatewayFailover: {
    enable: boolean;
    tunnelMonitorPeriod: number;
    tunnelUpdatePeriod: number;
    eipEvictionTimeout: number;
  };
  /** agents probe each other on the underlay and move EIPs in under a second (ours) */
  fastFailover: {
    enable: boolean;
    port: number;
    intervalMs: number;
    fenceAfterMs: number;
    deadAfterMs: number;
  };
  cacheSyncSyncPeriodSecond: number;
  clusterCIDR: {
    autoDetect: { podCidrMode: PodCidrMode; clusterIP: boolean; nodeIP: boolean };
    extraCidr: string[];
  };
}

export interface BindAddress {
  host: string;
  port: number;
}

export interface EnvConfig {
  nodeName: string;
  podName: string;
  podNamespace: string;
  leaderElection: boolean;
  leaderElectionNamespace: string;
  leaderElectionId: string;
  leaderElectionLostRestart: boolean;
  /** undefined when metrics are off (METRICS_BIND_ADDRESS "0" or empty) */
  metricsBindAddress: BindAddress | undefined;
  healthProbeBindAddress: BindAddress;
  webhookPort: number;
  tlsCertDir: string;
  configmapPath: string;
  /** the agent's failover probe key (files `key`, `previous`), from the chart's Secret */
  probeKeyDir: string;
  logLevel: string;
  /** LOG_ENCODER: one JSON object per line (upstream's default), or zap-style console lines */
  logEncoder: 'json' | 'console';
}

export interface Config {
  env: EnvConfig;
  feature: FeatureConfig;
}

export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    // One problem, one line (what an operator sees in `kubectl logs`); several: one line each.
    super(
      problems.length === 1
        ? `invalid configuration: ${problems[0]}`
        : `invalid configuration:\n  - ${problems.join('\n  - ')}`,
    );
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export function defaultFeatureConfig(): FeatureConfig {
  return {
    enableIPv4: true,
    enableIPv6: false,
    datapathMode: 'auto',
    tunnelIpv4Subnet: '172.31.0.0/16',
    tunnelIpv6Subnet: 'fd11::/112',
    tunnelDetectMethod: 'defaultRouteInterface',
    tunnelDetectCustomInterface: [],
    vxlan: { name: 'egress.vxlan', id: 100, port: 7789, disableChecksumOffload: false },
    iptables: { backendMode: 'auto', refreshIntervalSecond: 90, lockFilePath: '/run/xtables.lock' },
    maxNumberEndpointPerSlice: 100,
    mark: DEFAULT_MARK_BASE,
    announcedInterfacesToExclude: ['^cali.*', 'br-*'],
    enableGatewayReplyRoute: false,
    gatewayReplyRouteTable: 600,
    gatewayReplyRouteMark: 39,
    gatewayFailover: { enable: false, tunnelMonitorPeriod: 5, tunnelUpdatePeriod: 5, eipEvictionTimeout: 15 },
    fastFailover: { enable: true, port: 7790, intervalMs: 100, fenceAfterMs: 300, deadAfterMs: 600 },
    cacheSyncSyncPeriodSecond: 1800,
    clusterCIDR: { autoDetect: { podCidrMode: 'auto', clusterIP: true, nodeIP: true }, extraCidr: [] },
  };
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reads typed values out of an untyped YAML tree, recording problems instead of throwing. */
class Reader {
  readonly problems: string[] = [];

  private at(root: Obj, path: string): unknown {
    let cur: unknown = root;
    for (const part of path.split('.')) {
      if (!isObj(cur)) return undefined;
      cur = cur[part];
    }
    return cur;
  }

  bool(root: Obj, path: string, def: boolean): boolean {
    const v = this.at(root, path);
    if (v === undefined || v === null) return def;
    if (typeof v === 'boolean') return v;
    if (v === 'true' || v === 'false') return v === 'true';
    this.problems.push(`${path}: ${JSON.stringify(v)} is not a boolean; use true or false`);
    return def;
  }

  int(root: Obj, path: string, def: number, min: number, max: number): number {
    const v = this.at(root, path);
    if (v === undefined || v === null) return def;
    const n = typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v;
    if (typeof n === 'number' && Number.isInteger(n) && n >= min && n <= max) return n;
    this.problems.push(`${path}: ${JSON.stringify(v)} is not an integer in [${min}, ${max}]`);
    return def;
  }

  str(root: Obj, path: string, def: string): string {
    const v = this.at(root, path);
    if (v === undefined || v === null) return def;
    if (typeof v === 'string') return v;
    this.problems.push(`${path}: ${JSON.stringify(v)} is not a string`);
    return def;
  }

  oneOf<T extends string>(root: Obj, path: string, def: T, allowed: readonly T[], aliases: Obj = {}): T {
    const raw = this.str(root, path, def);
    const v = (typeof aliases[raw] === 'string' ? aliases[raw] : raw) as T;
    if (allowed.includes(v)) return v;
    this.problems.push(
      `${path}: "${raw}" is not supported; use one of ${allowed.map((a) => `"${a}"`).join(', ')}`,
    );
    return def;
  }

  strings(root: Obj, path: string, def: string[]): string[] {
    const v = this.at(root, path);
    if (v === undefined || v === null) return def;
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
    this.problems.push(`${path}: must be a list of strings`);
    return def;
  }

  list(root: Obj, path: string): unknown[] {
    const v = this.at(root, path);
    if (v === undefined || v === null) return [];
    if (Array.isArray(v)) return v;
    this.problems.push(`${path}: must be a list`);
    return [];
  }
}

const IFNAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,14}$/;

function checkCidr(r: Reader, path: string, value: string, family: 4 | 6): void {
  try {
    const c = parseCidr(value);
    if (c.family !== family) throw new Error('wrong family');
  } catch {
    const eg = family === 4 ? '192.200.0.0/16' : 'fd11::/112';
    r.problems.push(`${path}: "${value}" is not an IPv${family} CIDR (e.g. ${eg})`);
  }
}

/**
 * Upstream values this build cannot honour yet: a non-default value is refused (one line per
 * key, saying why and what to set) instead of being parsed and silently ignored. The chart
 * refuses the same values at install (charts/egressgateway/templates/_refusals.tpl).
 */
function refuseUnsupported(r: Reader, f: FeatureConfig, d: FeatureConfig): void {
  const notYet = 'reply routing through the tunnel for underlay CNIs (Spiderpool) is not supported yet';
  if (f.enableGatewayReplyRoute) {
    r.problems.push(`enableGatewayReplyRoute: true is refused: ${notYet}; set it to false (docs/values.md)`);
  }
  if (f.gatewayReplyRouteTable !== d.gatewayReplyRouteTable) {
    r.problems.push(
      `gatewayReplyRouteTable: ${f.gatewayReplyRouteTable} is refused: only enableGatewayReplyRoute uses it and ${notYet}; leave it at ${d.gatewayReplyRouteTable}`,
    );
  }
  if (f.gatewayReplyRouteMark !== d.gatewayReplyRouteMark) {
    r.problems.push(
      `gatewayReplyRouteMark: ${f.gatewayReplyRouteMark} is refused: only enableGatewayReplyRoute uses it and ${notYet}; leave it at ${d.gatewayReplyRouteMark}`,
    );
  }
}

/**
 * Keys the schema does not know, where it lists them all (the chart's values.schema.json
 * refuses the same keys at install): a misspelt key would otherwise be ignored silently.
 */
function refuseUnknownKeys(r: Reader, doc: Obj, schema: Record<string, unknown>, path = ''): void {
  const props = (schema['properties'] ?? {}) as Record<string, Record<string, unknown>>;
  for (const [k, v] of Object.entries(doc)) {
    const key = path ? `${path}.${k}` : k;
    const known = props[k];
    if (!known) {
      if (schema['additionalProperties'] !== false) continue;
      const like = Object.keys(props).find((p) => p.toLowerCase() === k.toLowerCase());
      r.problems.push(`${key}: unknown key${like ? `; did you mean ${path ? `${path}.` : ''}${like}?` : ''}`);
    } else if (isObj(v) && known['type'] === 'object') refuseUnknownKeys(r, v, known, key);
  }
}

/** Parses the `conf.yml` text (the chart's `feature` block). Undefined text means all defaults. */
export function parseFeatureConfig(text: string | undefined): { feature: FeatureConfig; problems: string[] } {
  const d = defaultFeatureConfig();
  const r = new Reader();
  let root: Obj = {};
  if (text !== undefined && text.trim() !== '') {
    let doc: unknown;
    try {
      doc = parseYaml(text);
    } catch (err) {
      return { feature: d, problems: [`conf.yml is not valid YAML: ${(err as Error).message}`] };
    }
    if (!isObj(doc)) return { feature: d, problems: ['conf.yml must be a mapping of keys to values'] };
    root = doc;
  }
  const markText = r.str(root, 'mark', `0x${d.mark.toString(16)}`);
  const mark = Number(markText);
  if (!/^0x[0-9a-fA-F]{1,8}$/.test(markText) || !isMarkBase(mark)) {
    r.problems.push(
      `mark: "${markText}" must be a hex mark with only the top byte set (e.g. 0x26000000); node marks are base+1 … base+0xfffffe`,
    );
  }
  const f: FeatureConfig = {
    enableIPv4: r.bool(root, 'enableIPv4', d.enableIPv4),
    enableIPv6: r.bool(root, 'enableIPv6', d.enableIPv6),
    // Upstream's chart value "iptables" keeps meaning the iptables backend; "" means auto.
    datapathMode: r.oneOf(root, 'datapathMode', d.datapathMode, ['auto', 'nftables', 'iptables'], {
      '': 'auto',
    }),
    tunnelIpv4Subnet: r.str(root, 'tunnelIpv4Subnet', d.tunnelIpv4Subnet),
    tunnelIpv6Subnet: r.str(root, 'tunnelIpv6Subnet', d.tunnelIpv6Subnet),
    tunnelDetectMethod: r.str(root, 'tunnelDetectMethod', d.tunnelDetectMethod),
    tunnelDetectCustomInterface: [],
    vxlan: {
      name: r.str(root, 'vxlan.name', d.vxlan.name),
      id: r.int(root, 'vxlan.id', d.vxlan.id, 1, 16_777_215),
      port: r.int(root, 'vxlan.port', d.vxlan.port, 1, 65_535),
      disableChecksumOffload: r.bool(root, 'vxlan.disableChecksumOffload', d.vxlan.disableChecksumOffload),
    },
    iptables: {
      backendMode: r.oneOf(root, 'iptables.backendMode', d.iptables.backendMode, ['auto', 'nft', 'legacy'], {
        '': 'auto',
      }),
      refreshIntervalSecond: r.int(root, 'iptables.refreshIntervalSecond', 90, 1, 86_400),
      lockFilePath: r.str(root, 'iptables.lockFilePath', d.iptables.lockFilePath),
    },
    maxNumberEndpointPerSlice: r.int(root, 'maxNumberEndpointPerSlice', d.maxNumberEndpointPerSlice, 1, 1000),
    mark: Number.isFinite(mark) ? mark : d.mark,
    announcedInterfacesToExclude: r.strings(
      root,
      'announcedInterfacesToExclude',
      d.announcedInterfacesToExclude,
    ),
    enableGatewayReplyRoute: r.bool(root, 'enableGatewayReplyRoute', d.enableGatewayReplyRoute),
    gatewayReplyRouteTable: r.int(root, 'gatewayReplyRouteTable', d.gatewayReplyRouteTable, 1, 2 ** 31 - 1),
    gatewayReplyRouteMark: r.int(root, 'gatewayReplyRouteMark', d.gatewayReplyRouteMark, 1, 2 ** 31 - 1),
    gatewayFailover: {
      enable: r.bool(root, 'gatewayFailover.enable', d.gatewayFailover.enable),
      tunnelMonitorPeriod: r.int(root, 'gatewayFailover.tunnelMonitorPeriod', 5, 1, 3600),
      tunnelUpdatePeriod: r.int(root, 'gatewayFailover.tunnelUpdatePeriod', 5, 1, 3600),
      eipEvictionTimeout: r.int(root, 'gatewayFailover.eipEvictionTimeout', 15, 1, 3600),
    },
    fastFailover: {
      enable: r.bool(root, 'fastFailover.enable', d.fastFailover.enable),
      port: r.int(root, 'fastFailover.port', d.fastFailover.port, 1, 65_535),
      intervalMs: r.int(root, 'fastFailover.intervalMs', d.fastFailover.intervalMs, 10, 10_000),
      fenceAfterMs: r.int(root, 'fastFailover.fenceAfterMs', d.fastFailover.fenceAfterMs, 20, 60_000),
      deadAfterMs: r.int(root, 'fastFailover.deadAfterMs', d.fastFailover.deadAfterMs, 30, 120_000),
    },
    // Upstream only reads the lower-case spelling (a missing yaml tag); accept both.
    cacheSyncSyncPeriodSecond: r.int(
      root,
      isObj(root) && 'cacheSyncSyncPeriodSecond' in root
        ? 'cacheSyncSyncPeriodSecond'
        : 'cachesyncsyncperiodsecond',
      d.cacheSyncSyncPeriodSecond,
      1,
      86_400,
    ),
    clusterCIDR: {
      autoDetect: {
        podCidrMode: r.oneOf(
          root,
          'clusterCIDR.autoDetect.podCidrMode',
          d.clusterCIDR.autoDetect.podCidrMode,
          ['auto', 'k8s', 'calico', ''],
        ),
        clusterIP: r.bool(root, 'clusterCIDR.autoDetect.clusterIP', true),
        nodeIP: r.bool(root, 'clusterCIDR.autoDetect.nodeIP', true),
      },
      extraCidr: r.strings(root, 'clusterCIDR.extraCidr', []),
    },
  };

  r.list(root, 'tunnelDetectCustomInterface').forEach((item, i) => {
    const path = `tunnelDetectCustomInterface[${i}]`;
    if (!isObj(item) || typeof item['interfaceName'] !== 'string' || !isObj(item['nodeSelector'] ?? {})) {
      r.problems.push(`${path}: must be {nodeSelector: {label: value}, interfaceName: <name>}`);
      return;
    }
    const selector = (item['nodeSelector'] ?? {}) as Obj;
    if (!Object.values(selector).every((v) => typeof v === 'string')) {
      r.problems.push(`${path}.nodeSelector: label values must be strings (quote "true")`);
      return;
    }
    if (!IFNAME.test(item['interfaceName'])) {
      r.problems.push(
        `${path}.interfaceName: "${item['interfaceName']}" is not a valid interface name (1-15 of [A-Za-z0-9._-])`,
      );
      return;
    }
    f.tunnelDetectCustomInterface.push({
      nodeSelector: selector as Record<string, string>,
      interfaceName: item['interfaceName'],
    });
  });

  if (f.enableIPv4) checkCidr(r, 'tunnelIpv4Subnet', f.tunnelIpv4Subnet, 4);
  if (f.enableIPv6) checkCidr(r, 'tunnelIpv6Subnet', f.tunnelIpv6Subnet, 6);
  if (!f.enableIPv4 && !f.enableIPv6)
    r.problems.push('enableIPv4 and enableIPv6 are both false; enable at least one');
  if (!IFNAME.test(f.vxlan.name)) {
    r.problems.push(`vxlan.name: "${f.vxlan.name}" is not a valid interface name (1-15 of [A-Za-z0-9._-])`);
  }
  const m = /^interface=(.+)$/.exec(f.tunnelDetectMethod);
  if (f.tunnelDetectMethod !== 'defaultRouteInterface' && !m) {
    r.problems.push(
      `tunnelDetectMethod: "${f.tunnelDetectMethod}" is not supported; use "defaultRouteInterface" or "interface=<name>"`,
    );
  }
  f.announcedInterfacesToExclude.forEach((re, i) => {
    try {
      new RegExp(re);
    } catch {
      r.problems.push(`announcedInterfacesToExclude[${i}]: "${re}" is not a valid regular expression`);
    }
  });
  f.clusterCIDR.extraCidr.forEach((c, i) => {
    try {
      parseCidr(c, { allowPlainIp: true });
    } catch {
      r.problems.push(`clusterCIDR.extraCidr[${i}]: "${c}" is not a CIDR or IP address`);
    }
  });
  refuseUnsupported(r, f, d);
  refuseUnknownKeys(r, root, featureSchema);
  const fo = f.gatewayFailover;
  if (fo.enable && fo.eipEvictionTimeout <= fo.tunnelUpdatePeriod + fo.tunnelMonitorPeriod) {
    r.problems.push(
      `gatewayFailover.eipEvictionTimeout (${fo.eipEvictionTimeout}) must be greater than tunnelUpdatePeriod + tunnelMonitorPeriod (${fo.tunnelUpdatePeriod + fo.tunnelMonitorPeriod})`,
    );
  }
  const ff = f.fastFailover;
  if (ff.fenceAfterMs < 2 * ff.intervalMs || ff.deadAfterMs < ff.fenceAfterMs + 2 * ff.intervalMs) {
    r.problems.push(
      `fastFailover: need intervalMs (${ff.intervalMs}) × 2 ≤ fenceAfterMs (${ff.fenceAfterMs}) and fenceAfterMs + 2 × intervalMs ≤ deadAfterMs (${ff.deadAfterMs}): a cut-off holder must withdraw before anyone may take over`,
    );
  }
  return { feature: f, problems: r.problems };
}

function parseBind(name: string, value: string, problems: string[]): BindAddress | undefined {
  const m = /^(\[[^\]]+\]|[^:]*):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m || port < 1 || port > 65_535) {
    problems.push(`${name}: "${value}" is not an address like ":5820" or "127.0.0.1:5820"`);
    return undefined;
  }
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

/** Upstream's chart defaults for GOPS_PORT (agent, controller): accepted, and mean "off" here. */
const GOPS_DEFAULT_PORTS = ['', '0', '5812', '5824'];

/**
 * gops and Pyroscope's Go client are Go-runtime tools with no counterpart in this build.
 * Upstream's chart defaults pass (documented as off); anything else asks for a tool we do
 * not have, so it is refused rather than ignored.
 */
function refuseGoTooling(env: Record<string, string | undefined>, problems: string[]): void {
  const gops = env['GOPS_PORT'] ?? '';
  if (!GOPS_DEFAULT_PORTS.includes(gops)) {
    problems.push(
      `GOPS_PORT: "${gops}" is refused: gops is a Go-only debugging agent this build does not have; set agent.debug.gopsPort / controller.debug.gopsPort to 0 (or leave upstream's 5812 / 5824, which mean off)`,
    );
  }
  const pyroscope = env['PYROSCOPE_SERVER_ADDR'] ?? '';
  if (pyroscope !== '') {
    problems.push(
      `PYROSCOPE_SERVER_ADDR: "${pyroscope}" is refused: Pyroscope profiling is Go-only and not available in this build; set *.debug.pyroscopeServerAddr to ""`,
    );
  }
}

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

export function parseEnvConfig(env: Record<string, string | undefined>): {
  env: EnvConfig;
  problems: string[];
} {
  const problems: string[] = [];
  const bool = (name: string, def: boolean) => {
    const v = env[name];
    if (v === undefined || v === '') return def;
    if (/^(true|1)$/i.test(v)) return true;
    if (/^(false|0)$/i.test(v)) return false;
    problems.push(`${name}: "${v}" is not a boolean; use true or false`);
    return def;
  };
  const metrics = env['METRICS_BIND_ADDRESS'] ?? '0';
  const webhookPort = Number(env['WEBHOOK_PORT'] ?? '8881');
  if (!Number.isInteger(webhookPort) || webhookPort < 1 || webhookPort > 65_535) {
    problems.push(`WEBHOOK_PORT: "${env['WEBHOOK_PORT']}" is not a port number`);
  }
  let logLevel = (env['LOG_LEVEL'] ?? '').toLowerCase() || 'info';
  // Upstream accepts zap names and numeric verbosity (N → more verbose than info).
  if (/^\d+$/.test(logLevel)) logLevel = Number(logLevel) > 0 ? 'debug' : 'info';
  if (['dpanic', 'panic'].includes(logLevel)) logLevel = 'fatal';
  if (!LOG_LEVELS.includes(logLevel)) {
    problems.push(
      `LOG_LEVEL: "${env['LOG_LEVEL']}" is not a level; use debug, info, warn, error or a number`,
    );
    logLevel = 'info';
  }
  const logEncoder = (env['LOG_ENCODER'] ?? '') || 'json';
  if (logEncoder !== 'json' && logEncoder !== 'console') {
    problems.push(`LOG_ENCODER: "${env['LOG_ENCODER']}" is not an encoder; use json or console`);
  }
  refuseGoTooling(env, problems);
  const out: EnvConfig = {
    nodeName: env['NODE_NAME'] ?? '',
    podName: env['POD_NAME'] ?? '',
    podNamespace: env['POD_NAMESPACE'] ?? '',
    leaderElection: bool('LEADER_ELECTION', true),
    leaderElectionNamespace: env['LEADER_ELECTION_NAMESPACE'] || env['POD_NAMESPACE'] || 'default',
    leaderElectionId: env['LEADER_ELECTION_ID'] || 'egressgateway',
    leaderElectionLostRestart: bool('LEADER_ELECTION_LOST_RESTART', false),
    metricsBindAddress:
      metrics === '0' || metrics === '' ? undefined : parseBind('METRICS_BIND_ADDRESS', metrics, problems),
    healthProbeBindAddress: parseBind(
      'HEALTH_PROBE_BIND_ADDRESS',
      env['HEALTH_PROBE_BIND_ADDRESS'] || ':8788',
      problems,
    ) ?? { host: '', port: 8788 },
    webhookPort: Number.isInteger(webhookPort) ? webhookPort : 8881,
    tlsCertDir: env['TLS_CERT_DIR'] || '/etc/tls',
    configmapPath: env['CONFIGMAP_PATH'] ?? '',
    probeKeyDir: env['PROBE_KEY_DIR'] || '/etc/egressgateway/probe-key',
    logLevel,
    logEncoder: logEncoder === 'console' ? 'console' : 'json',
  };
  return { env: out, problems };
}

/** Pure: environment + conf.yml text → config, or a ConfigError listing every problem. */
export function parseConfig(env: Record<string, string | undefined>, confYaml: string | undefined): Config {
  const e = parseEnvConfig(env);
  const f = parseFeatureConfig(confYaml);
  const problems = [...e.problems, ...f.problems.map((p) => `conf.yml ${p}`)];
  if (problems.length > 0) throw new ConfigError(problems);
  return { env: e.env, feature: f.feature };
}

/** Reads CONFIGMAP_PATH (if set) and parses. A set path that cannot be read is an error. */
export async function loadConfig(env: Record<string, string | undefined> = process.env): Promise<Config> {
  const path = env['CONFIGMAP_PATH'];
  let text: string | undefined;
  if (path) {
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      throw new ConfigError([`CONFIGMAP_PATH: cannot read "${path}": ${(err as Error).message}`]);
    }
  }
  return parseConfig(env, text);
}
