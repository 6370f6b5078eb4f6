/**
 * Runs one play's tasks on one host, in order: plan each task against fresh facts (or, in
 * --check, against facts as earlier predicted steps would leave them), then apply its
 * steps, then any verification, then the handlers that were notified.
 */
import type { Connection, ExecOptions, ExecResult } from '../connection/types.js';
import { ProvisionError, isConnectionLost, isProvisionError } from '../errors.js';
import { factKey, predictFact, probeFact } from '../facts/run.js';
import type { FactDef } from '../facts/types.js';
import type { HostEntry, Inventory } from '../inventory/types.js';
import type { OperationContext, OperationDef, OperationPlan, PeerWait, RunFlags, RunServices, VerifyResult } from '../plan/operation.js';
import type { Step } from '../plan/types.js';
import { evaluateWhen } from '../playbook/when.js';
import type { Play, Task } from '../playbook/types.js';
import { renderArgs } from '../template/index.js';
import type { HostTiming, Phase, RunEvent, TaskResult } from './events.js';
import { applyStep } from './apply.js';
import type { Rendezvous } from './rendezvous.js';

/** What every host of a run shares, plus the play's meeting points and the host's fork slot. */
export interface HostRunOptions {
  check: boolean;
  inventory: Inventory;
  operations: Map<string, OperationDef<any>>;
  playbookDir: string;
  emit: (e: RunEvent) => void;
  /** Set when the user pressed Ctrl-C: finish the current step, start nothing new. */
  aborted: () => boolean;
  runtime?: RunServices;
  options?: RunFlags;
  /** The hosts of the run (after --limit). */
  runHosts?: ReadonlySet<string>;
  /** Where the hosts of this play meet (tasks that wait for their peers). */
  rendezvous?: Rendezvous;
  /** Awaits a promise with the host's fork slot given up meanwhile (waiting for peers). */
  park?: <T>(p: Promise<T>) => Promise<T>;
  /** Runs fn within the task's throttle (shared by all hosts of the run); absent: no limit. */
  throttled?: <T>(task: Task, fn: () => Promise<T>) => Promise<T>;
  /** Variables given on the command line; they win over everything. */
  extraVars?: Record<string, unknown>;
  /** Reads a fact on another host of the run (Peers.fact). */
  peerFact?: <T, A>(host: string, def: FactDef<T, A>, args: A) => Promise<T>;
  /**
   * Steps applied so far in the whole run, on any host (one counter shared by every host). A
   * verification's probes read early (see earlyVerify) are used only while it has not moved.
   */
  changes?: { count: number };
}

export type HostOutcome = 'ok' | 'failed' | 'unreachable' | 'interrupted';

/** Per-host state that outlives one play (predicted steps in --check). */
export interface HostState {
  host: HostEntry;
  conn: Connection;
  /**
   * The connection as each phase uses it: round trips timed and reported, and (facts,
   * verification) read-only commands asked for together sent as one batch.
   */
  phases: Record<Phase, Connection>;
  timing: HostTiming;
  predicted: Step[];
  /**
   * Probe results (raw, as read on the host) by fact and become. Valid until a step is
   * applied on the host: a real run clears it after every change; --check changes nothing,
   * so its probes stay valid for the whole run.
   */
  probes: Map<string, Promise<unknown>>;
  /**
   * The first round of each verification's probes, read early with the facts (earlyVerify), by
   * command; `changes` is the run's change count when they were sent.
   */
  early?: Map<string, { changes: number; result: Promise<ExecResult> }>;
  /** The task (or handler) at which the host stopped: failed, lost or interrupted there. */
  stoppedAt?: string;
}

/** One host running one play: everything a task on it needs. */
interface HostRun {
  state: HostState;
  play: Play;
  vars: Record<string, unknown>;
  opts: HostRunOptions;
}

type TaskOutcome = { result: TaskResult; outcome: HostOutcome };

const INTERRUPTED = Symbol('interrupted');

