/** Local commands for the lab (argv only, never a shell string). */
import { execFile, spawn } from 'node:child_process';
import { ProvisionError } from '../errors.js';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run argv locally; resolves with the exit code (does not throw on failure). */
export function run(
  argv: string[],
  opts: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv; onLine?: (line: string) => void } = {},
): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(
      argv[0]!,
      argv.slice(1),
      { maxBuffer: 64 * 1024 * 1024, timeout: opts.timeoutMs ?? 600_000, env: opts.env ?? process.env },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 127) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) || (err && code === 127 ? err.message : '') });
      },
    );
    // A command that exits without reading its input makes the write fail (EPIPE): its exit
    // status says what happened, the error must not crash the process.
    child.stdin?.on('error', () => undefined);
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    if (opts.onLine) {
      // Each line of stdout as it comes (progress of a long command), besides the whole at the end.
      let partial = '';
      child.stdout?.on('data', (d: Buffer | string) => {
        const lines = (partial + String(d)).split('\n');
        partial = lines.pop()!;
        for (const l of lines) opts.onLine!(l);
      });
    }
  });
}

/** Run argv locally and throw a LAB error with its stderr when it fails. */
export async function must(
  argv: string[],
  opts: { input?: string; timeoutMs?: number; what?: string; env?: NodeJS.ProcessEnv; onLine?: (line: string) => void } = {},
): Promise<string> {
  const r = await run(argv, opts);
  if (r.code !== 0) {
    const out = (r.stderr || r.stdout).trim().split('\n').slice(-15).join('\n');
    throw new ProvisionError('LAB', `${opts.what ?? argv.join(' ')} failed (exit ${r.code}):\n${out}`);
  }
  return r.stdout;
}

/** Start a long-running process detached from us, its output appended to a log file. */
export function startDetached(argv: string[], logFd: number): number {
  const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', logFd, logFd] });
  child.unref();
  if (child.pid === undefined) throw new ProvisionError('LAB', `could not start ${argv[0]}`);
  return child.pid;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
