import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, defaultFeatureConfig, parseConfig } from '../../../src/common/config.ts';

// The chart's rendering of the seed's `helm install ... --set feature.tunnelIpv4Subnet=...`.
const SEED_CONF = `
enableIPv4: true
enableIPv6: false
datapathMode: iptables
tunnelIpv4Subnet: 192.200.0.1/16
tunnelIpv6Subnet: fd11::/112
tunnelDetectMethod: defaultRouteInterface
tunnelDetectCustomInterface: []
enableGatewayReplyRoute: false
gatewayReplyRouteTable: 600
gatewayReplyRouteMark: 39
iptables:
  backendMode: auto
vxlan:
  name: egress.vxlan
  port: 7789
  id: 100
  disableChecksumOffload: false
clusterCIDR:
  autoDetect:
    podCidrMode: auto
    clusterIP: true
    nodeIP: true
  extraCidr: []
maxNumberEndpointPerSlice: 100
announcedInterfacesToExclude: ["^cali.*", "br-*"]
gatewayFailover:
  enable: false
  tunnelMonitorPeriod: 5
  tunnelUpdatePeriod: 5
  eipEvictionTimeout: 15
`;

function problemsOf(env: Record<string, string>, yaml: string | undefined): string[] {
  try {
    parseConfig(env, yaml);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return [...err.problems];
  }
  return [];
}

