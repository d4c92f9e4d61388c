// The WebSocket subset of upstream's `/ws` echo: RFC 6455's handshake example, frame sizes at
// each length encoding, masking, incomplete input, and what a non-WebSocket request gets.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { type RunningServer, startServer } from '../../../src/nettools/server.ts';
import { acceptKey, decodeFrame, encodeFrame, OPCODE } from '../../../src/nettools/websocket.ts';

test("accept key: RFC 6455's worked example", () => {
  assert.equal(acceptKey('dGhlIHNhbXBsZSBub25jZQ=='), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
});

test('frames round-trip at every length encoding, masked and not', () => {
  const mask = Buffer.from([1, 2, 3, 4]);
  for (const len of [0, 1, 125, 126, 65535, 65536]) {
    const payload = Buffer.alloc(len, 'x');
    for (const m of [undefined, mask]) {
      const wire = encodeFrame(OPCODE.text, payload, m);
      const head = (len < 126 ? 2 : len < 65536 ? 4 : 10) + (m ? 4 : 0);
      assert.equal(wire.length, head + len, `length ${len}`);
      const f = decodeFrame(Buffer.concat([wire, Buffer.from('next')]));
      assert.ok(f);
      assert.deepEqual(
        [f.fin, f.opcode, f.size, f.payload.equals(payload)],
        [true, OPCODE.text, wire.length, true],
      );
      // Every shorter prefix is "not yet".
      for (const cut of [0, 1, head - 1, wire.length - 1].filter((c) => c >= 0 && c < wire.length))
        assert.equal(decodeFrame(wire.subarray(0, cut)), undefined, `cut ${cut} of ${len}`);
    }
  }
  // Masking really changes the bytes on the wire.
  const masked = encodeFrame(OPCODE.text, Buffer.from('hello'), mask);
  assert.notEqual(masked.subarray(6).toString(), 'hello');
  assert.equal(masked[1]! & 0x80, 0x80);
});

test('a frame over the size limit is refused, not buffered', () => {
  const wire = encodeFrame(OPCODE.text, Buffer.alloc(2000));
  assert.throws(() => decodeFrame(wire, 1000), /WebSocket frame of 2000 bytes is over 1000/);
});

let srv: RunningServer;
before(async () => {
  srv = await startServer({ protocol: 'web', addr: '127.0.0.1', tcpPort: 0, udpPort: 0, webPort: 0 });
});
after(() => srv.close());

test('an upgrade anywhere but /ws is a 400 that says where', async () => {
  const answer = await new Promise<string>((resolve, reject) => {
    const req = http.get({
      host: '127.0.0.1',
      port: srv.ports.web!,
      path: '/',
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-key': 'x',
        'sec-websocket-version': '13',
      },
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => resolve(`${res.statusCode} ${body}`));
    });
    req.on('upgrade', () => reject(new Error('upgraded')));
    req.on('error', reject);
  });
  assert.equal(answer, '400 WebSocket is served on /ws only\n');
});
