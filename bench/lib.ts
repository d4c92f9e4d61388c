// Shared pieces of the benchmarks: the result shape that bench/run.ts prints, and a timer.
export interface BenchResult {
  name: string;
  unit: string;
  value: number;
  /** measured in the same run, side by side, when a ratio is reported */
  baseline?: { name: string; value: number };
  /** value / baseline.value */
  ratio?: number;
  notes?: string;
}

export interface Timing {
  samples: number;
  p50: number;
  p99: number;
  mean: number;
}

function percentile(sorted: readonly number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? Number.NaN;
}

/** Times `fn` per call in milliseconds after a warm-up. */
export async function timeCalls(
  fn: () => unknown,
  opts: { iterations: number; warmup?: number },
): Promise<Timing> {
  for (let i = 0; i < (opts.warmup ?? Math.ceil(opts.iterations / 10)); i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < opts.iterations; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  samples.sort((a, b) => a - b);
  return {
    samples: samples.length,
    p50: percentile(samples, 50),
    p99: percentile(samples, 99),
    mean: samples.reduce((a, b) => a + b, 0) / samples.length,
  };
}

/** Interleaves two workloads round by round so machine noise hits both alike. */
export async function sideBySide(
  a: () => unknown,
  b: () => unknown,
  opts: { rounds: number; iterations: number },
): Promise<{ a: Timing; b: Timing }> {
  const as: Timing[] = [];
  const bs: Timing[] = [];
  for (let r = 0; r < opts.rounds; r++) {
    as.push(await timeCalls(a, { iterations: opts.iterations }));
    bs.push(await timeCalls(b, { iterations: opts.iterations }));
  }
  const merge = (ts: Timing[]): Timing => {
    const med = (k: keyof Timing) =>
      [...ts.map((t) => t[k])].sort((x, y) => x - y)[Math.floor(ts.length / 2)]!;
    return {
      samples: ts.reduce((n, t) => n + t.samples, 0),
      p50: med('p50'),
      p99: med('p99'),
      mean: med('mean'),
    };
  };
  return { a: merge(as), b: merge(bs) };
}

export function ratioResult(
  name: string,
  unit: string,
  value: number,
  baseline: { name: string; value: number },
  notes?: string,
): BenchResult {
  return { name, unit, value, baseline, ratio: value / baseline.value, ...(notes ? { notes } : {}) };
}
