/**
 * Runs one play's tasks on one host, in order: plan each task against fresh facts (or, in
 * --check, against facts as earlier predicted steps would leave them), then apply its
 * steps, then any verification, then the handlers that were notified.
 */
import type { Connection } from '../connection/types.js';
import { ProvisionError, isConnectionLost, isProvisionError } from '../errors.js';
import { pathExists } from '../facts/path.js';
import { predictFact, probeFact } from '../facts/run.js';
import type { FactDef } from '../facts/types.js';
import type { HostEntry, Inventory } from '../inventory/types.js';
import { memberDataMarker } from '../operations/etcd-conf.js';
import type { OperationContext, OperationDef } from '../operations/types.js';
import type { ClusterRuntime } from '../operations/runtime.js';
import type { Step } from '../plan/types.js';
import { evaluateWhen } from '../playbook/when.js';
import type { Play, Task } from '../playbook/types.js';
import { renderArgs } from '../template/index.js';
import type { RunEvent, TaskResult } from './events.js';
import { applyStep } from './apply.js';
import type { ClusterGate } from './cluster-gate.js';
import { INTERRUPTED, passGate, watchVerify } from './cluster-wait.js';

export interface HostRunOptions {
  check: boolean;
  inventory: Inventory;
  operations: Map<string, OperationDef<any>>;
  playbookDir: string;
  emit: (e: RunEvent) => void;
  /** Set when the user pressed Ctrl-C: finish the current step, start nothing new. */
  aborted: () => boolean;
  runtime?: ClusterRuntime;
  /** The play's bootstrap gate (cluster-gate.ts), when the inventory has a cluster. */
  gate?: ClusterGate;
  /** Awaits a promise with the host's fork slot given up meanwhile (waiting at the gate). */
  park?: <T>(p: Promise<T>) => Promise<T>;
  /** Runs fn within the task's throttle (shared by all hosts of the run); absent: no limit. */
  throttled?: <T>(task: Task, fn: () => Promise<T>) => Promise<T>;
  /** Variables given on the command line; they win over everything. */
  extraVars?: Record<string, unknown>;
}

export type HostOutcome = 'ok' | 'failed' | 'unreachable' | 'interrupted';

/** Per-host state that outlives one play (predicted steps in --check). */
export interface HostState {
  host: HostEntry;
  conn: Connection;
  predicted: Step[];
  /**
   * Probe results (raw, as read on the host) by fact and become. Valid until a step is
   * applied on the host: a real run clears it after every change; --check changes nothing,
   * so its probes stay valid for the whole run.
   */
  probes: Map<string, Promise<unknown>>;
  /** The task (or handler) at which the host stopped: failed, lost or interrupted there. */
  stoppedAt?: string;
}

/** Reads a fact through the host's probe cache. */
function cachedProbe<T, A>(state: HostState, conn: Connection, become: boolean | undefined, def: FactDef<T, A>, a: A): Promise<T> {
  const key = `${become ?? '-'} ${factId(def, a)}`;
  let p = state.probes.get(key) as Promise<T> | undefined;
  if (!p) {
    p = probeFact(conn, def, a);
    state.probes.set(key, p);
    // A failed probe is not remembered: the task that needs it reports the error itself.
    p.catch(() => state.probes.delete(key));
  }
  return p;
}

/**
 * Reads, all at once, the facts the play's tasks would ask for if nothing changed, so that
 * the round trips overlap instead of adding up. Plans made here are thrown away; errors
 * are left for the real planning, which happens in order as before and reads the facts
 * from the cache only while no step has changed the host.
 */
async function prefetch(state: HostState, play: Play, vars: Record<string, unknown>, opts: HostRunOptions): Promise<void> {
  await Promise.all(
    [...play.tasks].map(async (task) => {
      try {
        if (task.op === 'flush_handlers' || (task.when && !evaluateWhen(task.when, vars))) return;
        const op = opts.operations.get(task.op);
        if (!op) return;
        const become = task.become ?? play.become;
        const conn = become === undefined ? state.conn : withBecome(state.conn, become);
        await op.plan(
          {
            host: state.host, inventory: opts.inventory, cluster: opts.inventory.cluster, vars, check: opts.check,
            fact: (def, a) => cachedProbe(state, conn, become, def, a),
            unknowable: () => false,
            note: () => {},
          },
          renderArgs(task.args, vars, task.location),
        );
      } catch {
        // reported by the real planning
      }
    }),
  );
}

