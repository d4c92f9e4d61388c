// A private CA and the certificates a real cluster has, made with the openssl CLI.
// EC P-256 keys: generated in milliseconds, accepted by every Kubernetes component.
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../../src/common/exec.ts';

export interface CertPaths {
  cert: string;
  key: string;
}

export interface CertRequest {
  /** file name stem inside the PKI directory */
  file: string;
  commonName: string;
  organizations?: readonly string[];
  dnsNames?: readonly string[];
  ips?: readonly string[];
  usage: 'server' | 'client' | 'both';
}

const SAFE_SUBJECT = /^[A-Za-z0-9:._@-]{1,128}$/;

function subject(commonName: string, organizations: readonly string[]): string {
  for (const part of [commonName, ...organizations]) {
    if (!SAFE_SUBJECT.test(part)) throw new Error(`invalid certificate subject part "${part}"`);
  }
  return `${organizations.map((o) => `/O=${o}`).join('')}/CN=${commonName}`;
}

async function newKey(path: string): Promise<void> {
  await run('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path]);
}

export class Pki {
  readonly dir: string;
  readonly ca: CertPaths;

  constructor(dir: string) {
    this.dir = dir;
    this.ca = { cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key') };
  }

  /** Creates the CA once; later calls reuse it so existing certs and kubeconfigs stay valid. */
  async ensureCa(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    if (existsSync(this.ca.cert) && existsSync(this.ca.key)) return;
    await newKey(this.ca.key);
    await run('openssl', [
      'req',
      '-x509',
      '-new',
      '-key',
      this.ca.key,
      '-subj',
      '/CN=egressgateway-lab-ca',
      '-days',
      '3650',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
      '-out',
      this.ca.cert,
    ]);
  }

  /** Issues (or reuses) a leaf certificate signed by the CA. */
  async issue(req: CertRequest): Promise<CertPaths> {
    const paths = { cert: join(this.dir, `${req.file}.crt`), key: join(this.dir, `${req.file}.key`) };
    if (existsSync(paths.cert) && existsSync(paths.key)) return paths;
    const csr = join(this.dir, `${req.file}.csr`);
    const ext = join(this.dir, `${req.file}.ext`);
    const eku = { server: 'serverAuth', client: 'clientAuth', both: 'serverAuth,clientAuth' }[req.usage];
    const sans = [...(req.dnsNames ?? []).map((d) => `DNS:${d}`), ...(req.ips ?? []).map((i) => `IP:${i}`)];
    const lines = [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      `extendedKeyUsage=${eku}`,
      ...(sans.length > 0 ? [`subjectAltName=${sans.join(',')}`] : []),
    ];
    await writeFile(ext, `${lines.join('\n')}\n`);
    await newKey(paths.key);
    await run('openssl', [
      'req',
      '-new',
      '-key',
      paths.key,
      '-subj',
      subject(req.commonName, req.organizations ?? []),
      '-out',
      csr,
    ]);
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      this.ca.cert,
      '-CAkey',
      this.ca.key,
      '-set_serial',
      `0x${BigInt(Date.now()).toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`,
      '-days',
      '3650',
      '-extfile',
      ext,
      '-out',
      paths.cert,
    ]);
    return paths;
  }

  /** Key pair the apiserver signs service-account tokens with. */
  async ensureServiceAccountKeys(): Promise<{ key: string; pub: string }> {
    const key = join(this.dir, 'sa.key');
    const pub = join(this.dir, 'sa.pub');
    if (!existsSync(key)) await newKey(key);
    if (!existsSync(pub)) await run('openssl', ['pkey', '-in', key, '-pubout', '-out', pub]);
    return { key, pub };
  }
}
