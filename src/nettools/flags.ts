// Go-style command-line flags, as upstream's nettools takes them: `-name value`,
// `-name=value`, and `--name` too. Boolean flags also accept a following `true`/`false`
// word, so upstream's own `-batch true -contain false` means what it says (Go's parser
// stopped at `true` and silently ignored the rest).
export type FlagSpec = Record<
  string,
  { kind: 'string' | 'int' | 'bool'; default: string | number | boolean; help: string }
>;

export type FlagValues<S extends FlagSpec> = {
  [K in keyof S]: S[K]['kind'] extends 'bool' ? boolean : S[K]['kind'] extends 'int' ? number : string;
};

export class FlagError extends Error {
  override name = 'FlagError';
}

function parseBool(name: string, v: string): boolean {
  if (['true', '1', 't', 'T', 'TRUE', 'True'].includes(v)) return true;
  if (['false', '0', 'f', 'F', 'FALSE', 'False'].includes(v)) return false;
  throw new FlagError(`-${name}: "${v}" is not a boolean; use true or false`);
}

export function parseFlags<S extends FlagSpec>(spec: S, argv: readonly string[]): FlagValues<S> {
  const out: Record<string, string | number | boolean> = {};
  for (const [k, s] of Object.entries(spec)) out[k] = s.default;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const m = /^--?([A-Za-z][A-Za-z0-9_-]*)(?:=(.*))?$/.exec(arg);
    if (!m) throw new FlagError(`unexpected argument "${arg}"; flags look like -name value`);
    const name = m[1]!;
    const s = spec[name];
    if (!s) {
      throw new FlagError(
        `unknown flag -${name}; known flags: ${Object.keys(spec)
          .map((k) => `-${k}`)
          .join(' ')}`,
      );
    }
    let value = m[2];
    if (s.kind === 'bool') {
      if (value === undefined && /^(true|false)$/.test(argv[i + 1] ?? '')) value = argv[++i];
      out[name] = value === undefined ? true : parseBool(name, value);
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new FlagError(`-${name} needs a value`);
      value = argv[++i]!;
    }
    if (s.kind === 'int') {
      if (!/^\d+$/.test(value)) throw new FlagError(`-${name}: "${value}" is not a whole number`);
      out[name] = Number(value);
    } else out[name] = value;
  }
  return out as FlagValues<S>;
}

export function usage(program: string, spec: FlagSpec): string {
  const lines = [`usage: ${program} [flags]`];
  for (const [k, s] of Object.entries(spec))
    lines.push(`  -${k} ${s.kind}\t${s.help} (default ${JSON.stringify(s.default)})`);
  return lines.join('\n');
}

export function portFlag(name: string, v: number): number {
  if (v < 1 || v > 65535) throw new FlagError(`-${name}: ${v} is not a port (1-65535)`);
  return v;
}