export async function runPlayOnHost(state: HostState, play: Play, opts: HostRunOptions): Promise<HostOutcome> {
  const run: HostRun = { state, play, vars: hostVars(state.host, play, opts), opts };
  state.early?.clear();
  const pending = new Set<string>();
  await prefetch(run);
  for (const task of play.tasks) {
    if (opts.aborted()) {
      state.stoppedAt = task.name;
      return 'interrupted';
    }
    if (task.op === 'flush_handlers') {
      const outcome = await flushHandlers(run, pending);
      if (outcome !== 'ok') return outcome;
      continue;
    }
    const { result, outcome } = await runTask(run, task, false);
    opts.emit({ type: 'task', result });
    if (outcome !== 'ok') {
      state.stoppedAt = task.name;
      return outcome;
    }
    if (result.status === 'changed') notify(run, task, result.steps, pending);
  }
  return flushHandlers(run, pending);
}

/** The handlers a changed task notifies, less those its own steps made needless. */
function notify(run: HostRun, task: Task, steps: Step[], pending: Set<string>): void {
  if (steps.some((s) => !(s.kind === 'file' && s.noNotify))) task.notify.forEach((h) => pending.add(h));
  // A service started from stopped in this run already runs the new config: a pending
  // restart of it would only bounce it again.
  for (const s of steps) {
    for (const eff of s.effects ?? []) {
      if (eff.kind !== 'service' || !eff.fromStopped) continue;
      for (const h of run.play.handlers) if (run.opts.operations.get(h.op)?.restartsUnit?.(h.args) === eff.name) pending.delete(h.name);
    }
  }
}

async function flushHandlers(run: HostRun, pending: Set<string>): Promise<HostOutcome> {
  for (const h of run.play.handlers) {
    if (!pending.has(h.name)) continue;
    pending.delete(h.name);
    if (run.opts.aborted()) {
      run.state.stoppedAt = `handler: ${h.name}`;
      return 'interrupted';
    }
    const { result, outcome } = await runTask(run, h, true);
    run.opts.emit({ type: 'task', result });
    if (outcome !== 'ok') {
      run.state.stoppedAt = `handler: ${h.name}`;
      return outcome;
    }
  }
  return 'ok';
}

/**
 * Reads a fact through the host's probe cache. A fact of the whole cluster (FactDef.clusterWide:
 * the same answer from any host) is changed by the steps of every host, not only this one's:
 * it is cached only while no step has been applied anywhere in the run.
 */
function cachedProbe<T, A>(state: HostState, conn: Connection, become: boolean | undefined, def: FactDef<T, A>, a: A, changes?: { count: number }): Promise<T> {
  const key = `${become ?? '-'} ${factKey(def, a)}${def.clusterWide ? ` @${changes?.count ?? 0}` : ''}`;
  let p = state.probes.get(key) as Promise<T> | undefined;
  if (!p) {
    p = probeFact(conn, def, a);
    state.probes.set(key, p);
    // A failed probe is not remembered: the task that needs it reports the error itself.
    p.catch(() => state.probes.delete(key));
  }
  return p;
}

/** A task's connection (with its become setting) and the operation context built on it. */
function taskContext(run: HostRun, task: Task, notes: string[], forPrefetch = false): { ctx: OperationContext; conns: Record<Phase, Connection> } {
  const { state, opts } = run;
  const become = task.become ?? run.play.become;
  const as = (c: Connection) => (become === undefined ? c : withBecome(c, become));
  const conns = { facts: as(state.phases.facts), apply: as(state.phases.apply), verify: as(replayingEarly(state, opts)) };
  const conn = conns.facts;
  const unknowable = new Set<string>();
  const rendezvous = opts.rendezvous;
  const ctx: OperationContext = {
    host: state.host,
    inventory: opts.inventory,
    cluster: opts.inventory.cluster,
    vars: run.vars,
    check: opts.check,
    // A prefetch only reads facts: it leaves the run's services (which make things) alone.
    runtime: forPrefetch ? undefined : opts.runtime,
    options: opts.options ?? {},
    runHosts: opts.runHosts,
    peers: rendezvous && {
      lost: (hosts, signal) => rendezvous.peerLost(state.host.name, hosts, signal),
      ...(opts.peerFact ? { fact: opts.peerFact } : {}),
    },
    fact: async <T, A>(def: FactDef<T, A>, a: A): Promise<T> => {
      const probed = await cachedProbe(state, conn, become, def, a, opts.changes);
      if (!opts.check) return probed;
      const p = predictFact(def, a, state.predicted, probed);
      if (p.unknowable) unknowable.add(factKey(def, a));
      return p.value;
    },
    probe: <T, A>(def: FactDef<T, A>, a: A): Promise<T> => probeFact(conn, def, a),
    prefetch: forPrefetch,
    unknowable: <T, A>(def: FactDef<T, A>, a: A) => unknowable.has(factKey(def, a)),
    note: (text: string) => notes.push(text),
  };
  return { ctx, conns };
}