describe('config', () => {
  it('reads the chart-rendered conf.yml and the chart env', () => {
    const cfg = parseConfig(
      {
        HEALTH_PROBE_BIND_ADDRESS: ':5820',
        METRICS_BIND_ADDRESS: ':5821',
        WEBHOOK_PORT: '5822',
        POD_NAMESPACE: 'kube-system',
        LOG_LEVEL: 'info',
      },
      SEED_CONF,
    );
    assert.equal(cfg.feature.tunnelIpv4Subnet, '192.200.0.1/16');
    assert.equal(cfg.feature.datapathMode, 'iptables');
    assert.equal(cfg.feature.vxlan.port, 7789);
    assert.equal(cfg.env.webhookPort, 5822);
    assert.deepEqual(cfg.env.metricsBindAddress, { host: '', port: 5821 });
    assert.deepEqual(cfg.env.healthProbeBindAddress, { host: '', port: 5820 });
    assert.equal(cfg.env.leaderElectionNamespace, 'kube-system');
    assert.equal(cfg.env.leaderElectionId, 'egressgateway');
  });

  it('uses the chart defaults when no file is mounted', () => {
    const cfg = parseConfig({}, undefined);
    assert.deepEqual(cfg.feature, defaultFeatureConfig());
    assert.equal(cfg.env.metricsBindAddress, undefined, 'METRICS_BIND_ADDRESS defaults to off');
    assert.equal(cfg.feature.mark, 0x26000000);
  });

  it('accepts both spellings of cacheSyncSyncPeriodSecond (upstream reads only the lower-case one)', () => {
    assert.equal(parseConfig({}, 'cacheSyncSyncPeriodSecond: 60').feature.cacheSyncSyncPeriodSecond, 60);
    assert.equal(parseConfig({}, 'cachesyncsyncperiodsecond: 70').feature.cacheSyncSyncPeriodSecond, 70);
  });

  const bad: [string, Record<string, string>, string, RegExp][] = [
    [
      'tunnel subnet not a CIDR',
      {},
      'tunnelIpv4Subnet: 192.200.0.300/16',
      /tunnelIpv4Subnet: "192.200.0.300\/16" is not an IPv4 CIDR/,
    ],
    ['v6 subnet in the v4 key', {}, 'tunnelIpv4Subnet: fd11::/112', /is not an IPv4 CIDR/],
    [
      'v6 enabled, bad v6 subnet',
      {},
      'enableIPv6: true\ntunnelIpv6Subnet: 10.0.0.0/8',
      /tunnelIpv6Subnet: "10.0.0.0\/8" is not an IPv6 CIDR/,
    ],
    ['both families off', {}, 'enableIPv4: false\nenableIPv6: false', /enable at least one/],
    [
      'failover timing',
      {},
      'gatewayFailover: {enable: true, eipEvictionTimeout: 10}',
      /eipEvictionTimeout \(10\) must be greater than .* \(10\)/,
    ],
    [
      'fast failover timing',
      {},
      'fastFailover: {intervalMs: 100, fenceAfterMs: 500, deadAfterMs: 550}',
      /fastFailover: need .* a cut-off holder must withdraw before anyone may take over/,
    ],
    ['fast failover port', {}, 'fastFailover: {port: 0}', /fastFailover.port: 0/],
    ['vxlan id range', {}, 'vxlan: {id: 0}', /vxlan.id: 0 is not an integer in \[1, 16777215\]/],
    ['vxlan port', {}, 'vxlan: {port: 70000}', /vxlan.port: 70000/],
    [
      'vxlan name too long',
      {},
      'vxlan: {name: egress.vxlan.too.long}',
      /vxlan.name: "egress.vxlan.too.long" is not a valid interface name/,
    ],
    ['vxlan name with a slash', {}, 'vxlan: {name: "a/b"}', /vxlan.name/],
    [
      'datapath mode',
      {},
      'datapathMode: ebpf',
      /datapathMode: "ebpf" is not supported; use one of "auto", "nftables", "iptables"/,
    ],
    ['iptables backend', {}, 'iptables: {backendMode: nf}', /iptables.backendMode: "nf"/],
    ['detect method', {}, 'tunnelDetectMethod: route', /tunnelDetectMethod: "route" is not supported/],
    [
      'bad regex',
      {},
      'announcedInterfacesToExclude: ["("]',
      /announcedInterfacesToExclude\[0\]: "\(" is not a valid regular expression/,
    ],
    [
      'extra cidr',
      {},
      'clusterCIDR: {extraCidr: ["10.0.0.0/33"]}',
      /clusterCIDR.extraCidr\[0\]: "10.0.0.0\/33"/,
    ],
    ['pod cidr mode', {}, 'clusterCIDR: {autoDetect: {podCidrMode: cilium}}', /podCidrMode: "cilium"/],
    [
      'mark not top byte',
      {},
      'mark: "0x26000001"',
      /mark: "0x26000001" must be a hex mark with only the top byte set/,
    ],
    ['boolean as text', {}, 'enableIPv4: yes-please', /enableIPv4: "yes-please" is not a boolean/],
    ['not a mapping', {}, '- a\n- b', /conf.yml must be a mapping/],
    ['broken YAML', {}, 'a: [b', /conf.yml is not valid YAML/],
    [
      'custom interface shape',
      {},
      'tunnelDetectCustomInterface: [{nodeSelector: {a: b}}]',
      /tunnelDetectCustomInterface\[0\]: must be/,
    ],
    ['endpoints per slice', {}, 'maxNumberEndpointPerSlice: 0', /maxNumberEndpointPerSlice: 0/],
    ['webhook port', { WEBHOOK_PORT: 'http' }, '', /WEBHOOK_PORT: "http" is not a port number/],
    [
      'health bind',
      { HEALTH_PROBE_BIND_ADDRESS: '5820' },
      '',
      /HEALTH_PROBE_BIND_ADDRESS: "5820" is not an address/,
    ],
    ['log level', { LOG_LEVEL: 'loud' }, '', /LOG_LEVEL: "loud" is not a level/],
    ['leader election flag', { LEADER_ELECTION: 'maybe' }, '', /LEADER_ELECTION: "maybe" is not a boolean/],
    // Refused, never ignored: values this build cannot honour yet.
    [
      'reply route (not supported yet)',
      {},
      'enableGatewayReplyRoute: true',
      /enableGatewayReplyRoute: true is refused: reply routing .* not supported yet; set it to false/,
    ],
    [
      'reply route table',
      {},
      'gatewayReplyRouteTable: 601',
      /gatewayReplyRouteTable: 601 is refused.*leave it at 600/,
    ],
    [
      'reply route mark',
      {},
      'gatewayReplyRouteMark: 40',
      /gatewayReplyRouteMark: 40 is refused.*leave it at 39/,
    ],
    [
      'custom interface name',
      {},
      'tunnelDetectCustomInterface: [{nodeSelector: {a: b}, interfaceName: "eth0;rm"}]',
      /tunnelDetectCustomInterface\[0\].interfaceName: "eth0;rm" is not a valid interface name/,
    ],
    [
      'custom interface selector',
      {},
      'tunnelDetectCustomInterface: [{nodeSelector: {a: true}, interfaceName: eth1}]',
      /tunnelDetectCustomInterface\[0\].nodeSelector: label values must be strings/,
    ],
    ['a misspelt key', {}, 'enableIpv6: true', /conf.yml enableIpv6: unknown key; did you mean enableIPv6\?/],
    ['an unknown nested key', {}, 'vxlan: {nam: x}', /conf.yml vxlan.nam: unknown key$/],
    [
      'log encoder',
      { LOG_ENCODER: 'logfmt' },
      '',
      /LOG_ENCODER: "logfmt" is not an encoder; use json or console/,
    ],
    ['gops port', { GOPS_PORT: '6060' }, '', /GOPS_PORT: "6060" is refused: gops is a Go-only/],
    [
      'pyroscope',
      { PYROSCOPE_SERVER_ADDR: 'http://pyroscope:4040' },
      '',
      /PYROSCOPE_SERVER_ADDR: "http:\/\/pyroscope:4040" is refused/,
    ],
  ];
  for (const [name, env, yaml, message] of bad) {
    it(`rejects ${name} with a message that says what to fix`, () => {
      const problems = problemsOf(env, yaml);
      assert.ok(
        problems.some((p) => message.test(p)),
        `expected a problem matching ${message}, got ${JSON.stringify(problems)}`,
      );
    });
  }

  it('reports every problem at once', () => {
    const problems = problemsOf({ WEBHOOK_PORT: 'x' }, 'vxlan: {id: 0, port: 0}\ndatapathMode: ebpf');
    assert.equal(problems.length, 4, JSON.stringify(problems));
  });
});

