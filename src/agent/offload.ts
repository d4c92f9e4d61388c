// `vxlan.disableChecksumOffload`: turn TX checksum offload off on the tunnel device, as
// upstream does when asked. Some NICs and hypervisors corrupt the checksums of VXLAN-in-VXLAN
// or mis-offload encapsulated packets (a Flannel overlay under our tunnel is the usual case);
// computing them in software avoids that at some CPU cost. The kernel re-enables offload on
// a re-created device, so the agent re-checks on every full pass (cheap: one `ethtool -k`).
import { assertSafeName, run } from '../common/exec.ts';

export interface OffloadOptions {
  /** run inside this network namespace (tests); the agent runs in its node's namespace */
  netns?: string;
  ethtool?: string;
}

/** `tx-checksumming: on` in `ethtool -k` output (pure; "on [fixed]" cannot be changed). */
export function txChecksumOn(ethtoolK: string): boolean {
  return /^tx-checksumming:\s+on\b/m.test(ethtoolK);
}

/** Turns TX checksum offload off if it is on; true when it changed something. */
export async function disableTxChecksumOffload(device: string, o: OffloadOptions = {}): Promise<boolean> {
  const dev = assertSafeName('interface', device, 15);
  const ethtool = o.ethtool ?? 'ethtool';
  const exec = (args: string[]) =>
    o.netns
      ? run('ip', ['netns', 'exec', assertSafeName('network namespace', o.netns), ethtool, ...args])
      : run(ethtool, args);
  if (!txChecksumOn((await exec(['-k', dev])).stdout)) return false;
  await exec(['-K', dev, 'tx', 'off']);
  return true;
}
