// Pure: a pod's container + its image → the OCI runtime config (config.json) runc runs.
// It follows what a kubelet and containerd give a container: the image's entrypoint, command,
// environment, working directory and user, overridden by the pod spec as Kubernetes defines
// (`command` replaces the entrypoint and drops the image's Cmd; `args` replace Cmd), the pod's
// volumes as bind mounts, its network namespace (the node's for hostNetwork), privileges and
// capabilities from the security context, and containerd's default capability set.
import type { V1Container, V1PodSecurityContext } from '@kubernetes/client-node';
import type { ImageConfig } from './image-store.ts';

export interface BindMount {
  source: string;
  target: string;
  readOnly: boolean;
}

export interface ContainerInput {
  container: V1Container;
  podSecurityContext?: V1PodSecurityContext;
  image: ImageConfig;
  /** the kubelet's variables (service discovery, HOSTNAME) and the container's `env`, expanded */
  env: Record<string, string>;
  mounts: BindMount[];
  /** the overlay the container sees as / */
  rootfs: string;
  /** /run/netns/<name> of the pod, or of the node for hostNetwork */
  netnsPath: string;
  hostname: string;
  /** the capabilities the runtime itself holds (its bounding set): no container gets more */
  hostCaps: readonly string[];
  /** /etc/passwd and /etc/group of the image, to resolve a named USER and HOME */
  passwd: string;
  group: string;
}

/** containerd's default set for unprivileged containers (the same as Docker's). */
export const DEFAULT_CAPS = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** Every capability of Linux 5.9+, in bit order (a privileged container gets what the runtime has). */
export const ALL_CAPS = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];

/** The capability names of a `CapBnd:` mask from /proc/<pid>/status. */
export function capsFromMask(hex: string): string[] {
  const mask = BigInt(`0x${hex}`);
  return ALL_CAPS.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
}

const MASKED_PATHS = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
];
const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Kubernetes' rule: `command` replaces ENTRYPOINT (and Cmd), `args` replace Cmd. */
export function containerArgv(c: V1Container, image: ImageConfig): string[] {
  const argv = c.command?.length
    ? [...c.command, ...(c.args ?? [])]
    : [...image.entrypoint, ...(c.args?.length ? c.args : image.cmd)];
  if (argv.length === 0) throw new Error(`container ${c.name}: no command, and the image has none`);
  return argv;
}

function lookup(table: string, nameOrId: string): string[] | undefined {
  for (const line of table.split('\n')) {
    const f = line.split(':');
    if (f[0] === nameOrId || f[2] === nameOrId) return f;
  }
  return undefined;
}

/** Resolves the user the process runs as: securityContext first, then the image's USER. */
export function containerUser(
  input: Pick<ContainerInput, 'container' | 'podSecurityContext' | 'image' | 'passwd' | 'group'>,
): { uid: number; gid: number; additionalGids: number[]; home: string } {
  const sc = input.container.securityContext;
  const psc = input.podSecurityContext;
  const [userPart = '', groupPart] = input.image.user.split(':');
  let uid = sc?.runAsUser ?? psc?.runAsUser;
  let gid = sc?.runAsGroup ?? psc?.runAsGroup;
  let entry: string[] | undefined;
  if (uid === undefined) {
    if (userPart === '') uid = 0;
    else if (/^\d+$/.test(userPart)) uid = Number(userPart);
    else {
      entry = lookup(input.passwd, userPart);
      if (!entry) throw new Error(`image user "${userPart}" is not in the image's /etc/passwd`);
      uid = Number(entry[2]);
    }
  }
  entry ??= lookup(input.passwd, String(uid));
  if (gid === undefined) {
    if (groupPart !== undefined && /^\d+$/.test(groupPart)) gid = Number(groupPart);
    else if (groupPart !== undefined) {
      const g = lookup(input.group, groupPart);
      if (!g) throw new Error(`image group "${groupPart}" is not in the image's /etc/group`);
      gid = Number(g[2]);
    } else gid = entry ? Number(entry[3]) : 0;
  }
  const nonRoot = sc?.runAsNonRoot ?? psc?.runAsNonRoot;
  if (nonRoot && uid === 0) {
    throw new Error(`container ${input.container.name} has runAsNonRoot and the image would run as root`);
  }
  const additionalGids = [...(psc?.supplementalGroups ?? [])];
  if (psc?.fsGroup !== undefined) additionalGids.push(psc.fsGroup);
  return { uid, gid, additionalGids, home: entry?.[5] || (uid === 0 ? '/root' : '/') };
}