/**
 * Reads, all at once, the facts the play's tasks would ask for if nothing changed, so that
 * the round trips overlap instead of adding up. Plans made here are thrown away; errors
 * are left for the real planning, which happens in order as before and reads the facts
 * from the cache only while no step has changed the host.
 */
async function prefetch(run: HostRun): Promise<void> {
  await Promise.all(
    run.play.tasks.map(async (task) => {
      try {
        if (task.op === 'flush_handlers' || (task.when && !evaluateWhen(task.when, run.vars))) return;
        const op = run.opts.operations.get(task.op);
        if (!op) return;
        const plan = await op.plan(taskContext(run, task, [], true).ctx, renderArgs(task.args, run.vars, task.location));
        // A verification after steps would see the host changed: only one with none goes early.
        if (plan.verify && plan.steps.length === 0) earlyVerify(run, task, plan.verify);
      } catch {
        // reported by the real planning
      }
    }),
  );
}

const earlyKey = (command: string, o: ExecOptions | undefined) => `${o?.become ?? '-'} ${o?.timeoutMs ?? '-'} ${command}`;

/**
 * Sends the first round of a verification's probes now, with the facts (on the facts
 * connection, so in the same batch when they are asked for in the same turn), instead of one
 * round trip later at the end of a run that changes nothing. Verifications are read-only
 * (OperationPlan.verify); only the calls made in the turn it starts in go out, and any later
 * one (the second check of a poll, a file read) is refused, which ends this early run of it.
 * The results are kept for the real verification, which takes them only if no step was applied
 * anywhere in the run in the meantime (replayingEarly); otherwise it probes afresh.
 */
function earlyVerify(run: HostRun, task: Task, verify: NonNullable<OperationPlan['verify']>): void {
  const { state, opts } = run;
  const early = (state.early ??= new Map());
  const changes = opts.changes?.count ?? 0;
  const base = state.phases.facts;
  let open = true;
  setImmediate(() => (open = false));
  const refuse = () => Promise.reject(new Error('only the first round of a verification is read early'));
  const recorder: Connection = {
    host: base.host,
    exec(command, o) {
      if (!open || o?.stdin !== undefined || o?.nodeLocale) return refuse();
      const result = base.exec(command, o);
      result.catch(() => undefined); // a failed probe is probed again by the real verification
      early.set(earlyKey(command, o), { changes, result });
      return result;
    },
    readFile: refuse,
    writeFile: refuse,
    close: () => Promise.resolve(),
  };
  const become = task.become ?? run.play.become;
  verify(become === undefined ? recorder : withBecome(recorder, become)).catch(() => undefined);
}

/** The verification's connection: a probe read early is answered from its result while that is still valid. */
function replayingEarly(state: HostState, opts: HostRunOptions): Connection {
  const base = state.phases.verify;
  return {
    host: base.host,
    exec(command, o) {
      const key = earlyKey(command, o);
      const e = state.early?.get(key);
      if (!e || o?.stdin !== undefined) return base.exec(command, o);
      state.early!.delete(key);
      if (e.changes !== (opts.changes?.count ?? 0)) return base.exec(command, o);
      return e.result.catch(() => base.exec(command, o));
    },
    execMany: base.execMany?.bind(base),
    readFile: (p, o) => base.readFile(p, o),
    writeFile: (p, c, o) => base.writeFile(p, c, o),
    close: () => base.close(),
  };
}

