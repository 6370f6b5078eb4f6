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
import type { OperationDef } from '../operations/types.js';
import { createRuntime, type ClusterRuntime } from '../operations/runtime.js';
import type { Playbook, Task } from '../playbook/types.js';
import { ClusterGate } from './cluster-gate.js';
import { emptyRecap, type HostRecap, type RunEvent } from './events.js';
import { runPlayOnHost, type HostOutcome, type HostState } from './host.js';
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
  /** Controller-side certificates and discovery token (default: made from the inventory). */
  runtime?: ClusterRuntime;
  /** Bootstrap a new cluster even when some of its members are missing (see cluster-gate.ts). */
  allowPartial?: boolean;
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
  /** Hosts that dropped out of the run, and why (for the bootstrap gate of later plays). */
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

  const runtime = opts.runtime ?? createRuntime({ check: opts.check, inventory, hosts: allHosts, log: (message) => emit({ type: 'notice', message }) });
  const forks = slots(opts.forks);
  // throttle: N is per task across all hosts (Ansible's meaning).
  const throttles = new Map<Task, LimitFunction>();
  const throttled = <T>(task: Task, fn: () => Promise<T>): Promise<T> => {
    let l = throttles.get(task);
    if (!l) throttles.set(task, (l = pLimit(task.throttle ?? 1)));
    return l(fn);
  };
  const playbookDir = path.dirname(path.resolve(playbook.file));
  try {
    for (const [i, play] of playbook.plays.entries()) {
      const hosts = playHosts[i]!.filter((h) => !deadWhy.has(h));
      if (aborted()) {
        for (const name of hosts) stoppedAt(recap, name, `before play "${play.name}"`);
        continue;
      }
      const gate = playGate(inventory, hosts, limited, deadWhy, !!opts.allowPartial);
      emit({ type: 'play', name: play.name, hosts });
      await Promise.all(
        hosts.map((name) =>
          forks.run(async (park) => {
            const st = await open(name);
            if (!st) return gate?.lost(name, deadWhy.get(name) ?? `${name} is unreachable`);
            if (aborted()) {
              stoppedAt(recap, name, `before play "${play.name}"`);
              return gate?.lost(name, `${name} was interrupted`);
            }
            let outcome: HostOutcome = 'failed';
            try {
              outcome = await runPlayOnHost(st, play, {
                check: opts.check, inventory, operations: opts.operations, playbookDir, emit, aborted, runtime, throttled, extraVars: opts.vars, gate, park,
              });
            } finally {
              const at = st.stoppedAt ? `at "${st.stoppedAt}"` : '';
              if (outcome === 'ok') gate?.finished(name);
              if (outcome === 'failed') lose(name, `${name} failed${at ? ` (${at})` : ''}`);
              if (outcome === 'unreachable') lose(name, `${name} became unreachable`);
              if (outcome === 'interrupted') stoppedAt(recap, name, `${at || 'during'} (play "${play.name}")`);
              if (outcome !== 'ok') gate?.lost(name, outcome === 'interrupted' ? `${name} was interrupted` : deadWhy.get(name)!);
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
    runtime.dispose();
  }
  if (aborted()) emit({ type: 'interrupted', message: 'interrupted: stopped after the steps in flight' });
  emit({ type: 'recap', hosts: recap, durationMs: Date.now() - started, check: opts.check });
  return { hosts: recap, interrupted: aborted() };
}

const stoppedAt = (recap: Record<string, HostRecap>, host: string, where: string) => {
  if (recap[host] && !recap[host]!.interrupted) recap[host]!.interrupted = where;
};

/** The bootstrap gate of one play: when the inventory has a cluster with members among its hosts. */
function playGate(
  inventory: Inventory,
  hosts: string[],
  limited: Set<string> | undefined,
  deadWhy: Map<string, string>,
  allowPartial: boolean,
): ClusterGate | undefined {
  const cluster = inventory.cluster;
  if (!cluster || !cluster.members.some((m) => hosts.includes(m))) return undefined;
  const absent = new Map<string, string>();
  for (const m of cluster.members) {
    if (hosts.includes(m)) continue;
    if (deadWhy.has(m)) absent.set(m, deadWhy.get(m)!);
    else if (limited && !limited.has(m)) absent.set(m, `${m} is not in this run (--limit)`);
    else absent.set(m, `${m} is not a host of this play`);
  }
  return new ClusterGate(cluster, cluster.members.filter((m) => hosts.includes(m)), absent, allowPartial);
}
