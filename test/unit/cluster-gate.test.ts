/**
 * The bootstrap gate on fake hosts: the members of a new cluster start etcd together or not
 * at all; an existing cluster, or --allow-partial, lets the reachable members start; forks
 * smaller than the cluster do not deadlock. And etcd_verify's early end on a failed unit.
 */
import { describe, expect, it } from 'vitest';
import { FakeConnection } from '../helpers/fake-connection.js';
import type { Connection, ConnectionSettings } from '../../src/connection/types.js';
import { ProvisionError } from '../../src/errors.js';
import type { RunEvent, TaskResult } from '../../src/executor/events.js';
import { runPlaybook } from '../../src/executor/run.js';
import { file } from '../../src/facts/file.js';
import { parseInventory } from '../../src/inventory/load.js';
import { etcdVerifyOp } from '../../src/operations/etcd-verify.js';
import { serviceOp } from '../../src/operations/service.js';
import { defineOperation, type OperationDef } from '../../src/operations/types.js';
import { parsePlaybook } from '../../src/playbook/load.js';
import { fact, planOf } from './operations/helpers.js';

const INVENTORY = `
all:
  children:
    etcd:
      hosts:
        a: { address: 192.0.2.1 }
        b: { address: 192.0.2.2 }
        c: { address: 192.0.2.3 }
cluster:
  name: t
  members: etcd
`;

/** Fails on the host named in `on`. */
const failOn = defineOperation<{ on: string }>({
  name: 'fail_on',
  description: 'fails on one host',
  args: { on: { type: 'string', required: true } },
  async plan(ctx, a) {
    return { steps: ctx.host.name === a.on ? [{ kind: 'command', description: 'boom', command: 'boom' }] : [] };
  },
});
const ops = new Map<string, OperationDef<any>>([serviceOp, failOn].map((o) => [o.name, o as OperationDef<any>]));

const PLAYBOOK = `
- name: etcd
  hosts: etcd
  tasks:
    - name: prepare
      fail_on: { on: "{{ fail_on | default('') }}" }
    - name: Enable and start etcd
      service: { name: etcd, state: started }
`;

const UNIT =
  'LoadState=loaded\nActiveState=inactive\nSubState=dead\nUnitFileState=enabled\nFragmentPath=/usr/lib/systemd/system/etcd.service\nDropInPaths=\nNeedDaemonReload=no\n';

async function run(
  o: { down?: string[]; withData?: string[]; unreadable?: string[]; failOn?: string; forks?: number; limit?: string; allowPartial?: boolean } = {},
) {
  const inv = parseInventory(INVENTORY, '/tmp/inv.yaml', { home: '/nonexistent' });
  const pb = parsePlaybook(PLAYBOOK.replace("fail_on | default('')", `'${o.failOn ?? ''}'`), '/tmp/pb.yaml', ops, inv);
  const events: RunEvent[] = [];
  const conns = new Map<string, FakeConnection>();
  const summary = await runPlaybook(inv, pb, {
    check: false,
    forks: o.forks ?? 5,
    limit: o.limit,
    operations: ops,
    options: { allowPartial: o.allowPartial },
    emit: (e) => events.push(e),
    connect: async (s: ConnectionSettings): Promise<Connection> => {
      const name = s.name;
      if (o.down?.includes(name)) throw new ProvisionError('CONNECT', `cannot connect to ${name}`);
      const c = new FakeConnection(name, (cmd) => {
        if (cmd.includes(`/${name}.etcd/member`)) {
          if (o.unreadable?.includes(name)) return { exitCode: 3, stderr: 'cannot tell whether it exists: /var/lib/etcd is not searchable (needs become?)' };
          return { stdout: o.withData?.includes(name) ? 'present\n' : 'absent\n' };
        }
        if (cmd.startsWith('systemctl show')) return { stdout: UNIT };
        if (cmd === 'boom') return { exitCode: 1, stderr: 'it went boom' };
        return undefined;
      });
      conns.set(name, c);
      return c;
    },
  });
  const results = events.filter((e): e is { type: 'task'; result: TaskResult } => e.type === 'task').map((e) => e.result);
  const start = (h: string) => results.find((r) => r.host === h && r.task === 'Enable and start etcd');
  const started = (h: string) => conns.get(h)?.commands.some((c) => c.startsWith('systemctl start')) ?? false;
  const warnings = events.filter((e) => e.type === 'warning').map((e) => (e as { message: string }).message);
  return { summary, start, started, warnings };
}

