// The packet-filter half of the datapath (marking, the mark-loop guard, the tunnel guard,
// SNAT) behind one interface, so the agent does not care which kernel API carries it:
// nftables (our own table, nft-render.ts) or iptables + ipset (ipt-render.ts, iptables.ts).
import type { Kernel } from './kernel.ts';
import { type NftRenderConfig, renderNft } from './nft-render.ts';
import type { DatapathPlan } from './planner.ts';

export interface PacketBackend {
  readonly name: 'nftables' | 'iptables';
  /** Brings the kernel to the plan's packet rules; `full` rewrites even what seems unchanged. */
  apply(plan: DatapathPlan, full?: boolean): Promise<boolean>;
  /** Removes everything this backend created. */
  remove(): Promise<void>;
}

export class NftBackend implements PacketBackend {
  readonly name = 'nftables' as const;
  readonly #kernel: Kernel;
  readonly #cfg: NftRenderConfig;

  constructor(kernel: Kernel, cfg: NftRenderConfig) {
    this.#kernel = kernel;
    this.#cfg = cfg;
  }

  apply(plan: DatapathPlan, full = false): Promise<boolean> {
    return this.#kernel.applyNft(renderNft(plan, this.#cfg), full);
  }

  remove(): Promise<void> {
    return this.#kernel.removeNft();
  }
}
