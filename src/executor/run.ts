/**
 * Runs a playbook over an inventory: hosts in parallel (at most `forks` at once), tasks in
 * order per host. A host that fails or cannot be reached is a value in the results; the
 * others carry on.
 */
import path from 'node:path';
import pLimit, { type LimitFunction } from 'p-limit';
import type { Connection, ConnectionSettings } from '../connection/types.js';
import { isProvisionError } from '../errors.js';
import { selectHosts } from '../inventory/patterns.js';
import type { Inventory } from '../inventory/types.js';
import type { OperationDef, RunFlags, RunServices } from '../plan/operation.js';
import type { Playbook, Task } from '../playbook/types.js';
import { emptyRecap, type HostRecap, type RunEvent } from './events.js';
import { runPlayOnHost, type HostOutcome, type HostState } from './host.js';
import { Rendezvous } from './rendezvous.js';
import { slots } from './slots.js';

export interface RunOptions {
  check: boolean;
  forks: number;
  limit?: string;
  operations: Map<string, OperationDef<any>>;
  connect: (settings: ConnectionSettings) => Promise<Connection>;
  emit: (e: RunEvent) => void;
  /** Becomes true on Ctrl-C. */
  aborted?: () => boolean;
  /** Controller-side services shared by the hosts (made and disposed of by the caller). */
  runtime?: RunServices;
  /** Typed options for the operations (from the command line). */
  options?: RunFlags;
  /** Variables given on the command line; they win over everything. */
  vars?: Record<string, unknown>;
}

export interface RunSummary {
  hosts: Record<string, HostRecap>;
  interrupted: boolean;
}

export async function runPlaybook(inventory: Inventory, playbook: Playbook, opts: RunOptions): Promise<RunSummary> {
  const started = Date.now();
  const aborted = opts.aborted ?? (() => false);
  const limited = opts.limit ? new Set(selectHosts(inventory, opts.limit)) : undefined;
  const playHosts = playbook.plays.map((p) => selectHosts(inventory, p.hosts).filter((h) => !limited || limited.has(h)));
  const allHosts = [...new Set(playHosts.flat())];
  const recap: Record<string, HostRecap> = Object.fromEntries(allHosts.map((h) => [h, emptyRecap()]));
  const emit = (e: RunEvent) => {
    if (e.type === 'task') recap[e.result.host]![e.result.status]++;
    opts.emit(e);
  };
  emit({ type: 'start', inventory: inventory.file, playbook: playbook.file, check: opts.check, hosts: allHosts });
  for (const w of inventory.warnings) emit({ type: 'warning', message: w });

  const states = new Map<string, HostState>();
  /** Hosts that dropped out of the run, and why (for the meeting points of later plays). */
  const deadWhy = new Map<string, string>();
  const lose = (name: string, why: string) => {
    if (!deadWhy.has(name)) deadWhy.set(name, why);
  };
  const connections = new Map<string, Promise<HostState | undefined>>();
  // Bounded concurrent handshakes: sshd's MaxStartups drops connections beyond its limit.
  const handshake = pLimit(Math.min(opts.forks, 10));
  const open = (name: string) => {
    let p = connections.get(name);
    if (!p) {
      p = handshake(async () => {
        const host = inventory.hosts.get(name)!;
        const t0 = Date.now();
        try {
          const conn = await opts.connect(host.connection);
          const attempts = (conn as { connectAttempts?: number }).connectAttempts ?? 1;
          emit({ type: 'connect', host: name, ok: true, durationMs: Date.now() - t0, attempts });
          const st: HostState = { host, conn, predicted: [], probes: new Map() };
          states.set(name, st);
          return st;
        } catch (e) {
          const message = isProvisionError(e) ? e.format() : String(e);
          lose(name, `${name} is unreachable`);
          recap[name]!.unreachable = 1;
          emit({ type: 'unreachable', host: name, message });
          return undefined;
        }
      });
      connections.set(name, p);
    }
    return p;
  };

  const forks = slots(opts.forks);
  // throttle: N is per task across all hosts (Ansible's meaning).
  const throttles = new Map<Task, LimitFunction>();
  const throttled = <T>(task: Task, fn: () => Promise<T>): Promise<T> => {
    let l = throttles.get(task);
    if (!l) throttles.set(task, (l = pLimit(task.throttle ?? 1)));
    return l(fn);
  };
  const playbookDir = path.dirname(path.resolve(playbook.file));
  const runHosts: ReadonlySet<string> = new Set(allHosts);
  try {
    for (const [i, play] of playbook.plays.entries()) {
      const hosts = playHosts[i]!.filter((h) => !deadWhy.has(h));
      if (aborted()) {
        for (const name of hosts) stoppedAt(recap, name, `before play "${play.name}"`);
        continue;
      }
      const rendezvous = new Rendezvous(hosts, (h) => absentWhy(h, deadWhy, limited));
      emit({ type: 'play', name: play.name, hosts });
      await Promise.all(
        hosts.map((name) =>
          forks.run(async (park) => {
            const st = await open(name);
            if (!st) return rendezvous.lost(name, deadWhy.get(name) ?? `${name} is unreachable`);
            if (aborted()) {
              stoppedAt(recap, name, `before play "${play.name}"`);
              return rendezvous.lost(name, `${name} was interrupted`);
            }
            let outcome: HostOutcome = 'failed';
            try {
              outcome = await runPlayOnHost(st, play, {
                check: opts.check,
                inventory,
                operations: opts.operations,
                playbookDir,
                emit,
                aborted,
                throttled,
                park,
                runtime: opts.runtime,
                options: opts.options,
                runHosts,
                extraVars: opts.vars,
                rendezvous,
              });
            } finally {
              const at = st.stoppedAt ? `at "${st.stoppedAt}"` : '';
              if (outcome === 'ok') rendezvous.finished(name);
              if (outcome === 'failed') lose(name, `${name} failed${at ? ` (${at})` : ''}`);
              if (outcome === 'unreachable') lose(name, `${name} became unreachable`);
              if (outcome === 'interrupted') stoppedAt(recap, name, `${at || 'during'} (play "${play.name}")`);
              if (outcome !== 'ok') rendezvous.lost(name, outcome === 'interrupted' ? `${name} was interrupted` : deadWhy.get(name)!);
            }
            if (outcome === 'unreachable') {
              recap[name]!.unreachable = 1;
              emit({ type: 'unreachable', host: name, message: 'connection lost during the run' });
            }
          }),
        ),
      );
    }
  } finally {
    await Promise.all([...states.values()].map((s) => s.conn.close().catch(() => {})));
  }
  if (aborted()) emit({ type: 'interrupted', message: 'interrupted: stopped after the steps in flight' });
  emit({ type: 'recap', hosts: recap, durationMs: Date.now() - started, check: opts.check });
  return { hosts: recap, interrupted: aborted() };
}

const stoppedAt = (recap: Record<string, HostRecap>, host: string, where: string) => {
  if (recap[host] && !recap[host]!.interrupted) recap[host]!.interrupted = where;
};

/** Why a host that is not a host of a play is absent from it. */
function absentWhy(host: string, deadWhy: Map<string, string>, limited: Set<string> | undefined): string {
  if (deadWhy.has(host)) return deadWhy.get(host)!;
  if (limited && !limited.has(host)) return `${host} is not in this run (--limit)`;
  return `${host} is not a host of this play`;
}
