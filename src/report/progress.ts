/**
 * The live progress display of a run on a terminal: one line per task of the current play,
 * redrawn in place (at most ten times a second): hosts done of total, changed, failed, and the
 * slowest host still running it. A task done on every host of the play becomes a permanent
 * line. Other output (changes, failures, warnings) is printed above the display.
 */
import chalk from 'chalk';
import type { TaskResult } from '../executor/events.js';

interface TaskProgress {
  name: string;
  done: number;
  changed: number;
  failed: number;
  skipped: number;
  /** Hosts running it now, and since when. */
  running: Map<string, number>;
  started: number;
}

const REDRAW_MS = 100;

export class Progress {
  private tasks = new Map<string, TaskProgress>();
  private total = 0;
  /** Lines of the display now on screen (to be erased before the next draw). */
  private drawn = 0;
  private timer?: NodeJS.Timeout;

  constructor(private readonly write: (s: string) => void) {}

  /** A new play: what is left of the last one is settled first. */
  play(hosts: number): void {
    this.settle();
    this.total = hosts;
  }

  start(host: string, task: string, handler: boolean): void {
    const t = this.task(task, handler);
    t.running.set(host, Date.now());
    this.schedule();
  }

  done(r: TaskResult): void {
    const t = this.task(r.task, r.handler);
    t.running.delete(r.host);
    t.done++;
    if (r.status === 'changed') t.changed++;
    if (r.status === 'failed') t.failed++;
    if (r.status === 'skipped') t.skipped++;
    if (t.done >= this.total && t.running.size === 0) {
      this.tasks.delete(this.key(r.task, r.handler));
      this.print(this.line(t, true) + '\n');
      return;
    }
    this.schedule();
  }

  /** Writes permanent output above the display. */
  print(s: string): void {
    this.erase();
    this.write(s);
    this.draw();
  }

  /** The run is over: tasks still shown become permanent lines. */
  end(): void {
    this.settle();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private settle(): void {
    this.erase();
    for (const t of this.tasks.values()) this.write(this.line(t, true) + '\n');
    this.tasks.clear();
  }

  private key = (task: string, handler: boolean) => `${handler ? 'h' : 't'}\0${task}`;

  private task(name: string, handler: boolean): TaskProgress {
    const k = this.key(name, handler);
    let t = this.tasks.get(k);
    if (!t)
      this.tasks.set(
        k,
        (t = { name: handler ? `handler: ${name}` : name, done: 0, changed: 0, failed: 0, skipped: 0, running: new Map(), started: Date.now() }),
      );
    return t;
  }

  private line(t: TaskProgress, final: boolean): string {
    const status = t.failed
      ? chalk.red('failed:')
      : t.changed
        ? chalk.yellow('changed:')
        : t.done === t.skipped && t.done > 0
          ? chalk.cyan('skipped:')
          : chalk.green('ok:');
    const counts = `${t.done}/${this.total} hosts, ${t.changed} changed, ${t.failed} failed`;
    const took = ((Date.now() - t.started) / 1000).toFixed(2);
    if (final) {
      const missing = this.total - t.done;
      return `${status} ${t.name} ${chalk.dim(`(${counts}${missing > 0 ? `, ${missing} did not run it` : ''}; ${took}s)`)}`;
    }
    let slowest: [string, number] | undefined;
    for (const [h, since] of t.running) if (!slowest || since < slowest[1]) slowest = [h, since];
    const slow = slowest ? `; slowest running: ${slowest[0]} ${((Date.now() - slowest[1]) / 1000).toFixed(1)}s` : '';
    return `${chalk.bold('...')} ${t.name} ${chalk.dim(`(${counts}${slow})`)}`;
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.erase();
      this.draw();
      // Keep the slowest host's clock moving while something runs.
      if (this.tasks.size) this.schedule();
    }, REDRAW_MS);
    this.timer.unref?.();
  }

  private draw(): void {
    const lines = [...this.tasks.values()].map((t) => this.line(t, false));
    const cols = process.stdout.columns || 120;
    // A line wider than the terminal would wrap and break the erase: cut it.
    for (const l of lines) this.write(cut(l, cols - 1) + '\n');
    this.drawn = lines.length;
  }

  private erase(): void {
    if (this.drawn) this.write(`\x1b[${this.drawn}A\x1b[J`);
    this.drawn = 0;
  }
}

/** Cuts a line with colour codes to `width` visible characters. */
function cut(s: string, width: number): string {
  let visible = 0;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\x1b') {
      const m = /^\x1b\[[0-9;]*m/.exec(s.slice(i));
      if (m) {
        out += m[0];
        i += m[0].length - 1;
        continue;
      }
    }
    if (visible >= width) continue;
    out += s[i];
    visible++;
  }
  return out;
}
