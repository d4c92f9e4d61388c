// Calico's IP pools, watched (podCidrMode calico/auto): a pool added, changed, disabled or
// deleted reaches EgressClusterInfo's status, and so every agent's "in-cluster" set, without
// waiting for some other event. Calico may be installed after us or removed: the IPPool
// CRD itself is watched (by name), and the pool watch runs only while that CRD exists.
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from '../common/log.ts';
import { Informer } from '../k8s/informer.ts';

export const CALICO_GROUP = 'crd.projectcalico.org';
export const IPPOOL_CRD = `ippools.${CALICO_GROUP}`;

export interface CalicoPool {
  name: string;
  cidr: string;
  disabled?: boolean;
}

interface IPPool extends KubernetesObject {
  spec?: { cidr?: string; disabled?: boolean };
}

/** What the controller reads from an IPPool; garbage in its spec reads as an empty CIDR. */
export function poolOf(p: IPPool): CalicoPool {
  return {
    name: p.metadata?.name ?? '',
    cidr: typeof p.spec?.cidr === 'string' ? p.spec.cidr : '',
    disabled: p.spec?.disabled === true,
  };
}

export class CalicoPoolWatch {
  readonly #kc: KubeConfig;
  readonly #log: Logger;
  readonly #onChange: () => void;
  readonly #crd: Informer<KubernetesObject>;
  #pools: Informer<IPPool> | undefined;

  constructor(kc: KubeConfig, log: Logger, onChange: () => void) {
    this.#kc = kc;
    this.#log = log;
    this.#onChange = onChange;
    this.#crd = new Informer<KubernetesObject>(kc, {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      path: '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
      fieldSelector: `metadata.name=${IPPOOL_CRD}`,
      log,
      // only whether it exists matters: keep no schema in memory
      transform: (o) => ({ apiVersion: o.apiVersion, kind: o.kind, metadata: { name: o.metadata?.name } }),
    });
    this.#crd.onChange((event) => (event === 'delete' ? this.#stopPools() : this.#startPools()));
  }

  start(): void {
    void this.#crd.run();
  }

  stop(): void {
    this.#crd.stop();
    this.#stopPools();
  }

  #startPools(): void {
    if (this.#pools) return;
    this.#log.info({ crd: IPPOOL_CRD }, 'Calico IP pools found; watching them');
    const pools = new Informer<IPPool>(this.#kc, {
      apiVersion: `${CALICO_GROUP}/v1`,
      kind: 'IPPool',
      path: `/apis/${CALICO_GROUP}/v1/ippools`,
      log: this.#log,
    });
    pools.onChange(() => this.#onChange());
    this.#pools = pools;
    void pools.run();
    void pools.synced.then(() => this.#onChange());
  }

  #stopPools(): void {
    if (!this.#pools) return;
    this.#log.info({ crd: IPPOOL_CRD }, 'Calico IP pools gone');
    this.#pools.stop();
    this.#pools = undefined;
    this.#onChange();
  }

  /**
   * The pools, or undefined while Calico is not installed (no IPPool CRD). Waits for the
   * first lists, so a fresh start never reports "no Calico" only because it has not looked.
   */
  async current(timeoutMs = 10_000): Promise<CalicoPool[] | undefined> {
    const within = <T>(p: Promise<T>, what: string) =>
      Promise.race([
        p,
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error(`${what} not listed within ${timeoutMs} ms`)), timeoutMs).unref(),
        ),
      ]);
    // Timers only until the first lists: after that this runs on every reconcile.
    if (!this.#crd.hasSynced()) await within(this.#crd.synced, `CustomResourceDefinition ${IPPOOL_CRD}`);
    const pools = this.#pools;
    if (!pools) return undefined;
    if (!pools.hasSynced()) await within(pools.synced, 'Calico IPPools');
    return pools.list().map(poolOf);
  }
}