/** A task, or a handler, on the host: its result and what it means for the host. */
async function runTask(run: HostRun, task: Task, handler: boolean): Promise<TaskOutcome> {
  const { state, play, opts } = run;
  const started = Date.now();
  const result: TaskResult = {
    host: state.host.name,
    play: play.name,
    task: task.name,
    op: task.op,
    status: 'ok',
    steps: [],
    notes: [],
    handler,
    durationMs: 0,
  };
  opts.emit({ type: 'task-start', host: state.host.name, play: play.name, task: task.name, handler });
  const { ctx, conns } = taskContext(run, task, result.notes);
  const done = (outcome: HostOutcome = 'ok'): TaskOutcome => {
    result.durationMs = Date.now() - started;
    return { result, outcome };
  };
  try {
    const op = opts.operations.get(task.op);
    if (task.when && !evaluateWhen(task.when, run.vars)) {
      if (op && !handler) skipMeeting(run, task, op, ctx);
      result.status = 'skipped';
      result.message = `when: ${task.when.source}`;
      return done();
    }
    if (!op) throw new ProvisionError('PLAYBOOK', `unknown operation ${task.op}`, { location: task.location });
    const args = renderArgs(task.args, run.vars, task.location);
    const wait = handler ? undefined : op.waitsForPeers?.(ctx, args);
    if (wait && opts.rendezvous) {
      const t0 = Date.now();
      const held = await meet(run, wait, result).finally(() => (state.timing.waitMs += Date.now() - t0));
      if (held) return done(held);
    }
    // Waiting for peers is outside the throttle: a host holding a throttle slot while it
    // waits would keep the peers it waits for out.
    const go = () => execute(run, op.plan(ctx, args), conns, result);
    return done(await (task.throttle && opts.throttled ? opts.throttled(task, go) : go()));
  } catch (e) {
    result.status = 'failed';
    // A bug of ours, not the user's: said so, its stack only when PROVISION_DEBUG is set.
    result.message = isProvisionError(e)
      ? e.format()
      : `internal error in ${task.op} (please report it): ${process.env.PROVISION_DEBUG ? ((e as Error)?.stack ?? e) : ((e as Error)?.message ?? e)}`;
    return done(isConnectionLost(e) ? 'unreachable' : 'failed');
  }
}

/** A task that would have waited for its peers is skipped: they learn it will not come. */
function skipMeeting(run: HostRun, task: Task, op: OperationDef<any>, ctx: OperationContext): void {
  let wait: PeerWait | undefined;
  try {
    wait = op.waitsForPeers?.(ctx, renderArgs(task.args, run.vars, task.location));
  } catch {
    return; // its arguments do not render: it would have failed, which the peers learn at the end of the play
  }
  const host = run.state.host.name;
  if (wait) run.opts.rendezvous?.skip(host, wait, `${host} does not ${wait.action} in this run (when: ${task.when!.source})`);
}

/**
 * Waits at the task's meeting point with the fork slot given up. Returns undefined to go on,
 * or the host's outcome (with `result` filled in) when the task must not run.
 */
async function meet(run: HostRun, wait: PeerWait, result: TaskResult): Promise<HostOutcome | undefined> {
  const { opts } = run;
  const value = await wait.arrive(); // an error here fails the task: the host counts as missing
  const stop = new AbortController();
  try {
    const waiting = opts.rendezvous!.arrive(run.state.host.name, wait, value);
    const met = await (opts.park ?? (<T>(p: Promise<T>) => p))(Promise.race([waiting, untilAborted(opts.aborted, stop.signal)]));
    // Ctrl-C wins over a decision it caused (a host interrupted before reaching the point).
    if (met === INTERRUPTED || opts.aborted()) {
      result.status = 'skipped';
      result.message = `interrupted while waiting for the other hosts to ${wait.action}`;
      return 'interrupted';
    }
    if (met.warning) opts.emit({ type: 'warning', message: met.warning });
    if (met.decision.go) return undefined;
    result.status = 'failed';
    result.message = met.decision.message + (met.decision.hint ? `\n  hint: ${met.decision.hint}` : '');
    return 'failed';
  } finally {
    stop.abort();
  }
}

