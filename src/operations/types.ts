import type { Connection } from '../connection/types.js';
import type { ClusterSpec, HostEntry, Inventory } from '../inventory/types.js';
import type { Step } from '../plan/types.js';
import type { FactDef } from '../facts/types.js';
import type { ClusterRuntime } from './runtime.js';

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
  /** True when the fact, already read with ctx.fact, could not be predicted (--check only). */
  unknowable?<T, A>(def: FactDef<T, A>, args: A): boolean;
  /** Controller-side certificates and discovery URL, shared by the run's hosts. */
  runtime?: ClusterRuntime;
  /** Note for the plan output ("depends on: Install etcd"). */
  note(text: string): void;
}

export interface OperationPlan {
  steps: Step[];
  /**
   * Optional read-only wait/verification, run after the steps in a real run (for example:
   * wait until etcd reports every member healthy). It may return steps to apply afterwards.
   * In --check it runs only when nothing earlier on the host was predicted to change.
   */
  verify?: (conn: Connection) => Promise<VerifyResult>;
}

export interface VerifyResult {
  ok: boolean;
  message: string;
  /** Structured data for the reporter (the etcd member table). */
  data?: unknown;
  /** Steps to apply after a successful verification (counted as changes). */
  then?: Step[];
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
}

/** Identity function for type inference (as citty's defineCommand). */
export const defineOperation = <A>(def: OperationDef<A>): OperationDef<A> => def;
