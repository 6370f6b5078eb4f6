/**
 * Capability-like values are masked in all output, like passwords: a discovery token URL (made
 * by provision, recorded, or given as discovery.url) never appears in the terminal output (with
 * --diff and -vvv) nor in --json, wherever it comes from: a notice, an etcd.conf diff, an
 * error, remote output. What a user needs stays: the endpoint, and that the line changed.
 */
import { describe, expect, it } from 'vitest';
import { outputSecrets } from '../../src/discovery/token.js';
import { DISCOVERY_TOKEN_PATTERN } from '../../src/discovery/token-pattern.js';
import type { RunEvent } from '../../src/executor/events.js';
import { parseInventory } from '../../src/inventory/index.js';
import { jsonReporter } from '../../src/report/json.js';
import { HIDDEN, redacting, redactor } from '../../src/report/redact.js';
import { terminalReporter } from '../../src/report/terminal.js';

const TOKEN = '9f3c2a7d41e84b0c9a1f5e6d7c8b9a01';
const URL = `http://10.214.1.10:2379/v2/keys/discovery/${TOKEN}`;
const OTHER = 'c0ffee00c0ffee00c0ffee00c0ffee00';
const GIVEN = `https://discovery.example.net/${OTHER}`;

function events(): RunEvent[] {
  const conf = (u: string) => `ETCD_NAME="etcd0"\nETCD_DISCOVERY="${u}"\nETCD_INITIAL_CLUSTER_STATE="new"\n`;
  return [
    { type: 'start', inventory: 'inv.yaml', playbook: 'pb.yaml', check: false, hosts: ['etcd0'] },
    { type: 'notice', message: `discovery: made token ${URL} for 3 members (recorded in /x/.provision-state/lab.json)` },
    { type: 'play', name: 'etcd cluster', hosts: ['etcd0'] },
    {
      type: 'task',
      result: {
        host: 'etcd0',
        play: 'etcd cluster',
        task: 'Write /etc/etcd/etcd.conf',
        op: 'etcd_config',
        status: 'changed',
        handler: false,
        durationMs: 5,
        notes: [`token ${GIVEN} has 1 of 3 members`],
        steps: [
          {
            kind: 'file',
            description: 'write /etc/etcd/etcd.conf',
            path: '/etc/etcd/etcd.conf',
            before: conf(GIVEN),
            after: conf(URL),
            mode: 0o644,
            owner: 'root',
            group: 'root',
          },
        ],
      },
    },
    {
      type: 'task',
      result: {
        host: 'etcd0',
        play: 'etcd cluster',
        task: 'Enable and start etcd',
        op: 'service',
        status: 'failed',
        handler: false,
        durationMs: 5,
        notes: [],
        steps: [],
        message: `start etcd failed (exit 1)\netcd[123]: discovery: cluster ${URL} is full\netcd[123]: error #0: client: endpoint ${URL}?recursive=true exceeded`,
      },
    },
    { type: 'unreachable', host: 'etcd1', message: `lost while registering with ${URL}` },
    { type: 'recap', hosts: { etcd0: { ok: 1, changed: 1, failed: 1, unreachable: 0, skipped: 0 } }, durationMs: 10, check: false },
  ];
}

const inventory = parseInventory(
  `all:\n  vars: { become_password: "sudo-SECRET-pw" }\n  hosts:\n    etcd0: { address: 10.214.1.11 }\ncluster:\n  members: [etcd0]\n  bootstrap: discovery\n  discovery: { url: "${GIVEN}" }\n`,
  '/tmp/masking-inventory.yaml',
  { home: '/nonexistent', user: 'u', sshConfigFile: '/nonexistent/none' },
);

describe('masking in output', () => {
  it('the inventory yields its secrets: passwords, the token of discovery.url, the pattern of any discovery token URL', () => {
    const rules = outputSecrets(inventory);
    expect(rules.values).toEqual(expect.arrayContaining(['sudo-SECRET-pw', OTHER]));
    expect(rules.patterns).toContain(DISCOVERY_TOKEN_PATTERN);
  });

  for (const [name, make] of [
    ['terminal, --diff -vvv', (w: (s: string) => void) => terminalReporter({ diff: true, verbose: 3, write: w })],
    ['--json', (w: (s: string) => void) => jsonReporter(w)],
  ] as const) {
    it(`${name}: no token anywhere; the endpoint and the change still show`, () => {
      let out = '';
      const emit = redacting(
        make((s) => void (out += s)),
        redactor(outputSecrets(inventory)),
      );
      const evs = events();
      const copy = JSON.stringify(evs);
      for (const e of evs) emit(e);
      expect(out).not.toContain(TOKEN);
      expect(out).not.toContain(OTHER);
      expect(out).toContain(`http://10.214.1.10:2379/v2/keys/discovery/${HIDDEN}`);
      expect(out).toContain(`https://discovery.example.net/${HIDDEN}`);
      expect(out).toMatch(/etcd\.conf/);
      // The events themselves are untouched (the run still writes the real token to the node).
      expect(JSON.stringify(evs)).toBe(copy);
    });
  }

  it('without the masks, the same events do show the token (the test above is not vacuous)', () => {
    let out = '';
    const emit = jsonReporter((s) => void (out += s));
    for (const e of events()) emit(e);
    expect(out).toContain(TOKEN);
    expect(out).toContain(OTHER);
  });

  it('passwords in URLs are hidden too; short literal values do not hide ordinary text', () => {
    const r = redactor({ values: ['abc'] });
    expect(r('http://user:pa55word@host:2379/x')).toBe(`http://user:${HIDDEN}@host:2379/x`);
    expect(r('abc abc')).toBe('abc abc');
  });
});
