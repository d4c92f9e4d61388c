// A KubeConfig whose API clients share connections. @kubernetes/client-node 2.0 builds a new
// undici Agent for every request, so every call opens a new TLS connection (a new secure
// context, a handshake on both ends, a socket left to idle out). Measured at 100 slice
// writes/s: a fifth of the controller's CPU went to TLS set-up, and the apiserver paid the
// same again. Here one Agent per (cluster, user) serves every request, as client-go does.
import { type Cluster, KubeConfig } from '@kubernetes/client-node';

// `createDispatcher` is private in the library's types but a plain method at run time; it
// is the one place the library builds a connection pool, once per request.
interface DispatcherFactory {
  createDispatcher(cluster: Cluster | null, agentOptions: AgentOptions): Dispatcher | undefined;
}
interface Dispatcher {
  close(): Promise<void>;
}
interface AgentOptions {
  ca?: unknown;
  cert?: unknown;
  key?: unknown;
  pfx?: unknown;
  passphrase?: unknown;
  rejectUnauthorized?: unknown;
  servername?: unknown;
}

const TLS_FIELDS = ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername'] as const;

/**
 * Whether two requests' TLS settings are the same (a rotated certificate needs a new pool).
 * The library reads them afresh for every request, so buffers are compared by content, in
 * place: this runs once per API call.
 */
function sameTls(a: AgentOptions, b: AgentOptions): boolean {
  return TLS_FIELDS.every((f) => {
    const x = a[f];
    const y = b[f];
    return Buffer.isBuffer(x) && Buffer.isBuffer(y) ? x.equals(y) : x === y;
  });
}

export class PooledKubeConfig extends KubeConfig {
  readonly #dispatchers = new Map<string, { dispatcher: Dispatcher; tls: AgentOptions }>();

  constructor() {
    super();
    // Hand out the shared pool instead of a new one. (Replacing the library's dispatcher
    // after it was built still paid for building and closing an Agent per request: an error
    // object with a stack trace each, 2 % of the controller's CPU at 200 writes/s.)
    const self = this as unknown as DispatcherFactory;
    const build = self.createDispatcher.bind(this);
    self.createDispatcher = (cluster, agentOptions) => {
      // Same key as the library's own https.Agent cache: credentials belong to (cluster, user).
      const key = JSON.stringify([
        cluster?.name ?? '',
        cluster?.server ?? '',
        this.getCurrentUser()?.name ?? '',
      ]);
      const shared = this.#dispatchers.get(key);
      if (shared && sameTls(shared.tls, agentOptions)) return shared.dispatcher;
      const fresh = build(cluster, agentOptions);
      if (!fresh) return undefined;
      // Requests in flight on the old pool finish; new ones use the new credentials.
      if (shared) void shared.dispatcher.close().catch(() => undefined);
      this.#dispatchers.set(key, { dispatcher: fresh, tls: { ...agentOptions } });
      return fresh;
    };
  }

  /** Closes the shared connections (for short-lived processes and tests). */
  async closeConnections(): Promise<void> {
    const all = [...this.#dispatchers.values()];
    this.#dispatchers.clear();
    await Promise.all(all.map((d) => d.dispatcher.close().catch(() => undefined)));
  }
}

/** A pooled KubeConfig from a file, or the default loading rules (in-cluster, $KUBECONFIG, ~/.kube). */
export function loadKubeConfig(path?: string): PooledKubeConfig {
  const kc = new PooledKubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  return kc;
}
