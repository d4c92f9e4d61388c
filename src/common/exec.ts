// Runs external programs with argument arrays only: no shell ever sees our strings.
import { execFile, spawn } from 'node:child_process';

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface RunOptions {
  /** text written to the child's stdin (e.g. an `ip -batch -` or `nft -f -` script) */
  input?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
  /** exit codes that are not errors (default: only 0) */
  okCodes?: readonly number[];
}

export class CommandError extends Error {
  readonly file: string;
  readonly args: readonly string[];
  readonly result: RunResult;

  constructor(file: string, args: readonly string[], result: RunResult) {
    super(`${file} ${args.join(' ')} exited ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`);
    this.name = 'CommandError';
    this.file = file;
    this.args = args;
    this.result = result;
  }
}

export function run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      {
        env: opts.env ?? process.env,
        cwd: opts.cwd,
        timeout: opts.timeoutMs ?? 60_000,
        maxBuffer: 256 * 1024 * 1024,
        encoding: 'utf8',
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        const result = { stdout, stderr, code };
        if (error && typeof error.code !== 'number') {
          reject(new CommandError(file, args, { ...result, stderr: `${stderr}${error.message}` }));
          return;
        }
        if ((opts.okCodes ?? [0]).includes(code)) resolve(result);
        else reject(new CommandError(file, args, result));
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

export { spawn };

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/**
 * Validates a name that will reach a command line (interface, namespace, chain...).
 * Rejects anything that could be read as an option or carry separators.
 */
export function assertSafeName(kind: string, name: string, maxLength = 63): string {
  if (name.length > maxLength || !SAFE_NAME.test(name)) {
    throw new Error(
      `invalid ${kind} "${name}": use 1-${maxLength} characters from [A-Za-z0-9._-], starting with a letter or digit`,
    );
  }
  return name;
}
