// Turns a pod's spec into what a process needs: its environment (downward API, ConfigMaps,
// Secrets) and the files of its volumes. The apiserver is reached through a small lookup
// interface so this stays testable without one.
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { V1Container, V1Pod, V1Volume } from '@kubernetes/client-node';

export interface PodLookup {
  configMap(namespace: string, name: string): Promise<Record<string, string> | undefined>;
  /** values already base64-decoded */
  secret(namespace: string, name: string): Promise<Record<string, string> | undefined>;
  serviceAccountToken(pod: V1Pod, audience: string | undefined, seconds: number): Promise<string>;
}

export interface HostInfo {
  hostIPs: string[];
  podIPs: string[];
  /** the `kubernetes` Service ClusterIP and port, for in-cluster clients */
  apiService?: { host: string; port: number };
}

const FIELD_LABEL = /^metadata\.(labels|annotations)\['(.+)'\]$/;

export function fieldValue(pod: V1Pod, host: HostInfo, path: string): string {
  const m = FIELD_LABEL.exec(path);
  if (m) {
    const map = m[1] === 'labels' ? pod.metadata?.labels : pod.metadata?.annotations;
    return map?.[m[2]!] ?? '';
  }
  switch (path) {
    case 'metadata.name':
      return pod.metadata?.name ?? '';
    case 'metadata.namespace':
      return pod.metadata?.namespace ?? '';
    case 'metadata.uid':
      return pod.metadata?.uid ?? '';
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? 'default';
    case 'status.podIP':
      return host.podIPs[0] ?? '';
    case 'status.podIPs':
      return host.podIPs.join(',');
    case 'status.hostIP':
      return host.hostIPs[0] ?? '';
    case 'status.hostIPs':
      return host.hostIPs.join(',');
    default:
      throw new Error(`unsupported fieldRef ${path}`);
  }
}

/** $(VAR) references to variables defined earlier, as the kubelet expands them. */
function expand(value: string, env: Record<string, string>): string {
  return value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (all, name: string) => env[name] ?? all);
}

export async function containerEnv(
  pod: V1Pod,
  c: V1Container,
  host: HostInfo,
  lookup: PodLookup,
): Promise<Record<string, string>> {
  const ns = pod.metadata?.namespace ?? 'default';
  // PATH and HOME come from the image and its user (oci-spec.ts), as with containerd.
  const env: Record<string, string> = {
    HOSTNAME: pod.spec?.hostNetwork ? (pod.spec.nodeName ?? '') : (pod.metadata?.name ?? ''),
  };
  if (host.apiService) {
    env['KUBERNETES_SERVICE_HOST'] = host.apiService.host;
    env['KUBERNETES_SERVICE_PORT'] = String(host.apiService.port);
    env['KUBERNETES_SERVICE_PORT_HTTPS'] = String(host.apiService.port);
  }
  for (const from of c.envFrom ?? []) {
    const data = from.configMapRef
      ? await lookup.configMap(ns, from.configMapRef.name ?? '')
      : from.secretRef
        ? await lookup.secret(ns, from.secretRef.name ?? '')
        : undefined;
    const optional = from.configMapRef?.optional ?? from.secretRef?.optional ?? false;
    if (!data && !optional)
      throw new Error(`envFrom: ${from.configMapRef?.name ?? from.secretRef?.name} not found`);
    for (const [k, v] of Object.entries(data ?? {})) env[`${from.prefix ?? ''}${k}`] = v;
  }
  for (const e of c.env ?? []) {
    const vf = e.valueFrom;
    if (!vf) {
      env[e.name] = expand(e.value ?? '', env);
    } else if (vf.fieldRef) {
      env[e.name] = fieldValue(pod, host, vf.fieldRef.fieldPath);
    } else if (vf.configMapKeyRef || vf.secretKeyRef) {
      const ref = (vf.configMapKeyRef ?? vf.secretKeyRef)!;
      const data = vf.configMapKeyRef
        ? await lookup.configMap(ns, ref.name ?? '')
        : await lookup.secret(ns, ref.name ?? '');
      const v = data?.[ref.key];
      if (v === undefined && !ref.optional)
        throw new Error(`env ${e.name}: key ${ref.key} of ${ref.name} not found`);
      if (v !== undefined) env[e.name] = v;
    } else if (vf.resourceFieldRef) {
      env[e.name] = '0';
    }
  }
  return env;
}

function writeFiles(dir: string, files: Record<string, string>): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    if (name.includes('..') || name.startsWith('/')) throw new Error(`unsafe volume file name "${name}"`);
    const path = join(dir, name);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, content, { mode: 0o644 });
  }
}

function pick(
  data: Record<string, string>,
  items: { key: string; path: string }[] | undefined,
): Record<string, string> {
  if (!items?.length) return data;
  return Object.fromEntries(items.filter((i) => i.key in data).map((i) => [i.path, data[i.key]!]));
}

