// The failover probe's envelope (a contract between agents, beside the probe body in
// contracts.ts): who may speak for a node on the underlay is whoever holds the cluster's
// probe key. Layout, all integers big-endian:
//
//   "EGP1" | boot (8) | seq (8) | time ms (8) | body (the JSON probe) | HMAC-SHA256 (32)
//
// The HMAC covers everything before it. `boot` is random per agent start, `seq` counts that
// agent's probes, `time` is its wall clock: receivers drop forged probes (no key), replays
// (a sequence number not above the last one of that boot) and stale ones (time too far from
// theirs). Verification accepts any of the keys given, so a key can be rotated without a
// failover: agents accept the old and the new key while the Secret changes.
import { createHmac, timingSafeEqual } from 'node:crypto';

const MAGIC = Buffer.from('EGP1');
const HEADER_BYTES = MAGIC.length + 24;
const MAC_BYTES = 32;
/** shorter keys are refused: a guessable key authenticates nothing */
export const MIN_PROBE_KEY_BYTES = 32;

export interface ProbeStamp {
  boot: bigint;
  seq: bigint;
  timeMs: number;
}

export interface OpenedProbe extends ProbeStamp {
  body: Buffer;
}

function mac(key: Buffer, data: Buffer): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

export function sealProbe(body: Buffer, stamp: ProbeStamp, key: Buffer): Buffer {
  const head = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(head, 0);
  head.writeBigUInt64BE(stamp.boot, 4);
  head.writeBigUInt64BE(stamp.seq, 12);
  head.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(stamp.timeMs))), 20);
  const signed = Buffer.concat([head, body]);
  return Buffer.concat([signed, mac(key, signed)]);
}

/** The probe if one of `keys` signed it; undefined for anything else (never throws). */
export function openProbe(datagram: Buffer, keys: readonly Buffer[]): OpenedProbe | undefined {
  if (datagram.length < HEADER_BYTES + MAC_BYTES || !datagram.subarray(0, 4).equals(MAGIC)) return undefined;
  const signed = datagram.subarray(0, datagram.length - MAC_BYTES);
  const given = datagram.subarray(datagram.length - MAC_BYTES);
  if (!keys.some((k) => timingSafeEqual(mac(k, signed), given))) return undefined;
  return {
    boot: signed.readBigUInt64BE(4),
    seq: signed.readBigUInt64BE(12),
    timeMs: Number(signed.readBigUInt64BE(20)),
    body: signed.subarray(HEADER_BYTES),
  };
}
