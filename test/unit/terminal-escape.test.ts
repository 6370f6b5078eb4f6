/**
 * Names, remote output and file contents reach the terminal: escape sequences in them
 * (clear the screen, move the cursor, set the window title, rewrite the line with a bare
 * CR) and bidi overrides are shown escaped, never interpreted.
 */
import chalk from 'chalk';
import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../../src/executor/events.js';
import { printable, terminalReporter } from '../../src/report/terminal.js';

const HOSTILE = ['\x1b[2J\x1b[H', '\x1b]0;owned\x07', '\x9b31m', 'ok\rFAILED', '\u202eevil', '\x00', '\x7f'];

describe('terminal output is printable', () => {
  it('printable() escapes controls but keeps newlines, tabs and CRLF', () => {
    expect(printable('a\tb\nc\r\nd')).toBe('a\tb\nc\r\nd');
    expect(printable('\x1b[2J')).toBe('\\x1b[2J');
    expect(printable('ok\rFAILED')).toBe('ok\\rFAILED');
    expect(printable('\u202eevil')).toBe('\\u202eevil');
    expect(printable('\x9b31m')).toBe('\\x9b31m');
    expect(printable('ünïcødé ✓ 日本')).toBe('ünïcødé ✓ 日本');
  });

  it('the reporter escapes them in task names, messages, notes, diffs and the member table', () => {
    const level = chalk.level;
    chalk.level = 0;
    try {
      let out = '';
      const emit = terminalReporter({ diff: true, verbose: 3, write: (s) => void (out += s) });
      const bad = HOSTILE.join('|');
      const events: RunEvent[] = [
        { type: 'start', inventory: 'i.yaml', playbook: 'p.yaml', check: false, hosts: ['a'] },
        { type: 'warning', message: `w ${bad}` },
        { type: 'play', name: `play ${bad}`, hosts: ['a'] },
        {
          type: 'task',
          result: {
            host: 'a',
            play: 'p',
            task: `task ${bad}`,
            op: 'file',
            status: 'changed',
            handler: false,
            durationMs: 1,
            notes: [`note ${bad}`],
            message: `message ${bad}`,
            steps: [
              {
                kind: 'file',
                description: 'write /etc/x',
                path: '/etc/x',
                before: `old ${bad}\n`,
                after: `new ${bad}\n`,
                mode: 0o644,
                owner: 'root',
                group: 'root',
              },
              { kind: 'command', description: `run ${bad}`, command: `echo '${bad}'` },
            ],
          },
        },
        {
          type: 'task',
          result: {
            host: 'a',
            play: 'p',
            task: 'verify',
            op: 'etcd_verify',
            status: 'failed',
            handler: false,
            durationMs: 1,
            notes: [],
            steps: [],
            message: `remote stderr ${bad}`,
            data: [{ id: '1', name: `m ${bad}`, peerURLs: [bad], clientURLs: [], started: true, healthy: false }],
          },
        },
        { type: 'unreachable', host: 'b', message: `unreachable ${bad}` },
        { type: 'recap', hosts: { a: { ok: 0, changed: 1, failed: 1, unreachable: 0, skipped: 0 } }, durationMs: 5, check: false },
      ];
      for (const e of events) emit(e);
      expect(out).not.toMatch(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e]/);
      expect(out).not.toMatch(/\r(?!\n)/);
      for (const what of ['task', 'message', 'note', 'old', 'new', 'remote stderr', 'unreachable', 'w', 'play']) {
        expect(out).toContain(`${what} \\x1b[2J\\x1b[H|\\x1b]0;owned\\x07|\\x9b31m|ok\\rFAILED|\\u202eevil|\\x00|\\x7f`);
      }
    } finally {
      chalk.level = level;
    }
  });
});
