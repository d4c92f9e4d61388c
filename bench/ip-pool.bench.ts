// EIP pools are kept as ranges. This measures what that buys against the obvious alternative,
// an expanded address set, for a /16 pool: membership checks and the cost of building the pool.
import { parseIp, parsePoolEntry, poolContains } from '../src/common/ip.ts';
import { type BenchResult, ratioResult, sideBySide } from './lib.ts';

export default async function (): Promise<BenchResult[]> {
  const pool = [parsePoolEntry('10.6.0.0/16')];
  const probes = Array.from({ length: 1000 }, (_, i) => `10.6.${(i * 7) % 256}.${(i * 13) % 256}`);

  const buildSet = () => {
    const r = pool[0]!;
    const set = new Set<bigint>();
    for (let v = r.start; v <= r.end; v++) set.add(v);
    return set;
  };
  const set = buildSet();

  const membership = await sideBySide(
    () => {
      for (const p of probes) poolContains(pool, p);
    },
    () => {
      for (const p of probes) set.has(parseIp(p).value);
    },
    { rounds: 5, iterations: 200 },
  );
  const build = await sideBySide(() => [parsePoolEntry('10.6.0.0/16')], buildSet, {
    rounds: 3,
    iterations: 5,
  });
  return [
    ratioResult(
      'pool membership, 1000 lookups in a /16 (ranges vs expanded set)',
      'ms p50',
      membership.a.p50,
      { name: 'expanded Set<bigint>', value: membership.b.p50 },
      'ratio ≈ 1 means ranges cost no more per lookup than a hash set',
    ),
    ratioResult(
      'pool construction for a /16 (ranges vs expanded set)',
      'ms p50',
      build.a.p50,
      { name: 'expanded Set<bigint>', value: build.b.p50 },
      'an IPv6 /64 cannot be expanded at all; ranges cost the same for any size',
    ),
  ];
}