describe('bootstrap gate', () => {
  it('all members reachable: all start, even with one fork for three members', async () => {
    for (const forks of [1, 2, 5]) {
      const r = await run({ forks });
      for (const h of ['a', 'b', 'c']) expect(r.started(h)).toBe(true);
    }
  });

  it('a member unreachable on a new cluster: the others stop before starting etcd, and say why', async () => {
    const r = await run({ down: ['c'] });
    for (const h of ['a', 'b']) {
      expect(r.started(h)).toBe(false);
      expect(r.start(h)).toMatchObject({ status: 'failed', steps: [] });
      expect(r.start(h)!.message).toMatch(/^not starting etcd: cluster t is being bootstrapped \(no member has data yet\) and c is unreachable;/);
      expect(r.start(h)!.message).toMatch(/hint: .*bring c back and run again, or pass --allow-partial/);
    }
    expect(r.summary.hosts.c).toMatchObject({ unreachable: 1 });
  });

  it('a member failed earlier on a new cluster: the others stop too, naming where it failed', async () => {
    const r = await run({ failOn: 'b' });
    for (const h of ['a', 'c']) {
      expect(r.started(h)).toBe(false);
      expect(r.start(h)!.message).toMatch(/b failed \(at "prepare"\)/);
    }
  });

  it('a member that cannot tell whether it has data does not start etcd, and counts as missing', async () => {
    const r = await run({ unreadable: ['c'] });
    expect(r.started('c')).toBe(false);
    expect(r.start('c')).toMatchObject({ status: 'failed', message: expect.stringMatching(/not searchable/) });
    expect(r.start('a')!.message).toMatch(/c failed \(at "Enable and start etcd"\)/);
    expect(r.started('a')).toBe(false);
  });

  it('--limit leaving a member out of a new cluster holds the others', async () => {
    const r = await run({ limit: 'a,b' });
    expect(r.started('a')).toBe(false);
    expect(r.start('a')!.message).toMatch(/c is not in this run \(--limit\)/);
  });

  it('an existing cluster (a member has data): the reachable members start', async () => {
    const r = await run({ down: ['c'], withData: ['a'] });
    for (const h of ['a', 'b']) expect(r.started(h)).toBe(true);
    expect(r.warnings).toEqual([]);
  });

  it('--allow-partial: the reachable members start, with one warning', async () => {
    const r = await run({ down: ['c'], allowPartial: true });
    for (const h of ['a', 'b']) expect(r.started(h)).toBe(true);
    expect(r.warnings).toEqual([expect.stringMatching(/^bootstrapping etcd cluster t without c \(--allow-partial\): c is unreachable$/)]);
  });
});

describe('etcd_verify on a member whose etcd failed', () => {
  it('ends at once with the unit state and its last journal lines, instead of waiting out the timeout', async () => {
    const journal =
      "Nov 25 etcd[42]: listen tcp 10.88.0.10:2379: bind: address already in use\nNov 25 systemd[1]: etcd.service: Failed with result 'exit-code'.";
    const conn = new FakeConnection('etcd0', (cmd) => {
      if (cmd.includes('etcdctl')) return { exitCode: 1, stderr: 'Error: context deadline exceeded' };
      if (cmd === 'systemctl show -p ActiveState --value -- etcd.service') return { stdout: 'failed\n' };
      if (cmd.startsWith('systemctl show -p ActiveState,SubState,Result,NRestarts'))
        return { stdout: 'ActiveState=failed\nSubState=failed\nResult=exit-code\nNRestarts=4\n' };
      if (cmd === 'journalctl -u etcd.service -n 20 --no-pager') return { stdout: journal + '\n' };
      return undefined;
    });
    const { plan } = await planOf(etcdVerifyOp, { timeout: 60, interval_ms: 1 }, { facts: [fact(file, { path: '/etc/etcd/etcd.conf' }, { exists: false })] });
    const t0 = Date.now();
    const r = await plan.verify!(conn);
    expect(Date.now() - t0).toBeLessThan(30_000); // ended at once, well before the 60 s timeout
    expect(r.ok).toBe(false);
    expect(r.message).toContain('etcd failed to start on this member');
    expect(r.message).toContain('etcd.service is failed (failed), result: exit-code, restarted 4 times');
    expect(r.message).toContain(`$ journalctl -u etcd.service -n 20 --no-pager\n${journal}`);
  });
});
