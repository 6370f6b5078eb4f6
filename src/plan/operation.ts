/**
 * The contract between the engine and an operation: what an operation is given (its
 * context), what it returns (a plan of steps, an optional verification, an optional wait for
 * its peers) and what the reporters may show of it (a table). The executor knows operations
 * only through this file.
 */
import type { Connection } from '../connection/types.js';
import type { FactDef } from '../facts/types.js';
import type { ClusterSpec, HostEntry, Inventory } from '../inventory/types.js';
import type { Step } from './types.js';

/** Argument schema of an operation; the playbook loader checks tasks against it at load time. */
export interface ArgSpec {
  type: 'string' | 'number' | 'boolean' | 'string[]' | 'map' | 'any';
  required?: boolean;
  /** Allowed values for a string argument. */
  enum?: readonly string[];
  /** Value used when the task omits the argument (operations apply it themselves too). */
  default?: string | number | boolean;
  description?: string;
  /**
   * Checks a value written in the playbook (not a template) at load time, before anything
   * connects: the problem, or undefined when it is fine. Operations check again at plan time.
   */
  validate?: (value: unknown) => string | undefined;
}

/**
 * Typed options of a run (from the command line), given to every operation. Empty here: the
 * operations that read options declare them (declaration merging, src/operations/types.ts),
 * so the engine passes them along without knowing any of them.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface RunFlags {}

/**
 * Controller-side services shared by the hosts of a run (certificates, tokens), made by the
 * caller. Declared by the operations that use them, as RunFlags.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface RunServices {}

/** What a host knows of the other hosts of its play. */
export interface Peers {
  /**
   * Resolves, with the reason, as soon as one of `hosts` other than this one is lost to the
   * run (unreachable, failed, interrupted, not in the run or the play, or it will not reach a
   * meeting point it was expected at). Never resolves once `signal` is aborted.
   */
  lost(hosts: readonly string[], signal: AbortSignal): Promise<string>;
  /**
   * Reads a fact on another host of the run, as it is now (read-only). For --check, where a
   * question this host cannot answer yet (its tools are not installed) has the same answer
   * on a peer. Rejects when the host is not in the run or cannot be reached.
   */
  fact?<T, A>(host: string, def: FactDef<T, A>, args: A): Promise<T>;
}

export interface OperationContext {
  host: HostEntry;
  inventory: Inventory;
  cluster?: ClusterSpec;
  /** Template variables: host vars plus `cluster`, `inventory_hostname`, `groups`, `hostvars`. */
  vars: Record<string, unknown>;
  check: boolean;
  /**
   * Read a fact. In a real run it is probed fresh on the host. In --check it reflects the
   * changes earlier tasks were predicted to make (FactDef.predict); when a fact cannot be
   * known because an earlier predicted step would change it in an unknown way (a package
   * not yet installed), it is returned as probed and `ctx.unknowable(def, args)` is true,
   * and the operation says so. Full contract: src/facts/types.ts.
   */
  fact<T, A>(def: FactDef<T, A>, args: A): Promise<T>;
  /**
   * Read a fact fresh on the host, past the cache ctx.fact keeps while nothing on the host
   * changes: for an operation that waits for something other hosts do (real runs only).
   */
  probe?<T, A>(def: FactDef<T, A>, args: A): Promise<T>;
  /** Set while the engine plans ahead only to read facts early: its plan is thrown away, so nothing is waited for. */
  prefetch?: boolean;
  /** True when the fact, already read with ctx.fact, could not be predicted (--check only). */
  unknowable?<T, A>(def: FactDef<T, A>, args: A): boolean;
  /** Controller-side services shared by the run's hosts (RunServices). */
  runtime?: RunServices;
  /** Typed options of the run (RunFlags). */
  options?: RunFlags;
  /** The hosts this run works on (after --limit). */
  runHosts?: ReadonlySet<string>;
  /** The other hosts of the play (absent outside a run, as in unit tests of one operation). */
  peers?: Peers;
  /** Note for the plan output ("depends on: Install nginx"). */
  note(text: string): void;
}

/** Structured output an operation gives the reporters: they show it without knowing the operation. */
export interface Table {
  title?: string;
  columns: string[];
  rows: string[][];
}

export interface OperationPlan {
  steps: Step[];
  /**
   * Optional read-only wait/verification, run after the steps in a real run (for example:
   * wait until a cluster reports every member healthy). It may return steps to apply
   * afterwards. In --check it runs only when nothing earlier on the host was predicted to
   * change.
   */
  verify?: (conn: Connection) => Promise<VerifyResult>;
}

export interface VerifyResult {
  ok: boolean;
  message: string;
  /** Structured data for machine-readable output (--json). */
  data?: unknown;
  /** The same, as a table for the terminal. */
  table?: Table;
  /** Steps to apply after a successful verification (counted as changes). */
  then?: Step[];
}

/** Whether the hosts waiting at a meeting point go on. */
export type PeerDecision = { go: true; warning?: string } | { go: false; message: string; hint?: string };

/**
 * A task that must not run on a host before its peers have reached the same point (a cluster
 * that must not be bootstrapped with a member missing). The executor makes the hosts of the
 * play that name the same `point` wait there, with their fork slots given up, until each of
 * `peers` has either arrived or is known to be missing; then `decide` is called once and its
 * decision holds for every host that arrived.
 */
export interface PeerWait<T = unknown> {
  /** The meeting point; hosts of a play that name the same point meet there. */
  point: string;
  /** The hosts expected there (those that are not hosts of the play count as missing). */
  peers: readonly string[];
  /** What the hosts do at this point, for messages: "start the database" ("b did not start the database in this play"). */
  action: string;
  /** What this host brings to the meeting (read when it arrives); an error fails its task. */
  arrive(): Promise<T>;
  /** The decision, once every peer arrived (`arrived`: what each brought) or is missing (`missing`: why). */
  decide(arrived: ReadonlyMap<string, T>, missing: ReadonlyMap<string, string>): PeerDecision;
}

export interface OperationDef<A = Record<string, unknown>> {
  name: string;
  description: string;
  args: Record<string, ArgSpec>;
  plan(ctx: OperationContext, args: A): Promise<OperationPlan>;
  /**
   * As a handler, the unit this operation (re)starts: the executor drops such a pending
   * handler when the same run started that unit from stopped (it already runs the new config).
   */
  restartsUnit?(args: Record<string, unknown>): string | undefined;
  /** The meeting this task waits at before it is planned, if any (see PeerWait). */
  waitsForPeers?(ctx: OperationContext, args: A): PeerWait<any> | undefined;
}

/** Identity function for type inference (as citty's defineCommand). */
export const defineOperation = <A>(def: OperationDef<A>): OperationDef<A> => def;