export async function runPlayOnHost(state: HostState, play: Play, opts: HostRunOptions): Promise<HostOutcome> {
  const pending = new Set<string>();
  const vars = hostVars(state.host, play, opts);
  await prefetch(state, play, vars, opts);
  for (const task of play.tasks) {
    if (opts.aborted()) {
      state.stoppedAt = task.name;
      return 'interrupted';
    }
    if (task.op === 'flush_handlers') {
      const outcome = await flushHandlers(state, play, pending, vars, opts);
      if (outcome !== 'ok') return outcome;
      continue;
    }
    const held = await passGate(state.host, () => memberHasData(state, play, task, opts), play, task, vars, opts);
    const { result, outcome } = held ?? (await runTask(state, play, task, vars, opts, false));
    opts.emit({ type: 'task', result });
    if (outcome !== 'ok') state.stoppedAt = task.name;
    if (outcome !== 'ok') return outcome;
    if (result.status === 'changed') {
      const notifying = result.steps.some((s) => !(s.kind === 'file' && s.noNotify));
      if (notifying) task.notify.forEach((h) => pending.add(h));
      // A service started from stopped in this run already runs the new config: a pending
      // restart of it would only bounce it again.
      for (const s of result.steps) {
        if (s.kind !== 'command' || !/^systemctl start\b/.test(s.command)) continue;
        for (const eff of s.effects ?? []) {
          if (eff.kind !== 'service' || eff.active !== true) continue;
          for (const h of play.handlers) {
            if (opts.operations.get(h.op)?.restartsUnit?.(h.args) === eff.name) pending.delete(h.name);
          }
        }
      }
    }
  }
  return flushHandlers(state, play, pending, vars, opts);
}

async function flushHandlers(state: HostState, play: Play, pending: Set<string>, vars: Record<string, unknown>, opts: HostRunOptions): Promise<HostOutcome> {
  for (const h of play.handlers) {
    if (!pending.has(h.name)) continue;
    pending.delete(h.name);
    if (opts.aborted()) {
      state.stoppedAt = `handler: ${h.name}`;
      return 'interrupted';
    }
    const { result, outcome } = await runTask(state, play, h, vars, opts, true);
    opts.emit({ type: 'task', result });
    if (outcome !== 'ok') state.stoppedAt = `handler: ${h.name}`;
    if (outcome !== 'ok') return outcome;
  }
  return 'ok';
}

/**
 * Whether this member has data, for the bootstrap gate: through the probe cache, so that the
 * read etcd_config made is reused while nothing on the host has changed since.
 */
function memberHasData(state: HostState, play: Play, task: Task, opts: HostRunOptions): Promise<boolean> {
  const become = task.become ?? play.become;
  const conn = become === undefined ? state.conn : withBecome(state.conn, become);
  return cachedProbe(state, conn, become, pathExists, { path: memberDataMarker(opts.gate!.cluster, state.host.name) });
}

function hostVars(host: HostEntry, play: Play, opts: HostRunOptions): Record<string, unknown> {
  const groups: Record<string, string[]> = Object.fromEntries(opts.inventory.groups);
  return {
    ...host.vars,
    ...play.vars,
    inventory_hostname: host.name,
    address: host.connection.address,
    groups,
    cluster: opts.inventory.cluster,
    playbook_dir: opts.playbookDir,
    check_mode: opts.check,
    ...opts.extraVars,
  };
}

/** A task, within its throttle (shared by all hosts of the run) when it has one. */
function runTask(...a: Parameters<typeof runTaskNow>): ReturnType<typeof runTaskNow> {
  const [, , task, , opts] = a;
  const run = () => runTaskNow(...a);
  return task.throttle && opts.throttled ? opts.throttled(task, run) : run();
}

