/**
 * The real CLI as a child process whose output is watched while it runs: for tests that act
 * in the middle of a run (cut a node's network, press Ctrl-C) and time what the user sees.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { projectRoot } from '../../src/lab/topology.js';
import type { CliResult } from './cli.js';

export interface Line {
  /** Milliseconds since the CLI was started. */
  at: number;
  text: string;
}

export interface LiveRun {
  pid: number;
  /** stdout lines so far, with the time each appeared. */
  lines: Line[];
  /** Resolves with the first stdout line matching `re` (rejects after timeoutMs or at exit). */
  waitForLine(re: RegExp, timeoutMs?: number): Promise<Line>;
  /** Sends a signal to the CLI process (as a terminal does on Ctrl-C). */
  signal(sig: NodeJS.Signals): void;
  /** Milliseconds since start. */
  elapsed(): number;
  done: Promise<CliResult>;
}

export function startProvision(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): LiveRun {
  const t0 = Date.now();
  const child = spawn(process.execPath, [path.join(projectRoot, 'bin', 'provision.js'), ...args], {
    env: { ...process.env, FORCE_COLOR: '0', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Line[] = [];
  const waiters = new Set<() => void>();
  let stdout = '';
  let stderr = '';
  let partial = '';
  let exited = false;
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    partial += d.toString();
    const parts = partial.split('\n');
    partial = parts.pop()!;
    for (const text of parts) lines.push({ at: Date.now() - t0, text });
    for (const w of [...waiters]) w();
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 900_000);
  const done = new Promise<CliResult>((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      exited = true;
      if (partial) lines.push({ at: Date.now() - t0, text: partial });
      for (const w of [...waiters]) w();
      resolve({ code: code ?? (signal ? -1 : 0), stdout, stderr, ms: Date.now() - t0 });
    });
  });
  return {
    pid: child.pid!,
    lines,
    elapsed: () => Date.now() - t0,
    signal: (sig) => child.kill(sig),
    done,
    waitForLine(re, timeoutMs = 600_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no line matching ${re} within ${timeoutMs} ms; output so far:\n${stdout}\n${stderr}`));
        }, timeoutMs);
        const check = () => {
          const l = lines.find((x) => re.test(x.text));
          if (!l && !exited) return;
          clearTimeout(timer);
          waiters.delete(check);
          if (l) resolve(l);
          else reject(new Error(`provision exited without a line matching ${re}:\n${stdout}\n${stderr}`));
        };
        waiters.add(check);
        check();
      });
    },
  };
}
