/** Runs the real CLI (bin/provision.js, built dist/) as a child process, as a user would. */
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../../src/lab/topology.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

export function provision(args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(projectRoot, 'bin', 'provision.js'), ...args],
      { timeout: opts.timeoutMs ?? 900_000, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, FORCE_COLOR: '0', ...opts.env } },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
        resolve({ code, stdout, stderr, ms: Date.now() - t0 });
      },
    );
  });
}

export interface JsonTask {
  host: string;
  task: string;
  op: string;
  status: 'ok' | 'changed' | 'failed' | 'skipped';
  handler: boolean;
  notes: string[];
  message?: string;
  data?: unknown;
  steps: { kind: string; description: string; command?: string; path?: string; diff?: string }[];
}

export interface JsonRun {
  check: boolean;
  tasks: JsonTask[];
  recap: Record<string, { ok: number; changed: number; failed: number; unreachable: number; skipped: number }>;
  unreachable: Record<string, string>;
  warnings: string[];
}

/** `provision <args> --json`, parsed. Throws with the output when stdout is not one JSON document. */
export async function provisionJson(args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult & { json: JsonRun }> {
  const r = await provision([...args, '--json'], opts);
  let json: JsonRun;
  try {
    json = JSON.parse(r.stdout) as JsonRun;
  } catch {
    throw new Error(`provision ${args.join(' ')} --json gave no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
  return { ...r, json };
}

/** The (host, task) pairs a run changed (or, in --check, predicts to change), sorted. */
export const changedSet = (run: JsonRun): string[] => [...new Set(run.tasks.filter((t) => t.status === 'changed').map((t) => `${t.host}: ${t.task}`))].sort();

export const totalChanged = (run: JsonRun): number => Object.values(run.recap).reduce((n, r) => n + r.changed, 0);

/**
 * The CLI runs dist/: rebuild it (as scripts/ensure-deps.sh does) when a file in src/ is newer,
 * so that a test of the CLI never runs yesterday's code. Type errors do not stop the build
 * (tsc still emits); `npx tsc --noEmit` is where they are reported.
 */
export function ensureBuilt(): void {
  const newest = (dir: string, ext: string): number => {
    let t = 0;
    for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
      if (e.isFile() && e.name.endsWith(ext)) t = Math.max(t, fs.statSync(path.join(e.parentPath, e.name)).mtimeMs);
    }
    return t;
  };
  const built = path.join(projectRoot, 'dist', 'cli', 'main.js');
  if (fs.existsSync(built) && fs.statSync(built).mtimeMs >= newest(path.join(projectRoot, 'src'), '.ts')) return;
  spawnSync(process.execPath, [path.join(projectRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(projectRoot, 'tsconfig.build.json')], {
    stdio: 'ignore',
  });
}