async function runTaskNow(
  state: HostState,
  play: Play,
  task: Task,
  vars: Record<string, unknown>,
  opts: HostRunOptions,
  handler: boolean,
): Promise<{ result: TaskResult; outcome: HostOutcome }> {
  const started = Date.now();
  const result: TaskResult = {
    host: state.host.name, play: play.name, task: task.name, op: task.op,
    status: 'ok', steps: [], notes: [], handler, durationMs: 0,
  };
  const done = (outcome: HostOutcome = 'ok') => {
    result.durationMs = Date.now() - started;
    return { result, outcome };
  };
  /** Ctrl-C: steps already applied stay applied and are reported; no further step starts. */
  const interrupted = (applied?: number) => {
    if (applied !== undefined) {
      result.message = `interrupted: ${applied} of ${result.steps.length} steps applied`;
      result.steps = result.steps.slice(0, applied);
      result.status = applied > 0 ? 'changed' : 'skipped';
    } else {
      result.message = 'interrupted while waiting';
      if (result.status !== 'changed') result.status = 'skipped';
    }
    return done('interrupted');
  };
  try {
    if (task.when && !evaluateWhen(task.when, vars)) {
      result.status = 'skipped';
      result.message = `when: ${task.when.source}`;
      return done();
    }
    const op = opts.operations.get(task.op);
    if (!op) throw new ProvisionError('PLAYBOOK', `unknown operation ${task.op}`, { location: task.location });
    const args = renderArgs(task.args, vars, task.location);
    const unknowable = new Set<string>();
    const become = task.become ?? play.become;
    const conn = become === undefined ? state.conn : withBecome(state.conn, become);
    const ctx: OperationContext = {
      host: state.host,
      inventory: opts.inventory,
      cluster: opts.inventory.cluster,
      vars,
      check: opts.check,
      runtime: opts.runtime,
      fact: async <T, A>(def: FactDef<T, A>, a: A): Promise<T> => {
        const probed = await cachedProbe(state, conn, become, def, a);
        if (!opts.check) return probed;
        const p = predictFact(def, a, state.predicted, probed);
        if (p.unknowable) unknowable.add(factId(def, a));
        return p.value;
      },
      unknowable: <T, A>(def: FactDef<T, A>, a: A) => unknowable.has(factId(def, a)),
      note: (text: string) => result.notes.push(text),
    };
    const plan = await op.plan(ctx, args);
    result.steps = plan.steps;
    if (opts.check) {
      const changedBefore = state.predicted.length > 0;
      state.predicted.push(...plan.steps);
      result.status = plan.steps.length ? 'changed' : 'ok';
      if (plan.verify) {
        if (changedBefore || plan.steps.length) {
          result.notes.push('verification runs after the changes above are made');
        } else {
          const v = await watchVerify(plan.verify(conn), state.host.name, opts);
          if (v === INTERRUPTED) return interrupted();
          result.data = v.data;
          result.message = v.message;
          if (!v.ok) result.status = 'failed';
        }
      }
      return done(result.status === 'failed' ? 'failed' : 'ok');
    }
    for (const [i, step] of plan.steps.entries()) {
      if (opts.aborted()) return interrupted(i);
      state.probes.clear();
      await applyStep(conn, step);
    }
    if (plan.steps.length) result.status = 'changed';
    if (plan.verify) {
      const v = await watchVerify(plan.verify(conn), state.host.name, opts);
      if (v === INTERRUPTED) return interrupted();
      result.data = v.data;
      result.message = v.message;
      if (!v.ok) {
        result.status = 'failed';
        return done('failed');
      }
      for (const step of v.then ?? []) {
        state.probes.clear();
        await applyStep(conn, step);
        result.steps.push(step);
        result.status = 'changed';
      }
    }
    return done();
  } catch (e) {
    result.status = 'failed';
    // A bug of ours, not the user's: said so, its stack only when PROVISION_DEBUG is set.
    result.message = isProvisionError(e)
      ? e.format()
      : `internal error in ${task.op} (please report it): ${process.env.PROVISION_DEBUG ? (e as Error)?.stack ?? e : (e as Error)?.message ?? e}`;
    return done(isConnectionLost(e) ? 'unreachable' : 'failed');
  }
}

const factId = (def: FactDef<any, any>, a: unknown) => `${def.name} ${JSON.stringify(a)}`;

/** The same connection, with become forced on or off for every call. */
function withBecome(conn: Connection, become: boolean): Connection {
  return {
    host: conn.host,
    exec: (c, o) => conn.exec(c, { ...o, become: o?.become ?? become }),
    readFile: (p, o) => conn.readFile(p, { ...o, become: o?.become ?? become }),
    writeFile: (p, c, o) => conn.writeFile(p, c, { ...o, become: o?.become ?? become }),
    close: () => conn.close(),
  };
}