/**
 * containerd's rules: privileged gets every capability the runtime holds, others the default
 * set with the pod's `add`/`drop`; never more than the runtime holds (runc would fail).
 */
export function capabilities(c: V1Container, hostCaps: readonly string[] = ALL_CAPS): string[] {
  const sc = c.securityContext;
  if (sc?.privileged) return ALL_CAPS.filter((x) => hostCaps.includes(x));
  const norm = (x: string) => (x.startsWith('CAP_') ? x : `CAP_${x}`).toUpperCase();
  const drop = (sc?.capabilities?.drop ?? []).map(norm);
  const add = (sc?.capabilities?.add ?? []).map(norm);
  const base = drop.includes('CAP_ALL') ? [] : DEFAULT_CAPS.filter((x) => !drop.includes(x));
  const all = add.includes('CAP_ALL') ? ALL_CAPS : [...base, ...add.filter((x) => !base.includes(x))];
  return [...new Set(all)].filter((x) => hostCaps.includes(x));
}

/** Image env, then the kubelet's and the container's; HOME from the user when unset. */
export function processEnv(image: ImageConfig, env: Record<string, string>, home: string): string[] {
  const out = new Map<string, string>();
  for (const kv of image.env) {
    const eq = kv.indexOf('=');
    if (eq > 0) out.set(kv.slice(0, eq), kv.slice(eq + 1));
  }
  if (!out.has('PATH')) out.set('PATH', DEFAULT_PATH);
  for (const [k, v] of Object.entries(env)) out.set(k, v);
  if (!out.has('HOME')) out.set('HOME', home);
  return [...out].map(([k, v]) => `${k}=${v}`);
}

export function ociConfig(input: ContainerInput): Record<string, unknown> {
  const c = input.container;
  const privileged = c.securityContext?.privileged === true;
  const user = containerUser(input);
  const caps = capabilities(c, input.hostCaps);
  const bind = (m: BindMount) => ({
    destination: m.target,
    type: 'bind',
    source: m.source,
    options: ['rbind', m.readOnly ? 'ro' : 'rw'],
  });
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
      args: containerArgv(c, input.image),
      env: processEnv(input.image, input.env, user.home),
      cwd: c.workingDir || input.image.workingDir || '/',
      capabilities: {
        bounding: caps,
        effective: caps,
        permitted: caps,
        // Non-root processes keep the set only through ambient capabilities.
        ...(user.uid === 0 ? { inheritable: caps } : {}),
      },
      noNewPrivileges: c.securityContext?.allowPrivilegeEscalation === false,
    },
    root: { path: input.rootfs, readonly: c.securityContext?.readOnlyRootFilesystem === true },
    hostname: input.hostname,
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755'] },
      {
        destination: '/dev/pts',
        type: 'devpts',
        source: 'devpts',
        options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'],
      },
      {
        destination: '/dev/shm',
        type: 'tmpfs',
        source: 'shm',
        options: ['nosuid', 'noexec', 'nodev', 'size=65536k'],
      },
      {
        destination: '/dev/mqueue',
        type: 'mqueue',
        source: 'mqueue',
        options: ['nosuid', 'noexec', 'nodev'],
      },
      {
        destination: '/sys',
        type: 'sysfs',
        source: 'sysfs',
        options: ['nosuid', 'noexec', 'nodev', privileged ? 'rw' : 'ro'],
      },
      ...input.mounts.map(bind),
    ],
    linux: {
      namespaces: [
        { type: 'pid' },
        { type: 'ipc' },
        { type: 'uts' },
        { type: 'mount' },
        { type: 'network', path: input.netnsPath },
      ],
      ...(privileged ? {} : { maskedPaths: MASKED_PATHS, readonlyPaths: READONLY_PATHS }),
      resources: { devices: [{ allow: privileged, access: 'rwm' }] },
    },
  };
}