/**
 * A hostPath as the kubelet prepares it: `FileOrCreate` and `DirectoryOrCreate` make what is
 * missing (recorded in `createdPathsFile` for `lab down`), the other types must exist.
 */
export function ensureHostPath(path: string, type: string | undefined, createdPathsFile: string): string {
  if (existsSync(path)) return path;
  if (type !== 'FileOrCreate' && type !== 'DirectoryOrCreate') {
    if (type === undefined || type === '') return path;
    throw new Error(`hostPath ${path} does not exist (type ${type})`);
  }
  // Record the first missing ancestor: removing it later removes everything we made.
  let top = path;
  while (!existsSync(dirname(top))) top = dirname(top);
  appendFileSync(createdPathsFile, `${top}\n`);
  if (type === 'FileOrCreate') {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, '');
  } else mkdirSync(path, { recursive: true });
  return path;
}

/** /etc/hosts, /etc/hostname and /etc/resolv.conf of a pod, as the kubelet writes them. */
export function podEtcFiles(podDir: string, hostname: string, ips: string[]) {
  const dir = join(podDir, 'etc');
  mkdirSync(dir, { recursive: true });
  const hosts = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback'];
  for (const ip of ips) hosts.push(`${ip}\t${hostname}`);
  writeFileSync(join(dir, 'hosts'), `${hosts.join('\n')}\n`);
  writeFileSync(join(dir, 'hostname'), `${hostname}\n`);
  // The lab has no cluster DNS; the machine's resolver settings, as for dnsPolicy Default.
  writeFileSync(
    join(dir, 'resolv.conf'),
    existsSync('/etc/resolv.conf') ? readFileSync('/etc/resolv.conf') : '',
  );
  return ['hosts', 'hostname', 'resolv.conf'].map((f) => ({
    source: join(dir, f),
    target: `/etc/${f}`,
    readOnly: false,
  }));
}

/** A text file of an unpacked image ('' when it has none). */
export function readImageFile(rootfs: string, path: string): string {
  try {
    return readFileSync(join(rootfs, path), 'utf8');
  } catch {
    return '';
  }
}

/**
 * Materializes one volume under `dir`; returns the directory (or host path) to bind-mount.
 * hostPath volumes are used in place.
 */
export async function materializeVolume(
  pod: V1Pod,
  v: V1Volume,
  dir: string,
  lookup: PodLookup,
  host: HostInfo,
  createdPathsFile: string,
) {
  const ns = pod.metadata?.namespace ?? 'default';
  const target = join(dir, v.name);
  if (v.hostPath) return ensureHostPath(v.hostPath.path, v.hostPath.type, createdPathsFile);
  if (v.emptyDir) {
    mkdirSync(target, { recursive: true });
    return target;
  }
  if (v.configMap) {
    const data = await lookup.configMap(ns, v.configMap.name ?? '');
    if (!data && !v.configMap.optional)
      throw new Error(`volume ${v.name}: ConfigMap ${v.configMap.name} not found`);
    writeFiles(target, pick(data ?? {}, v.configMap.items));
    return target;
  }
  if (v.secret) {
    const data = await lookup.secret(ns, v.secret.secretName ?? '');
    if (!data && !v.secret.optional)
      throw new Error(`volume ${v.name}: Secret ${v.secret.secretName} not found`);
    writeFiles(target, pick(data ?? {}, v.secret.items));
    return target;
  }
  if (v.projected) {
    const files: Record<string, string> = {};
    for (const s of v.projected.sources ?? []) {
      if (s.serviceAccountToken) {
        const seconds = s.serviceAccountToken.expirationSeconds ?? 3607;
        files[s.serviceAccountToken.path] = await lookup.serviceAccountToken(
          pod,
          s.serviceAccountToken.audience,
          Math.max(seconds, 86400),
        );
      } else if (s.configMap) {
        const data = await lookup.configMap(ns, s.configMap.name ?? '');
        Object.assign(files, pick(data ?? {}, s.configMap.items));
      } else if (s.secret) {
        const data = await lookup.secret(ns, s.secret.name ?? '');
        Object.assign(files, pick(data ?? {}, s.secret.items));
      } else if (s.downwardAPI) {
        for (const i of s.downwardAPI.items ?? []) {
          if (i.fieldRef) files[i.path] = fieldValue(pod, host, i.fieldRef.fieldPath);
        }
      }
    }
    writeFiles(target, files);
    return target;
  }
  if (v.downwardAPI) {
    const files: Record<string, string> = {};
    for (const i of v.downwardAPI.items ?? [])
      if (i.fieldRef) files[i.path] = fieldValue(pod, host, i.fieldRef.fieldPath);
    writeFiles(target, files);
    return target;
  }
  throw new Error(
    `volume ${v.name}: this lab kubelet supports hostPath, emptyDir, configMap, secret, projected and downwardAPI`,
  );
}
