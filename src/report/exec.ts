/** Output of ad-hoc commands (`provision <inventory> exec`): per host, as each one finishes. */
import chalk from 'chalk';
import { printable } from './terminal.js';

export interface ExecHostResult {
  host: string;
  /** Set when the command ran (whatever its exit code). */
  exitCode?: number;
  stdout?: string;
  stderr?: string;
  durationMs?: number;
  /** The host could not be reached or logged in to. */
  unreachable?: boolean;
  /** Why it did not run or was cut short (unreachable, sudo refused, timeout). */
  message?: string;
}

export type ExecEvent = { type: 'host'; result: ExecHostResult } | { type: 'done'; results: ExecHostResult[]; durationMs: number };

const withNewline = (s: string) => (s === '' || s.endsWith('\n') ? s : s + '\n');

/** Ansible's ad-hoc layout: `host | SUCCESS | rc=0 >>` and the output under it. */
export function execTerminalReporter(write: (s: string) => void): (e: ExecEvent) => void {
  return (e) => {
    if (e.type === 'host') {
      const r = e.result;
      if (r.exitCode === undefined) {
        const word = r.unreachable ? 'UNREACHABLE!' : 'FAILED!';
        write(chalk.red(`${r.host} | ${word} => ${printable(r.message ?? '')}\n`));
        return;
      }
      const head = r.exitCode === 0 ? chalk.green(`${r.host} | SUCCESS | rc=0 >>`) : chalk.red(`${r.host} | FAILED | rc=${r.exitCode} >>`);
      write(`${head}\n${withNewline(printable(r.stdout ?? ''))}${r.stderr ? withNewline(printable(r.stderr)) : ''}`);
      return;
    }
    const n = (f: (r: ExecHostResult) => boolean) => e.results.filter(f).length;
    const ok = n((r) => r.exitCode === 0);
    const failed = n((r) => r.exitCode !== undefined && r.exitCode !== 0) + n((r) => r.exitCode === undefined && !r.unreachable);
    const unreachable = n((r) => !!r.unreachable);
    write(
      `\n${e.results.length} host${e.results.length === 1 ? '' : 's'}: ok=${ok} failed=${failed} unreachable=${unreachable} (${(e.durationMs / 1000).toFixed(1)}s)\n`,
    );
  };
}

/** One JSON document at the end: { hosts: { name: result } }. */
export function execJsonReporter(write: (s: string) => void): (e: ExecEvent) => void {
  return (e) => {
    if (e.type !== 'done') return;
    const hosts = Object.fromEntries(e.results.map(({ host, ...rest }) => [host, rest]));
    write(JSON.stringify({ hosts, durationMs: e.durationMs }, null, 2) + '\n');
  };
}