describe('config: upstream defaults that mean "off" here are accepted', () => {
  for (const env of [
    { GOPS_PORT: '5812', PYROSCOPE_SERVER_ADDR: '', LOG_ENCODER: 'json' },
    { GOPS_PORT: '5824', LOG_ENCODER: 'console' },
    { GOPS_PORT: '0' },
    {},
  ]) {
    it(JSON.stringify(env), () => {
      const cfg = parseConfig(
        env,
        'enableGatewayReplyRoute: false\ngatewayReplyRouteTable: 600\ngatewayReplyRouteMark: 39\n',
      );
      assert.equal(cfg.env.logEncoder, env.LOG_ENCODER === 'console' ? 'console' : 'json');
    });
  }
  it('custom interfaces parse', () => {
    const cfg = parseConfig(
      {},
      'tunnelDetectCustomInterface: [{nodeSelector: {zone: "a"}, interfaceName: eth1}]',
    );
    assert.deepEqual(cfg.feature.tunnelDetectCustomInterface, [
      { nodeSelector: { zone: 'a' }, interfaceName: 'eth1' },
    ]);
  });
});

describe('config: the start-up error', () => {
  it('is one line for one problem, naming the key and the fix', () => {
    assert.throws(
      () => parseConfig({}, 'enableGatewayReplyRoute: true'),
      (err: Error) =>
        err instanceof ConfigError &&
        !err.message.includes('\n') &&
        /^invalid configuration: conf.yml enableGatewayReplyRoute: true is refused: .*; set it to false/.test(
          err.message,
        ),
    );
  });
  it('lists several problems one per line', () => {
    assert.throws(
      () => parseConfig({ GOPS_PORT: '1' }, 'gatewayReplyRouteMark: 40'),
      (err: Error) => err.message.split('\n').length === 3,
    );
  });
});

describe('config: keys of open blocks pass', () => {
  it('iptables.* beyond backendMode (the iptables backend owns them)', () => {
    parseConfig(
      {},
      'iptables: {backendMode: auto, refreshIntervalSecond: 90, lockFilePath: /run/xtables.lock}',
    );
  });
  it("the chart's whole feature block, and upstream's", async () => {
    const { readFile } = await import('node:fs/promises');
    const { parse, stringify } = await import('yaml');
    for (const file of [
      'charts/egressgateway/values.yaml',
      'test/fixtures/chart/upstream-style-values.yaml',
    ]) {
      const values = parse(await readFile(file, 'utf8'));
      parseConfig({}, stringify(values.feature));
    }
  });
});
