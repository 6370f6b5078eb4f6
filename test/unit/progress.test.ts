/**
 * The terminal reporter at scale: on a terminal (live), one progress line per task instead of
 * a line per host per task, with changes and failures still in full; without a terminal, or
 * with -v, every line as before.
 */
import { describe, expect, it } from 'vitest';
import type { RunEvent, TaskResult, TaskStatus } from '../../src/executor/events.js';
import { emptyRecap } from '../../src/executor/events.js';
import { terminalReporter } from '../../src/report/terminal.js';

const HOSTS = Array.from({ length: 40 }, (_, i) => `web${i}`);
const result = (host: string, task: string, status: TaskStatus, message?: string): TaskResult => ({
  host,
  play: 'p',
  task,
  op: 'command',
  status,
  steps: status === 'changed' ? [{ kind: 'command', description: 'run touch /x', command: 'touch /x' }] : [],
  notes: [],
  handler: false,
  durationMs: 5,
  message,
});

/** A run of two tasks on 40 hosts: one host changes, one fails the second task. */
function events(): RunEvent[] {
  const ev: RunEvent[] = [
    { type: 'start', inventory: 'i', playbook: 'p', check: false, hosts: HOSTS },
    { type: 'play', name: 'p', hosts: HOSTS },
  ];
  for (const task of ['Install', 'Configure']) {
    for (const h of HOSTS) ev.push({ type: 'task-start', host: h, play: 'p', task, handler: false });
    for (const h of HOSTS) {
      const status: TaskStatus = task === 'Install' && h === 'web7' ? 'changed' : task === 'Configure' && h === 'web9' ? 'failed' : 'ok';
      ev.push({ type: 'task', result: result(h, task, status, status === 'failed' ? 'disk full' : undefined) });
    }
  }
  ev.push({ type: 'recap', hosts: Object.fromEntries(HOSTS.map((h) => [h, emptyRecap()])), durationMs: 100, check: false });
  return ev;
}

const render = (live: boolean, verbose = 0) => {
  let out = '';
  const emit = terminalReporter({ diff: false, verbose, write: (s) => (out += s), live });
  for (const e of events()) emit(e);
  return out.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
};

describe('live progress display', () => {
  it('on a terminal: a line per task with hosts done, changed and failed; changes and failures in full', () => {
    const out = render(true);
    expect(out).toMatch(/changed: Install \(40\/40 hosts, 1 changed, 0 failed/);
    expect(out).toMatch(/failed: Configure \(40\/40 hosts, 0 changed, 1 failed/);
    expect(out).toContain('changed: [web7] Install');
    expect(out).toContain('failed: [web9] Configure');
    expect(out).toContain('disk full');
    expect(out).not.toContain('ok: [web0] Install');
    // Far fewer lines than one per host per task.
    expect(out.split('\n').filter((l) => /^(ok|changed|failed):/.test(l)).length).toBeLessThan(10);
  });

  it('without a terminal, or with -v, every host and task has its line as before', () => {
    for (const out of [render(false), render(true, 1)]) {
      expect(out).toContain('ok: [web0] Install');
      expect(out).toContain('changed: [web7] Install');
      expect(out.split('\n').filter((l) => /^(ok|changed|failed): \[/.test(l))).toHaveLength(80);
    }
  });
});
