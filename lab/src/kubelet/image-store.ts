// The lab's image store: the OCI archives that scripts/images.sh built, unpacked once per
// archive into a root filesystem and an image config. A kubelet runs a container only from
// an image found here; any other image reference gets ErrImageNeverPull, as a kubelet with
// `imagePullPolicy: Never` and no such image would report. Nothing maps an image name to
// this checkout's sources.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertSafeName } from '../../../src/common/exec.ts';

/** The parts of an OCI image config a runtime needs. */
export interface ImageConfig {
  entrypoint: string[];
  cmd: string[];
  env: string[];
  workingDir: string;
  user: string;
}

export interface StoredImage {
  ref: string;
  /** sha256 of the archive's manifest, reported as the container's imageID */
  digest: string;
  rootfs: string;
  config: ImageConfig;
}

/** One line of .cache/images/images.json, written by scripts/images.sh build. */
interface BuiltImage {
  name: string;
  ref: string;
  archive: string;
  key: string;
}

const INDEX = 'images.json';

/**
 * `nginx` → `docker.io/library/nginx:latest`, `ghcr.io/x/y` → `ghcr.io/x/y:latest`, as
 * container runtimes normalise references before looking them up.
 */
export function normaliseRef(ref: string): string {
  let r = ref.trim();
  const slash = r.indexOf('/');
  const first = slash < 0 ? '' : r.slice(0, slash);
  if (slash < 0) r = `docker.io/library/${r}`;
  else if (!first.includes('.') && !first.includes(':') && first !== 'localhost') r = `docker.io/${r}`;
  const lastPart = r.slice(r.lastIndexOf('/') + 1);
  if (!lastPart.includes(':') && !lastPart.includes('@')) r = `${r}:latest`;
  return r;
}

export function parseImageConfig(json: unknown): ImageConfig {
  const c = ((json as { config?: Record<string, unknown> }).config ?? {}) as Record<string, unknown>;
  const strings = (v: unknown) =>
    Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  return {
    entrypoint: strings(c['Entrypoint']),
    cmd: strings(c['Cmd']),
    env: strings(c['Env']),
    workingDir: typeof c['WorkingDir'] === 'string' && c['WorkingDir'] !== '' ? c['WorkingDir'] : '/',
    user: typeof c['User'] === 'string' ? c['User'] : '',
  };
}

function readJson(path: string): unknown {
  return JSON.parse(readFileSync(path, 'utf8'));
}

/** The blob path of a `sha256:…` digest inside an OCI layout. */
function blob(layout: string, digest: string): string {
  const m = /^sha256:([0-9a-f]{64})$/.exec(digest);
  if (!m) throw new Error(`unexpected digest ${digest}`);
  return join(layout, 'blobs', 'sha256', m[1]!);
}

/**
 * Unpacks an oci-archive into `dest/rootfs` + `dest/image.json` with umoci, which applies
 * the layers in order with their whiteouts. Idempotent: an unpacked archive is kept.
 */
export function unpackArchive(archive: string, ref: string, dest: string): StoredImage {
  const done = join(dest, 'image.json');
  if (existsSync(done)) return readJson(done) as StoredImage;
  const tmp = `${dest}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(join(tmp, 'layout'), { recursive: true });
  execFileSync('tar', ['-xf', archive, '-C', join(tmp, 'layout')]);
  const layout = join(tmp, 'layout');
  const index = readJson(join(layout, 'index.json')) as {
    manifests: { digest: string; annotations?: Record<string, string> }[];
  };
  const entry =
    index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === ref) ??
    (index.manifests.length === 1 ? index.manifests[0] : undefined);
  if (!entry) throw new Error(`${archive} holds no image ${ref}`);
  // umoci names images by tag within the layout: give the manifest a plain one.
  const tag = 'lab';
  writeFileSync(
    join(layout, 'index.json'),
    JSON.stringify({
      ...index,
      manifests: [{ ...entry, annotations: { 'org.opencontainers.image.ref.name': tag } }],
    }),
  );
  const manifest = readJson(blob(layout, entry.digest)) as { config: { digest: string } };
  const config = parseImageConfig(readJson(blob(layout, manifest.config.digest)));
  execFileSync('umoci', ['unpack', '--image', `${layout}:${tag}`, join(tmp, 'bundle')], { stdio: 'pipe' });
  rmSync(dest, { recursive: true, force: true });
  mkdirSync(dest, { recursive: true });
  renameSync(join(tmp, 'bundle', 'rootfs'), join(dest, 'rootfs'));
  rmSync(tmp, { recursive: true, force: true });
  const image: StoredImage = { ref, digest: entry.digest, rootfs: join(dest, 'rootfs'), config };
  writeFileSync(done, `${JSON.stringify(image, null, 1)}\n`);
  return image;
}

/**
 * Imports every image scripts/images.sh built (`builtDir/images.json`) into the lab's store
 * (`storeDir/images.json`), unpacking each archive once into `cacheDir/<key>`.
 */
export function importBuiltImages(builtDir: string, cacheDir: string, storeDir: string): StoredImage[] {
  const listFile = join(builtDir, INDEX);
  if (!existsSync(listFile)) {
    throw new Error(`no images in ${builtDir}: run "bash scripts/images.sh build" first`);
  }
  const built = readJson(listFile) as BuiltImage[];
  const images = built.map((b) =>
    unpackArchive(b.archive, b.ref, join(cacheDir, assertSafeName('image key', `${b.name}-${b.key}`))),
  );
  mkdirSync(storeDir, { recursive: true });
  writeFileSync(join(storeDir, INDEX), `${JSON.stringify(images, null, 1)}\n`);
  return images;
}

export class ImageStore {
  readonly #byRef = new Map<string, StoredImage>();

  constructor(images: readonly StoredImage[]) {
    for (const i of images) this.#byRef.set(normaliseRef(i.ref), i);
  }

  static load(storeDir: string): ImageStore {
    const file = join(storeDir, INDEX);
    return new ImageStore(existsSync(file) ? (readJson(file) as StoredImage[]) : []);
  }

  find(ref: string): StoredImage | undefined {
    return this.#byRef.get(normaliseRef(ref));
  }

  refs(): string[] {
    return [...this.#byRef.keys()];
  }
}
