/**
 * The executor's contract on fake hosts: tasks in order per host, hosts independent, facts
 * fresh after every change (the probe cache), handlers fired once and only when notified,
 * --check predicting exactly what the real run does, failures and lost hosts contained.
 */
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { shellJoin } from '../../src/connection/quote.js';
import { FakeConnection } from '../helpers/fake-connection.js';
import type { Connection, ConnectionSettings } from '../../src/connection/types.js';
import { ProvisionError } from '../../src/errors.js';
import type { RunEvent, TaskResult } from '../../src/executor/events.js';
import { runPlaybook } from '../../src/executor/run.js';
import { defineFact } from '../../src/facts/types.js';
import { parseInventory } from '../../src/inventory/load.js';
import { defineOperation, type OperationDef } from '../../src/operations/types.js';
import { flushHandlersOp } from '../../src/operations/index.js';
import { parsePlaybook } from '../../src/playbook/load.js';

/** A host is a key/value store; `kv-get k` reads, `kv-set k v` writes, `boom` fails. */
type World = Map<string, string>;
const kvFact = defineFact<string | undefined, { key: string }>({
  name: 'kv',
  command: ({ key }) => shellJoin(['kv-get', key]),
  parse: (stdout, code) => (code === 0 ? stdout : undefined),
  predict: ({ key }, earlier) => {
    let v: string | undefined;
    for (const s of earlier)
      if (s.kind === 'command' && s.command.startsWith(shellJoin(['kv-set', key]) + ' ')) v = s.command.split(' ').pop()!.replace(/'/g, '');
    return v;
  },
});
const setOp = defineOperation<{ key: string; value: string }>({
  name: 'kv_set',
  description: 'set a key',
  args: { key: { type: 'string', required: true }, value: { type: 'string', required: true } },
  async plan(ctx, a) {
    const cur = await ctx.fact(kvFact, { key: a.key });
    return cur === a.value ? { steps: [] } : { steps: [{ kind: 'command', description: `set ${a.key}`, command: shellJoin(['kv-set', a.key, a.value]) }] };
  },
});
/** Copies one key to another: its plan depends on what an earlier task wrote. */
const copyOp = defineOperation<{ from: string; to: string }>({
  name: 'kv_copy',
  description: 'copy a key',
  args: { from: { type: 'string', required: true }, to: { type: 'string', required: true } },
  async plan(ctx, a) {
    const [src, dst] = [await ctx.fact(kvFact, { key: a.from }), await ctx.fact(kvFact, { key: a.to })];
    if (src === undefined || src === dst) return { steps: [] };
    return { steps: [{ kind: 'command', description: `copy ${a.from}`, command: shellJoin(['kv-set', a.to, src]) }] };
  },
});
const failOp = defineOperation<Record<string, never>>({
  name: 'boom',
  description: 'always fails',
  args: {},
  async plan() {
    return { steps: [{ kind: 'command', description: 'boom', command: 'boom' }] };
  },
});
const ops = new Map<string, OperationDef<any>>([setOp, copyOp, failOp, flushHandlersOp].map((o) => [o.name, o as OperationDef<any>]));

function fakeHost(name: string, world: World): FakeConnection {
  return new FakeConnection(name, (cmd) => {
    const [verb, key, value] = cmd.split(' ').map((w) => w.replace(/^'|'$/g, ''));
    if (verb === 'kv-get') return world.has(key!) ? { stdout: world.get(key!)! } : { exitCode: 1 };
    if (verb === 'kv-set') return void world.set(key!, value!);
    if (verb === 'boom') return { exitCode: 2, stderr: 'it went boom' };
    return { exitCode: 127, stderr: `unknown ${cmd}` };
  });
}

const INVENTORY = `
all:
  children:
    nodes:
      hosts:
        a: { address: 192.0.2.1 }
        b: { address: 192.0.2.2 }
`;

async function run(playbook: string, worlds: Record<string, World>, opts: { check?: boolean; down?: string[] } = {}) {
  const inv = parseInventory(INVENTORY, '/tmp/inv.yaml', { home: '/nonexistent' });
  const pb = parsePlaybook(playbook, '/tmp/pb.yaml', ops, inv);
  const events: RunEvent[] = [];
  const conns: FakeConnection[] = [];
  const summary = await runPlaybook(inv, pb, {
    check: !!opts.check,
    forks: 5,
    operations: ops,
    emit: (e) => events.push(e),
    connect: async (s: ConnectionSettings): Promise<Connection> => {
      const name = s.address === '192.0.2.1' ? 'a' : 'b';
      if (opts.down?.includes(name)) throw new ProvisionError('CONNECT', `cannot connect to ${name}`);
      const c = fakeHost(name, worlds[name]!);
      conns.push(c);
      return c;
    },
  });
  const tasks = events.filter((e): e is { type: 'task'; result: TaskResult } => e.type === 'task').map((e) => e.result);
  const changed = tasks
    .filter((t) => t.status === 'changed')
    .map((t) => `${t.host}: ${t.task}`)
    .sort();
  return { summary, events, tasks, changed, conns };
}

const PLAY = `
- name: kv
  hosts: nodes
  tasks:
    - name: set config
      kv_set: { key: config, value: "{{ inventory_hostname }}-v2" }
      notify: restart
    - name: copy config to active
      kv_copy: { from: config, to: active }
  handlers:
    - name: restart
      kv_set: { key: restarted, value: "yes" }
`;

describe('executor', () => {
  it('plans each task on facts as earlier tasks left them, and --check predicts exactly that', async () => {
    const fresh = () => ({ a: new Map([['config', 'old']]), b: new Map<string, string>() });
    const worlds = fresh();
    const check = await run(PLAY, worlds, { check: true });
    expect(worlds).toEqual(fresh()); // --check wrote nothing
    const real = await run(PLAY, worlds);
    expect(real.changed).toEqual(check.changed);
    expect(real.changed).toEqual(['a: copy config to active', 'a: restart', 'a: set config', 'b: copy config to active', 'b: restart', 'b: set config']);
    expect(worlds.a.get('active')).toBe('a-v2'); // the copy saw the value written just before
    expect(worlds.b.get('active')).toBe('b-v2');
    const again = await run(PLAY, worlds);
    expect(again.changed).toEqual([]);
    expect(Object.values(again.summary.hosts).every((r) => r.ok === 2 && r.changed === 0)).toBe(true);
  });

  it('reads each fact once per host while nothing changes, fresh again after a change', async () => {
    const worlds = {
      a: new Map([
        ['config', 'a-v2'],
        ['active', 'a-v2'],
        ['restarted', 'yes'],
      ]),
      b: new Map<string, string>(),
    };
    const r = await run(PLAY, worlds);
    const reads = (c: FakeConnection) => c.commands.filter((x) => x.startsWith('kv-get'));
    const [ca, cb] = ['a', 'b'].map((h) => r.conns.find((c) => c.host === h)!);
    expect(reads(ca!).sort()).toEqual(['kv-get active', 'kv-get config']); // no change: one read each
    // b changed 'config' before the copy was planned: the copy read it again after the write.
    const cmds = cb!.commands;
    expect(cmds.lastIndexOf('kv-get config')).toBeGreaterThan(cmds.indexOf('kv-set config b-v2'));
  });

  it('a handler runs once, after the tasks, only when notified by a change', async () => {
    const worlds = { a: new Map([['config', 'a-v2']]), b: new Map([['config', 'old']]) };
    const r = await run(PLAY, worlds);
    expect(worlds.a.has('restarted')).toBe(false);
    expect(worlds.b.get('restarted')).toBe('yes');
    const bTasks = r.tasks.filter((t) => t.host === 'b').map((t) => `${t.task}${t.handler ? ' (handler)' : ''}`);
    expect(bTasks).toEqual(['set config', 'copy config to active', 'restart (handler)']);
  });

  it('a failed host stops there; the other host finishes; the recap counts it', async () => {
    const pb = `
- name: kv
  hosts: nodes
  tasks:
    - name: fail on a
      boom: {}
      when: inventory_hostname == "a"
    - name: set x
      kv_set: { key: x, value: "1" }
`;
    const worlds = { a: new Map<string, string>(), b: new Map<string, string>() };
    const r = await run(pb, worlds);
    expect(worlds.a.has('x')).toBe(false);
    expect(worlds.b.get('x')).toBe('1');
    expect(r.summary.hosts.a).toMatchObject({ failed: 1, changed: 0 });
    expect(r.summary.hosts.b).toMatchObject({ failed: 0, changed: 1, skipped: 1 });
    expect(r.tasks.find((t) => t.host === 'a' && t.status === 'failed')!.message).toMatch(/it went boom/);
  });

  it('an unreachable host is reported and the others carry on; connections are closed', async () => {
    const worlds = { a: new Map<string, string>(), b: new Map<string, string>() };
    const r = await run(PLAY, worlds, { down: ['a'] });
    expect(r.summary.hosts.a).toMatchObject({ unreachable: 1 });
    expect(worlds.b.get('active')).toBe('b-v2');
    expect(r.events.some((e) => e.type === 'unreachable' && e.host === 'a')).toBe(true);
    expect(r.conns.every((c) => c.closed)).toBe(true);
  });
});

describe('timings and round trips', () => {
  it('the recap says where each host spent its time; facts asked for together are one round trip', async () => {
    const worlds = {
      a: new Map([
        ['config', 'a-v2'],
        ['active', 'a-v2'],
      ]),
      b: new Map([
        ['config', 'b-v2'],
        ['active', 'b-v2'],
      ]),
    };
    const { events } = await run(PLAY, worlds);
    const recap = events.find((e) => e.type === 'recap') as Extract<RunEvent, { type: 'recap' }>;
    const t = recap.timings!;
    expect(Object.keys(t.hosts).sort()).toEqual(['a', 'b']);
    expect(t.hosts.a!.factCommands).toBeGreaterThan(0);
    expect(t.wallMs).toBeGreaterThanOrEqual(0);
    expect(t.startupMs).toBeGreaterThan(0);
    const execs = events.filter((e): e is Extract<RunEvent, { type: 'exec' }> => e.type === 'exec' && e.host === 'a');
    expect(execs.map((e) => e.phase).every((p) => p === 'facts')).toBe(true);
    expect(execs.flatMap((e) => e.commands).length).toBe(t.hosts.a!.factCommands);
  });
});

/** No steps; its verification reads `key` once and passes when it holds `want`. */
const expectOp = defineOperation<{ key: string; want: string }>({
  name: 'kv_expect',
  description: 'verify a key',
  args: { key: { type: 'string', required: true }, want: { type: 'string', required: true } },
  async plan(_ctx, a) {
    return {
      steps: [],
      verify: async (conn) => {
        const got = (await conn.exec(shellJoin(['kv-get', a.key]))).stdout;
        return { ok: got === a.want, message: `${a.key} is ${got}` };
      },
    };
  },
});
ops.set(expectOp.name, expectOp as OperationDef<any>);

/** A key of a store every host shares (a cluster): read the same from any host. */
const clusterKv = defineFact<string, { key: string }>({ ...kvFact, name: 'cluster_kv', clusterWide: true, parse: (stdout) => stdout });
/** Appends the host's name to a shared key, read first: its plan depends on the other hosts' steps. */
const appendOp = defineOperation<{ key: string }>({
  name: 'kv_append',
  description: 'append to a shared key',
  args: { key: { type: 'string', required: true } },
  async plan(ctx, a) {
    const cur = await ctx.fact(clusterKv, { key: a.key });
    return { steps: [{ kind: 'command', description: `append to ${a.key}`, command: shellJoin(['kv-set', a.key, `${cur}+${ctx.host.name}`]) }] };
  },
});
ops.set(appendOp.name, appendOp as OperationDef<any>);

describe('facts of the whole cluster (clusterWide)', () => {
  it("are read again after another host's step, not taken from the cache filled before it", async () => {
    const shared: World = new Map([['log', 'x']]);
    const pb = `
- name: p
  hosts: nodes
  tasks:
    - name: append
      kv_append: { key: log }
      throttle: 1
`;
    await run(pb, { a: shared, b: shared });
    // With the first host's answer cached by the second, one append would be lost ("x+b").
    expect(['x+a+b', 'x+b+a']).toContain(shared.get('log'));
  });
});

describe('a verification read early, with the facts', () => {
  const PB = (value: string) => `
- name: p
  hosts: nodes
  tasks:
    - name: set config
      kv_set: { key: config, value: "${value}" }
    - name: expect config
      kv_expect: { key: config, want: "${value}" }
`;
  const reads = (events: RunEvent[], host: string) =>
    events
      .filter((e): e is Extract<RunEvent, { type: 'exec' }> => e.type === 'exec' && e.host === host && e.commands.includes('kv-get config'))
      .map((e) => e.phase);

  it('a run that changes nothing: its first probes went out in the facts round and are used, not sent again', async () => {
    const worlds = { a: new Map([['config', 'v1']]), b: new Map([['config', 'v1']]) };
    for (const check of [false, true]) {
      const { tasks, events } = await run(PB('v1'), worlds, { check });
      expect(tasks.filter((t) => t.task === 'expect config').map((t) => [t.status, t.message])).toEqual([
        ['ok', 'config is v1'],
        ['ok', 'config is v1'],
      ]);
      // One read: kv_set's fact and the verification's probe are the same command.
      expect(reads(events, 'a')).toEqual(['facts']);
    }
  });

  it('a step applied anywhere in the run: the early result is dropped and the verification probes afresh', async () => {
    // Only a changes.
    const worlds = { a: new Map([['config', 'v1']]), b: new Map([['config', 'v2']]) };
    const { tasks, events } = await run(PB('v2'), worlds);
    expect(tasks.filter((t) => t.task === 'expect config').map((t) => [t.host, t.status, t.message])).toEqual(
      expect.arrayContaining([
        ['a', 'ok', 'config is v2'],
        ['b', 'ok', 'config is v2'],
      ]),
    );
    // The early read saw v1; the verification read again after the change and saw v2.
    expect(reads(events, 'a')).toEqual(['facts', 'verify']);
  });
});

describe('handshakes', () => {
  const many = (n: number, sameAddress: boolean) =>
    `all:\n  children:\n    nodes:\n      hosts:\n${Array.from({ length: n }, (_, i) => `        h${i}: { address: ${sameAddress ? '192.0.2.1' : `192.0.2.${i + 1}`} }`).join('\n')}\n`;
  const PB = `- name: p\n  hosts: nodes\n  tasks:\n    - name: set\n      kv_set: { key: k, value: v }\n`;
  async function maxConcurrent(inventory: string, forks: number) {
    const inv = parseInventory(inventory, '/tmp/inv.yaml', { home: '/nonexistent' });
    const pb = parsePlaybook(PB, '/tmp/pb.yaml', ops, inv);
    let now = 0;
    let max = 0;
    await runPlaybook(inv, pb, {
      check: true,
      forks,
      operations: ops,
      emit: () => undefined,
      connect: async (s) => {
        max = Math.max(max, ++now);
        await new Promise((r) => setTimeout(r, 20));
        now--;
        return fakeHost(s.name, new Map([['k', 'v']]));
      },
    });
    return max;
  }
  it('at most 10 at once to one sshd (MaxStartups), whatever --forks says', async () => {
    expect(await maxConcurrent(many(40, true), 40)).toBe(10);
  });
  it('more at once to distinct hosts, bounded by --forks and the controller CPUs (8 each)', async () => {
    expect(await maxConcurrent(many(40, false), 12)).toBe(Math.min(12, 8 * os.availableParallelism()));
  });
});
