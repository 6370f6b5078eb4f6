/**
 * The two places where a member of the cluster waits for the others: the bootstrap gate
 * before etcd is started (cluster-gate.ts), and the verification that waits for the whole
 * cluster to be healthy. Both end at once on Ctrl-C; the verification also ends (after a
 * short grace) when another member is lost to the run.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { isConnectionLost, isProvisionError } from '../errors.js';
import { unitName } from '../facts/systemd.js';
import type { HostEntry } from '../inventory/types.js';
import { ETCD_UNIT } from '../operations/etcd-conf.js';
import type { VerifyResult } from '../operations/types.js';
import type { Play, Task } from '../playbook/types.js';
import { evaluateWhen } from '../playbook/when.js';
import { renderArgs } from '../template/index.js';
import type { ClusterGate } from './cluster-gate.js';
import type { TaskResult } from './events.js';

/** How long a verification may still take once another member of the cluster is lost. */
export const VERIFY_GRACE_MS = 5000;

export interface WaitOptions {
  gate?: ClusterGate;
  /** Awaits a promise with the host's fork slot given up meanwhile. */
  park?: <T>(p: Promise<T>) => Promise<T>;
  aborted: () => boolean;
  emit: (e: { type: 'warning'; message: string }) => void;
}

export const INTERRUPTED = Symbol('interrupted');

/** Is this task, on this host, the start of the cluster's etcd unit? */
function startsClusterUnit(task: Task, vars: Record<string, unknown>): boolean {
  if (task.op !== 'service') return false;
  try {
    const a = renderArgs(task.args, vars, task.location) as { name?: unknown; state?: unknown };
    return typeof a.name === 'string' && unitName(a.name) === ETCD_UNIT && ['started', 'restarted', 'reloaded'].includes(String(a.state));
  } catch {
    return false; // the task reports its own error when it runs
  }
}

/**
 * Before a task: when it starts etcd on a member of the cluster, wait at the gate with the
 * other members. Returns undefined to run the task, or the task's result (failed: held back,
 * or skipped: interrupted) when it must not run.
 */
export async function passGate(
  host: HostEntry,
  /** Whether the member's data directory holds data (read through the host's probe cache). */
  hasDataNow: () => Promise<boolean>,
  play: Play,
  task: Task,
  vars: Record<string, unknown>,
  opts: WaitOptions,
): Promise<{ result: TaskResult; outcome: 'failed' | 'interrupted' | 'unreachable' } | undefined> {
  const gate = opts.gate;
  if (!gate?.covers(host.name) || !startsClusterUnit(task, vars)) return undefined;
  const started = Date.now();
  const result = (status: TaskResult['status'], message: string): TaskResult => ({
    host: host.name, play: play.name, task: task.name, op: task.op,
    status, steps: [], notes: [], handler: false, durationMs: Date.now() - started, message,
  });
  if (task.when && !safeWhen(task, vars)) {
    gate.lost(host.name, `${host.name} does not start etcd in this run (when: ${task.when.source})`);
    return undefined; // the task skips itself
  }
  let hasData: boolean;
  try {
    hasData = await hasDataNow();
  } catch (e) {
    // Not knowing whether this member has data, it must not start etcd: it stops here (and
    // counts as missing for the others).
    return { result: result('failed', isProvisionError(e) ? e.format() : String(e)), outcome: isConnectionLost(e) ? 'unreachable' : 'failed' };
  }
  const stop = new AbortController();
  try {
    const waiting = gate.arrive(host.name, hasData);
    const d = await (opts.park ?? (<T>(p: Promise<T>) => p))(Promise.race([waiting, untilAborted(opts.aborted, stop.signal)]));
    // Ctrl-C wins over a decision it caused (a member interrupted before reaching the gate).
    if (d === INTERRUPTED || opts.aborted()) return { result: result('skipped', 'interrupted while waiting for the other members of the cluster'), outcome: 'interrupted' };
    const warning = gate.takeWarning(d);
    if (warning) opts.emit({ type: 'warning', message: warning });
    if (d.go) return undefined;
    return { result: result('failed', `${d.message}\n  hint: ${d.hint}`), outcome: 'failed' };
  } finally {
    stop.abort();
  }
}

function safeWhen(task: Task, vars: Record<string, unknown>): boolean {
  try {
    return evaluateWhen(task.when!, vars);
  } catch {
    return true;
  }
}

/**
 * A verification (etcd_verify waits for the whole cluster) ends early when the user presses
 * Ctrl-C, or, after a short grace, when another member of the cluster is lost to the run:
 * waiting out the full timeout for a member that will not come helps no one.
 */
export async function watchVerify(p: Promise<VerifyResult>, host: string, opts: WaitOptions): Promise<VerifyResult | typeof INTERRUPTED> {
  p.catch(() => undefined); // once abandoned, its rejection (connection closed) is nobody's
  const stop = new AbortController();
  const racers: Promise<VerifyResult | typeof INTERRUPTED>[] = [p, untilAborted(opts.aborted, stop.signal)];
  const gate = opts.gate;
  if (gate?.covers(host)) {
    racers.push(
      gate.memberLost(host, stop.signal).then(async (why) => {
        await sleep(VERIFY_GRACE_MS, undefined, { signal: stop.signal }).catch(() => undefined);
        return { ok: false, message: `stopped waiting for etcd cluster ${gate.cluster.name}: ${why}` };
      }),
    );
  }
  try {
    return await Promise.race(racers);
  } finally {
    stop.abort();
  }
}

/** Resolves once the run is aborted (Ctrl-C); never, if `signal` stops it first. */
function untilAborted(aborted: () => boolean, signal: AbortSignal): Promise<typeof INTERRUPTED> {
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      if (aborted()) {
        clearInterval(timer);
        resolve(INTERRUPTED);
      }
    }, 100);
    signal.addEventListener('abort', () => clearInterval(timer), { once: true });
  });
}
