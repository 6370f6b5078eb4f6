/** Renders run events for a person at a terminal (the only place besides json.ts that prints). */
import chalk from 'chalk';
import type { RunEvent, TaskResult } from '../executor/events.js';
import type { Table } from '../plan/operation.js';
import { renderStepDiff, describeStep } from '../plan/diff.js';
import { printable } from '../util/printable.js';
import { Progress } from './progress.js';
import { timingLines } from './timings.js';

export { printable };

export interface TerminalOptions {
  diff: boolean;
  verbose: number;
  write: (s: string) => void;
  /**
   * stdout is a terminal: without -v, a live progress display per task replaces the line per
   * host per task (changes and failures are still printed in full).
   */
  live?: boolean;
}

const statusColour = {
  ok: chalk.green,
  changed: chalk.yellow,
  failed: chalk.red,
  skipped: chalk.cyan,
} as const;

/** A copy of `v` with every string made printable(). */
function printableDeep<T>(v: T): T {
  if (typeof v === 'string') return printable(v) as T;
  if (Array.isArray(v)) return v.map(printableDeep) as T;
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, printableDeep(x)])) as T;
  return v;
}

export function terminalReporter(opts: TerminalOptions): (e: RunEvent) => void {
  const progress = opts.live && opts.verbose === 0 ? new Progress(opts.write) : undefined;
  // Lines go above the live display when there is one.
  const out = progress ? (s: string) => progress.print(s) : opts.write;
  /** The last table a task gave (a cluster's members, as verified last): shown above the recap. */
  let table: Table | undefined;
  let check = false;
  return (raw) => {
    const e = printableDeep(raw);
    switch (e.type) {
      case 'start':
        check = e.check;
        if (check) out(chalk.bold('check mode: nothing will be changed; showing what a real run would do\n'));
        break;
      case 'warning':
        out(chalk.magenta(`warning: ${e.message}\n`));
        break;
      case 'notice':
        out(chalk.cyan(`${e.message}\n`));
        break;
      case 'play':
        progress?.play(e.hosts.length);
        out(chalk.bold(`\nPLAY [${e.name}] ${e.hosts.length ? e.hosts.join(', ') : chalk.dim('no hosts matched: skipped')}\n`));
        break;
      case 'connect':
        if (opts.verbose > 0) out(chalk.dim(`connected: [${e.host}] in ${e.durationMs} ms\n`));
        break;
      case 'unreachable':
        out(chalk.red(`unreachable: [${e.host}] ${e.message}\n`));
        break;
      case 'task-start':
        progress?.start(e.host, e.task, e.handler);
        break;
      case 'task':
        progress?.done(e.result);
        // With the live display, only what changed or failed gets its own lines.
        if (!progress || e.result.status === 'changed' || e.result.status === 'failed' || e.result.notes.length) taskLine(e.result);
        if (e.result.table) table = e.result.table;
        break;
      case 'exec':
        if (opts.verbose >= 3) {
          const what = e.batched ? `${e.commands.length} probes in one command` : `exit ${e.exitCodes[0]}`;
          out(chalk.dim(`    [${e.host}] ${e.phase} round trip ${e.durationMs} ms (${what})\n`));
          for (const [i, c] of e.commands.entries()) out(chalk.dim(`        ${e.batched ? `exit ${e.exitCodes[i]}: ` : ''}${oneLine(c)}\n`));
        }
        break;
      case 'interrupted':
        out(chalk.red(`\n${e.message}\n`));
        break;
      case 'recap': {
        progress?.end();
        if (table?.rows.length) out('\n' + renderTable(table));
        out(chalk.bold(`\nPLAY RECAP${check ? ' (check: predicted)' : ''}\n`));
        const width = Math.max(...Object.keys(e.hosts).map((h) => h.length), 4);
        for (const [host, r] of Object.entries(e.hosts)) {
          const colour = r.failed || r.unreachable ? chalk.red : r.changed ? chalk.yellow : chalk.green;
          out(
            `${colour(host.padEnd(width))} : ${chalk.green(`ok=${r.ok}`)}  ${chalk.yellow(`changed=${r.changed}`)}  ` +
              `${(r.unreachable ? chalk.red : (s: string) => s)(`unreachable=${r.unreachable}`)}  ` +
              `${(r.failed ? chalk.red : (s: string) => s)(`failed=${r.failed}`)}  skipped=${r.skipped}` +
              `${r.interrupted ? chalk.red(`  interrupted ${r.interrupted}`) : ''}\n`,
          );
        }
        out(chalk.dim(`finished in ${(e.durationMs / 1000).toFixed(2)} s\n`));
        if (opts.verbose >= 3 && e.timings) out(chalk.dim(timingLines(e.timings).join('\n') + '\n'));
        break;
      }
    }
  };

  function taskLine(r: TaskResult): void {
    const label = statusColour[r.status](`${r.status}:`);
    const took = chalk.dim(`(${(r.durationMs / 1000).toFixed(2)}s)`);
    out(`${label} [${r.host}] ${r.handler ? 'handler: ' : ''}${r.task} ${took}\n`);
    for (const n of r.notes) out(chalk.dim(`    note: ${n}\n`));
    if (r.status === 'failed' && r.message) out(chalk.red(indent(r.message)) + '\n');
    else if (r.message && opts.verbose > 0) out(chalk.dim(indent(r.message)) + '\n');
    if (r.status !== 'changed') return;
    for (const s of r.steps) {
      if (opts.diff) out(colourDiff(indent(renderStepDiff(s))) + '\n');
      else if (opts.verbose > 0) out(chalk.dim(`    - ${describeStep(s)}\n`));
    }
  }
}

/** A command on one line, cut to a readable length. */
const oneLine = (c: string) => {
  const l = c.replace(/\s*\n\s*/g, ' ⏎ ');
  return l.length > 160 ? `${l.slice(0, 157)}...` : l;
};

const indent = (s: string) =>
  s
    .replace(/\n$/, '')
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');

function colourDiff(s: string): string {
  return s
    .split('\n')
    .map((l) => {
      const t = l.slice(4);
      if (t.startsWith('+++') || t.startsWith('---')) return chalk.bold(l);
      if (t.startsWith('+')) return chalk.green(l);
      if (t.startsWith('-')) return chalk.red(l);
      if (t.startsWith('@@')) return chalk.cyan(l);
      return l;
    })
    .join('\n');
}

/** A table in a box, as many command line tools draw one (`-w table`). */
export function renderTable(t: Table): string {
  const head = t.columns;
  const body = t.rows;
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? '').length)));
  const line = '+' + widths.map((w) => '-'.repeat(w + 2)).join('+') + '+';
  const row = (cells: string[]) => '|' + cells.map((c, i) => ` ${c.padEnd(widths[i]!)} `).join('|') + '|';
  return [...(t.title ? [t.title] : []), line, row(head), line, ...body.map(row), line].join('\n') + '\n';
}
