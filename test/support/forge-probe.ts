// Sends failover probes that no honest agent would: run inside a lab node's namespace (so the
// source address is that node's, as an attacker on the node would have it), naming a node and
// claiming EIPs, signed with a given key, a wrong one, or a stale stamp. Tests check that the
// agents ignore them.
// usage: forge-probe.ts --to IP[,IP…] --port N --node NAME --holds KEY [--key-b64 K | --wrong-key]
//        [--stale] [--count N] [--every-ms N]
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { parseArgs } from 'node:util';
import { encodeProbe, sealProbe } from '../../src/api/contracts.ts';

const { values } = parseArgs({
  options: {
    to: { type: 'string' },
    port: { type: 'string', default: '7790' },
    node: { type: 'string' },
    holds: { type: 'string', default: '' },
    'key-b64': { type: 'string' },
    'wrong-key': { type: 'boolean', default: false },
    stale: { type: 'boolean', default: false },
    count: { type: 'string', default: '40' },
    'every-ms': { type: 'string', default: '50' },
  },
});
if (!values.to || !values.node) throw new Error('--to and --node are required');
const key = values['wrong-key']
  ? randomBytes(48)
  : Buffer.from(
      Buffer.from(values['key-b64'] ?? '', 'base64')
        .toString('utf8')
        .trim(),
    );
const targets = values.to.split(',');
const socket = createSocket(targets[0]!.includes(':') ? 'udp6' : 'udp4');
const boot = randomBytes(8).readBigUInt64BE();
for (let seq = 1n; seq <= BigInt(values.count); seq++) {
  // A stale probe: a plausible recording from a minute ago.
  const timeMs = values.stale ? Date.now() - 60_000 : Date.now();
  const msg = sealProbe(
    encodeProbe(values.node, [], values.holds ? [values.holds] : []),
    { boot, seq, timeMs },
    key,
  );
  for (const ip of targets) socket.send(msg, Number(values.port), ip);
  await new Promise((r) => setTimeout(r, Number(values['every-ms'])));
}
socket.close();
