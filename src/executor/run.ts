/**
 * Runs a playbook over an inventory: hosts in parallel (at most `forks` at once), tasks in
 * order per host. A host that fails or cannot be reached is a value in the results; the
 * others carry on.
 */
import os from 'node:os';
import path from 'node:path';
import pLimit, { type LimitFunction } from 'p-limit';
import type { Connection, ConnectionSettings } from '../connection/types.js';
import { isProvisionError } from '../errors.js';
import { selectHosts } from '../inventory/patterns.js';
import type { Inventory } from '../inventory/types.js';
import type { OperationDef, RunFlags, RunServices } from '../plan/operation.js';
import type { Playbook, Task } from '../playbook/types.js';
import { coalescing } from '../connection/batch.js';
import { probeFact } from '../facts/run.js';
import { emptyRecap, emptyTiming, type HostRecap, type HostTiming, type Phase, type RunEvent, type RunTimings } from './events.js';
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
  // Process start to here: loading the code, the inventory and the playbook.
  const startupMs = performance.now();
  const cpu0 = process.cpuUsage();
  let firstConnectMs: number | undefined;
  const timings = new Map<string, HostTiming>();
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
  const handshake = handshakeLimits(opts.forks);
  const open = (name: string) => {
    let p = connections.get(name);
    if (!p) {
      const host = inventory.hosts.get(name)!;
      p = handshake(host.connection, async () => {
        const t0 = Date.now();
        const timing = emptyTiming();
        timings.set(name, timing);
        try {
          const conn = await opts.connect(host.connection);
          const attempts = (conn as { connectAttempts?: number }).connectAttempts ?? 1;
          timing.connectMs = Date.now() - t0;
          firstConnectMs ??= performance.now();
          emit({ type: 'connect', host: name, ok: true, durationMs: timing.connectMs, attempts });
          const phase = (p: Phase) =>
            coalescing(conn, (r) => {
              if (p === 'facts') {
                timing.factRounds++;
                timing.factCommands += r.commands.length;
                timing.factsMs += r.durationMs;
              } else if (p === 'apply') timing.applyRounds++;
              else timing.verifyRounds++;
              emit({ type: 'exec', host: name, phase: p, ...r });
            });
          const phases = { facts: phase('facts'), apply: phase('apply'), verify: phase('verify') };
          const st: HostState = { host, conn, phases, timing, predicted: [], probes: new Map() };
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
  const changes = { count: 0 };
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
            const t0 = Date.now();
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
                changes,
                peerFact: async (h, def, a) => {
                  if (!runHosts.has(h)) throw new Error(`${h} is not in this run`);
                  const other = await open(h);
                  if (!other) throw new Error(`${h} is unreachable`);
                  return probeFact(other.phases.facts, def, a);
                },
              });
            } finally {
              const at = st.stoppedAt ? `at "${st.stoppedAt}"` : '';
              if (outcome === 'ok') rendezvous.finished(name);
              if (outcome === 'failed') lose(name, `${name} failed${at ? ` (${at})` : ''}`);
              if (outcome === 'unreachable') lose(name, `${name} became unreachable`);
              if (outcome === 'interrupted') stoppedAt(recap, name, `${at || 'during'} (play "${play.name}")`);
              if (outcome !== 'ok') rendezvous.lost(name, outcome === 'interrupted' ? `${name} was interrupted` : deadWhy.get(name)!);
            }
            st.timing.totalMs += Date.now() - t0;
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
  const cpu = process.cpuUsage(cpu0);
  const runTimings: RunTimings = {
    startupMs,
    firstConnectMs,
    wallMs: Date.now() - started,
    cpuMs: (cpu.user + cpu.system) / 1000,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    hosts: Object.fromEntries(timings),
  };
  emit({ type: 'recap', hosts: recap, durationMs: Date.now() - started, check: opts.check, timings: runTimings });
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

/** sshd's default MaxStartups (10:30:100): beyond 10 unauthenticated connections it drops some. */
export const MAX_STARTUPS = 10;
/** Handshakes in flight per controller CPU: their crypto is the controller's main cost per host. */
export const HANDSHAKES_PER_CPU = 8;

/**
 * Bounded concurrent handshakes: at most MAX_STARTUPS at once to one sshd (one address and
 * port; hosts behind one jump host share its sshd), and at most HANDSHAKES_PER_CPU per CPU of
 * the controller in all (never more than --forks).
 */
function handshakeLimits(forks: number) {
  const all = pLimit(Math.min(forks, HANDSHAKES_PER_CPU * Math.max(1, os.availableParallelism())));
  const perSshd = new Map<string, LimitFunction>();
  return <T>(c: ConnectionSettings, fn: () => Promise<T>): Promise<T> => {
    const at = c.proxyJump ? c.proxyJump : c;
    const key = `${at.address}:${at.port}`;
    let l = perSshd.get(key);
    if (!l) perSshd.set(key, (l = pLimit(MAX_STARTUPS)));
    return l(() => all(fn));
  };
}
