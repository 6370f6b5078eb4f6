/**
 * The executor's generic rendezvous, with an operation that knows nothing of etcd: hosts of a
 * play meet at a named point, the operation decides once for all of them, a host lost to the
 * run is known to the others, waiting gives up the fork slot, and a table an operation returns
 * reaches the terminal without the reporter knowing the operation.
 */
import { describe, expect, it } from 'vitest';
import type { Connection, ConnectionSettings } from '../../src/connection/types.js';
import { ProvisionError } from '../../src/errors.js';
import type { RunEvent, TaskResult } from '../../src/executor/events.js';
import { runPlaybook } from '../../src/executor/run.js';
import { parseInventory } from '../../src/inventory/load.js';
import { defineOperation, type OperationDef } from '../../src/plan/operation.js';
import { parsePlaybook } from '../../src/playbook/load.js';
import { terminalReporter } from '../../src/report/terminal.js';
import { FakeConnection } from '../helpers/fake-connection.js';

const INVENTORY = `
all:
  children:
    crew:
      hosts:
        a: { address: 192.0.2.1 }
        b: { address: 192.0.2.2 }
        c: { address: 192.0.2.3 }
`;

/** Runs `go` on the host only once every crew member arrived; brings the host's name, and a vote. */
const launchOp = defineOperation<{ vote?: string }>({
  name: 'launch',
  description: 'launch together',
  args: { vote: { type: 'string' } },
  waitsForPeers: (ctx, a) => ({
    point: 'launch',
    peers: ['a', 'b', 'c'],
    action: 'launch',
    arrive: async () => a.vote ?? 'yes',
    decide: (arrived, missing) =>
      missing.size === 0 && [...arrived.values()].every((v) => v === 'yes')
        ? { go: true, warning: `all ${arrived.size} launched` }
        : { go: false, message: `holding: ${[...missing.values()].join('; ') || 'a vote said no'}`, hint: 'try again' },
  }),
  async plan(ctx) {
    return { steps: [{ kind: 'command', description: 'go', command: `go ${ctx.host.name}` }] };
  },
});

/** Waits (up to 20 s) until a peer is lost, and reports a table of who is there. */
const rollOp = defineOperation<Record<string, never>>({
  name: 'roll_call',
  description: 'roll call',
  args: {},
  async plan(ctx) {
    return {
      steps: [],
      verify: async () => {
        const stop = new AbortController();
        const timer = setTimeout(() => stop.abort(), 20_000);
        const why = await ctx.peers!.lost(['a', 'b', 'c'], stop.signal);
        clearTimeout(timer);
        return { ok: true, message: `noticed: ${why}`, table: { columns: ['HOST', 'STATE'], rows: [[ctx.host.name, 'present']] } };
      },
    };
  },
});

const failOp = defineOperation<{ on: string }>({
  name: 'fail_on',
  description: 'fails on one host',
  args: { on: { type: 'string', required: true } },
  async plan(ctx, a) {
    return { steps: ctx.host.name === a.on ? [{ kind: 'command', description: 'boom', command: 'boom' }] : [] };
  },
});

const ops = new Map<string, OperationDef<any>>([launchOp, rollOp, failOp].map((o) => [o.name, o as OperationDef<any>]));

async function run(playbook: string, o: { down?: string[]; forks?: number; limit?: string } = {}) {
  const inv = parseInventory(INVENTORY, '/tmp/inv.yaml', { home: '/nonexistent' });
  const pb = parsePlaybook(playbook, '/tmp/pb.yaml', ops, inv);
  const events: RunEvent[] = [];
  let terminal = '';
  const term = terminalReporter({ diff: false, verbose: 0, write: (s) => void (terminal += s) });
  const conns = new Map<string, FakeConnection>();
  await runPlaybook(inv, pb, {
    check: false,
    forks: o.forks ?? 5,
    limit: o.limit,
    operations: ops,
    emit: (e) => {
      events.push(e);
      term(e);
    },
    connect: async (s: ConnectionSettings): Promise<Connection> => {
      if (o.down?.includes(s.name)) throw new ProvisionError('CONNECT', `cannot connect to ${s.name}`);
      const c = new FakeConnection(s.name, (cmd) => (cmd === 'boom' ? { exitCode: 1, stderr: 'it went boom' } : { stdout: '' }));
      conns.set(s.name, c);
      return c;
    },
  });
  const results = events.filter((e): e is { type: 'task'; result: TaskResult } => e.type === 'task').map((e) => e.result);
  const launched = (h: string) => conns.get(h)?.commands.includes(`go ${h}`) ?? false;
  const warnings = events.filter((e) => e.type === 'warning').map((e) => (e as { message: string }).message);
  return { results, launched, warnings, terminal };
}

const LAUNCH = (vote = '') => `
- name: crew
  hosts: crew
  tasks:
    - name: prepare
      fail_on: { on: "{{ fail_on | default('') }}" }
    - name: Launch
      launch: {${vote}}
`;

describe('rendezvous', () => {
  it('every host arrives: all go, the warning of the decision is said once; one fork is enough for three hosts', async () => {
    for (const forks of [1, 3]) {
      const r = await run(LAUNCH(), { forks });
      for (const h of ['a', 'b', 'c']) expect(r.launched(h)).toBe(true);
      expect(r.warnings).toEqual(['all 3 launched']);
    }
  });

  it("a host unreachable: the others hold, with the operation's message and hint", async () => {
    const r = await run(LAUNCH(), { down: ['c'] });
    for (const h of ['a', 'b']) {
      expect(r.launched(h)).toBe(false);
      expect(r.results.find((x) => x.host === h && x.task === 'Launch')).toMatchObject({
        status: 'failed',
        message: 'holding: c is unreachable\n  hint: try again',
      });
    }
  });

  it('a host that failed earlier, or is left out by --limit, is named as missing', async () => {
    const failed = await run(LAUNCH().replace("fail_on | default('')", "'b'"));
    expect(failed.results.find((x) => x.host === 'a' && x.task === 'Launch')!.message).toMatch(/^holding: b failed \(at "prepare"\)/);
    const limited = await run(LAUNCH(), { limit: 'a,b' });
    expect(limited.results.find((x) => x.host === 'a' && x.task === 'Launch')!.message).toMatch(/^holding: c is not in this run \(--limit\)/);
  });

  it("the decision is the operation's: every host arrived, but the votes they brought say no", async () => {
    const r = await run(LAUNCH(' vote: "{{ inventory_hostname }}" '));
    for (const h of ['a', 'b', 'c']) {
      expect(r.launched(h)).toBe(false);
      expect(r.results.find((x) => x.host === h && x.task === 'Launch')!.message).toBe('holding: a vote said no\n  hint: try again');
    }
  });

  it('a verification learns that a peer was lost; its table reaches the terminal', async () => {
    const r = await run(`
- name: crew
  hosts: crew
  tasks:
    - name: prepare
      fail_on: { on: c }
    - name: Roll call
      roll_call: {}
`);
    for (const h of ['a', 'b'])
      expect(r.results.find((x) => x.host === h && x.task === 'Roll call')).toMatchObject({ status: 'ok', message: 'noticed: c failed (at "prepare")' });
    expect(r.terminal).toMatch(/\| HOST \| STATE +\|\n\+-+\+-+\+\n\| [ab] +\| present \|/);
  });
});
