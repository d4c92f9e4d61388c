// Just enough RFC 6455 for upstream's `/ws` echo (one text message each way): the opening
// handshake's accept key and frame encoding/decoding. Pure; the sockets are in server.ts
// and client.ts.
import { createHash } from 'node:crypto';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export const OPCODE = { text: 0x1, close: 0x8, ping: 0x9, pong: 0xa } as const;

export function acceptKey(clientKey: string): string {
  return createHash('sha1')
    .update(clientKey + GUID)
    .digest('base64');
}

/** One final frame. Clients must mask (`mask` = 4 bytes), servers must not. */
export function encodeFrame(opcode: number, payload: Buffer, mask?: Buffer): Buffer {
  const len = payload.length;
  const head = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const out = Buffer.alloc(head + (mask ? 4 : 0) + len);
  out[0] = 0x80 | opcode;
  const maskBit = mask ? 0x80 : 0;
  if (len < 126) out[1] = maskBit | len;
  else if (len < 65536) {
    out[1] = maskBit | 126;
    out.writeUInt16BE(len, 2);
  } else {
    out[1] = maskBit | 127;
    out.writeBigUInt64BE(BigInt(len), 2);
  }
  if (!mask) {
    payload.copy(out, head);
    return out;
  }
  mask.copy(out, head);
  for (let i = 0; i < len; i++) out[head + 4 + i] = payload[i]! ^ mask[i % 4]!;
  return out;
}

export interface Frame {
  fin: boolean;
  opcode: number;
  payload: Buffer;
  /** bytes of the input this frame used */
  size: number;
}

/** The first frame in `buf`, unmasked; undefined while it is incomplete. */
export function decodeFrame(buf: Buffer, maxPayload = 1 << 20): Frame | undefined {
  if (buf.length < 2) return undefined;
  const b0 = buf[0]!;
  const b1 = buf[1]!;
  let len = b1 & 0x7f;
  let at = 2;
  if (len === 126) {
    if (buf.length < 4) return undefined;
    len = buf.readUInt16BE(2);
    at = 4;
  } else if (len === 127) {
    if (buf.length < 10) return undefined;
    const big = buf.readBigUInt64BE(2);
    if (big > BigInt(maxPayload)) throw new Error(`WebSocket frame of ${big} bytes is over ${maxPayload}`);
    len = Number(big);
    at = 10;
  }
  if (len > maxPayload) throw new Error(`WebSocket frame of ${len} bytes is over ${maxPayload}`);
  const masked = (b1 & 0x80) !== 0;
  const mask = masked ? buf.subarray(at, at + 4) : undefined;
  if (masked) at += 4;
  if (buf.length < at + len) return undefined;
  const payload = Buffer.from(buf.subarray(at, at + len));
  if (mask) for (let i = 0; i < len; i++) payload[i] = payload[i]! ^ mask[i % 4]!;
  return { fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, payload, size: at + len };
}