/** Applies a plan (or, in --check, records it as predicted), then its verification. */
async function execute(run: HostRun, planned: Promise<OperationPlan>, conns: Record<Phase, Connection>, result: TaskResult): Promise<HostOutcome> {
  const { state, opts } = run;
  const conn = conns.apply;
  const timed = async <T>(key: 'applyMs' | 'verifyMs', p: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    try {
      return await p();
    } finally {
      state.timing[key] += Date.now() - t0;
    }
  };
  const plan = await planned;
  result.steps = plan.steps;
  if (opts.check) {
    const changedBefore = state.predicted.length > 0;
    state.predicted.push(...plan.steps);
    result.status = plan.steps.length ? 'changed' : 'ok';
    if (!plan.verify) return 'ok';
    if (changedBefore || plan.steps.length) {
      result.notes.push('verification runs after the changes above are made');
      return 'ok';
    }
    const v = await timed('verifyMs', () => verifyNow(plan, conns.verify, opts, result));
    return v === INTERRUPTED ? 'interrupted' : v.ok ? 'ok' : 'failed';
  }
  for (const [i, step] of plan.steps.entries()) {
    if (opts.aborted()) {
      // Ctrl-C: steps already applied stay applied and are reported; no further step starts.
      result.message = `interrupted: ${i} of ${result.steps.length} steps applied`;
      result.steps = result.steps.slice(0, i);
      result.status = i > 0 ? 'changed' : 'skipped';
      return 'interrupted';
    }
    state.probes.clear();
    if (opts.changes) opts.changes.count++;
    await timed('applyMs', () => applyStep(conn, step));
  }
  if (plan.steps.length) result.status = 'changed';
  if (!plan.verify) return 'ok';
  const v = await timed('verifyMs', () => verifyNow(plan, conns.verify, opts, result));
  if (v === INTERRUPTED) return 'interrupted';
  if (!v.ok) return 'failed';
  for (const step of v.then ?? []) {
    state.probes.clear();
    if (opts.changes) opts.changes.count++;
    await timed('applyMs', () => applyStep(conn, step));
    result.steps.push(step);
    result.status = 'changed';
  }
  return 'ok';
}

/** Runs a plan's verification into `result`; it ends at once on Ctrl-C. */
async function verifyNow(plan: OperationPlan, conn: Connection, opts: HostRunOptions, result: TaskResult): Promise<VerifyResult | typeof INTERRUPTED> {
  const p = plan.verify!(conn);
  p.catch(() => undefined); // once abandoned, its rejection (connection closed) is nobody's
  const stop = new AbortController();
  let v: VerifyResult | typeof INTERRUPTED;
  try {
    v = await Promise.race([p, untilAborted(opts.aborted, stop.signal)]);
  } finally {
    stop.abort();
  }
  if (v === INTERRUPTED) {
    result.message = 'interrupted while waiting';
    if (result.status !== 'changed') result.status = 'skipped';
    return v;
  }
  result.data = v.data;
  result.table = v.table;
  result.message = v.message;
  if (!v.ok) result.status = 'failed';
  return v;
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

/** The same connection, with become forced on or off for every call. */
function withBecome(conn: Connection, become: boolean): Connection {
  return {
    host: conn.host,
    exec: (c, o) => conn.exec(c, { ...o, become: o?.become ?? become }),
    execMany: conn.execMany && ((cs, o) => conn.execMany!(cs, { ...o, become: o?.become ?? become })),
    readFile: (p, o) => conn.readFile(p, { ...o, become: o?.become ?? become }),
    writeFile: (p, c, o) => conn.writeFile(p, c, { ...o, become: o?.become ?? become }),
    close: () => conn.close(),
  };
}
