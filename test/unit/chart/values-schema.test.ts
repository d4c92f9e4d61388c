// Refused at install, never ignored: helm validates values.schema.json (generated from
// src/api/values-schema.ts) on install/upgrade/template, and the chart's templates refuse the
// values its binaries cannot honour yet. Every failure names the key. Upstream's full default
// values pass the schema (their image keys are refused separately: images.test.ts).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { toolBinary } from '../../../lab/src/paths.ts';
import { CommandError, run } from '../../../src/common/exec.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CHART = join(ROOT, 'charts/egressgateway');
const UPSTREAM_STYLE_VALUES = join(ROOT, 'test/fixtures/chart/upstream-style-values.yaml');
/** upstream's values passed whole, with our images (what docs/install.md tells users to do) */
const UPSTREAM_WITH_OUR_IMAGES = [
  '-f',
  UPSTREAM_STYLE_VALUES,
  '--set',
  'agent.image.repository=egressgateway-ts/egressgateway-agent,agent.image.tag=',
  '--set',
  'controller.image.repository=egressgateway-ts/egressgateway-controller,controller.image.tag=',
];

/** helm template's error text, or '' when it renders. */
async function templateError(args: string[]): Promise<string> {
  try {
    await run(toolBinary('helm'), ['template', 'egressgateway', CHART, '-n', 'kube-system', ...args]);
    return '';
  } catch (err) {
    if (err instanceof CommandError) return err.result.stderr;
    throw err;
  }
}
const sets = (s: string[]) => s.flatMap((x) => ['--set', x]);

test("upstream's default values (seed's --set included) pass, as do our defaults", async () => {
  assert.equal(await templateError([]), '');
  assert.equal(
    await templateError([...UPSTREAM_WITH_OUR_IMAGES, '--set', 'feature.tunnelIpv4Subnet=192.200.0.1/16']),
    '',
  );
  assert.equal(
    await templateError(
      sets([
        'feature.enableIPv6=true',
        'feature.tunnelIpv6Subnet=fd00:11::/64',
        'feature.mark=0x27000000',
        'feature.datapathMode=iptables',
        'feature.tunnelDetectMethod=interface=eth1',
        'feature.clusterCIDR.extraCidr={10.0.0.0/8,192.168.1.1,fd00::/8}',
        'agent.debug.logEncoder=console',
        'controller.debug.gopsPort=0',
      ]),
    ),
    '',
  );
  assert.equal(
    await templateError(
      sets(['feature.enableIPv4=false', 'feature.enableIPv6=true', 'feature.tunnelIpv4Subnet=']),
    ),
    '',
  );
});

describe('the schema fails a wrong value, naming the key', () => {
  const cases: [string, string[], RegExp][] = [
    [
      'unknown datapathMode',
      ['feature.datapathMode=ebpf'],
      /'\/feature\/datapathMode': value must be one of/,
    ],
    ['malformed IPv4 subnet', ['feature.tunnelIpv4Subnet=192.200.0.1/33'], /'\/feature\/tunnelIpv4Subnet'/],
    ['IPv6 subnet given as IPv4', ['feature.tunnelIpv6Subnet=10.0.0.0/8'], /'\/feature\/tunnelIpv6Subnet'/],
    ['mark below the top byte', ['feature.mark=0x26000001'], /'\/feature\/mark'/],
    ['mark zero', ['feature.mark=0x00000000'], /'\/feature\/mark'/],
    ['a boolean as text', ['feature.enableIPv6=maybe'], /'\/feature\/enableIPv6': got string, want boolean/],
    ['VNI out of range', ['feature.vxlan.id=16777216'], /'\/feature\/vxlan\/id'/],
    ['port as text', ['controller.webhookPort=https'], /'\/controller\/webhookPort'/],
    [
      'a misspelt feature key',
      ['feature.enableIpv6=true'],
      /'\/feature': additional properties 'enableIpv6'/,
    ],
    ['interface name', ['feature.vxlan.name=a/b'], /'\/feature\/vxlan\/name'/],
    ['detect method', ['feature.tunnelDetectMethod=route'], /'\/feature\/tunnelDetectMethod'/],
    ['log encoder', ['agent.debug.logEncoder=logfmt'], /'\/agent\/debug\/logEncoder'/],
    ['tls method', ['controller.tls.method=vault'], /'\/controller\/tls\/method'/],
    ['extra CIDR', ['feature.clusterCIDR.extraCidr={10.0.0.0/40}'], /'\/feature\/clusterCIDR\/extraCidr\/0'/],
  ];
  for (const [name, values, message] of cases) {
    test(name, async () => {
      const err = await templateError(sets(values));
      assert.match(err, /values don't meet the specifications of the schema/);
      assert.match(err, message);
    });
  }
});

describe('values the binaries cannot honour yet are refused at install, with why and what to set', () => {
  const cases: [string, RegExp][] = [
    [
      'feature.enableGatewayReplyRoute=true',
      /feature.enableGatewayReplyRoute=true: reply routing .* not supported yet; set it to false/,
    ],
    ['feature.gatewayReplyRouteTable=601', /feature.gatewayReplyRouteTable=601: .*leave it at 600/],
    ['feature.gatewayReplyRouteMark=40', /feature.gatewayReplyRouteMark=40: .*leave it at 39/],
    ['agent.debug.gopsPort=6060', /agent.debug.gopsPort=6060: gops is a Go-only .*set it to 0/],
    [
      'controller.debug.pyroscopeServerAddr=http://p:4040',
      /controller.debug.pyroscopeServerAddr="http:\/\/p:4040"/,
    ],
  ];
  for (const [value, message] of cases) {
    test(value, async () => {
      const err = await templateError(['--set', value]);
      assert.match(err, /values this chart refuses \(docs\/values.md\)/);
      assert.match(err, message);
    });
  }
  test("upstream's gops ports pass (they mean off here)", async () => {
    assert.equal(
      await templateError(sets(['agent.debug.gopsPort=5812', 'controller.debug.gopsPort=5824'])),
      '',
    );
  });
});
