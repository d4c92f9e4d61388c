// What the nettools server says and how the client reads it back. The web answer is the one
// the seed README shows (`Remote IP: 172.22.0.110`): the address only, IPv4-mapped IPv6
// addresses printed as plain IPv4.
export function plainIp(address: string | undefined): string {
  const a = (address ?? '').replace(/%.*$/, '');
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

export function webAnswer(remote: string | undefined): string {
  return `Remote IP: ${plainIp(remote)}\n`;
}

export function hostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

export function streamAnswer(
  kind: 'TCP' | 'UDP' | 'WebSocket',
  remote: string | undefined,
  port: number | undefined,
  now: Date,
): string {
  return `${now.toISOString()} clientIP=${hostPort(plainIp(remote), port ?? 0)} ${kind} Server Say hello! \n`;
}

/** `1.2.3.4:5`, `[fd00::1]:5`, or a bare address → the address. */
function stripPort(hp: string): string {
  const v6 = /^\[(.+)\]:\d+$/.exec(hp);
  if (v6) return v6[1]!;
  if (/^[\d.]+:\d+$/.test(hp)) return hp.replace(/:\d+$/, '');
  return hp;
}

/** The source address the server saw, from any of its answers; undefined if none is there. */
export function seenIp(answer: string): string | undefined {
  const m = /Remote IP: (\S+)/.exec(answer) ?? /clientIP=(\S+)/.exec(answer);
  return m ? stripPort(m[1]!) : undefined;
}
