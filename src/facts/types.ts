import type { Step } from '../plan/types.js';

/**
 * Returned by FactDef.predict when earlier predicted steps change the fact in a way that
 * cannot be known before they run (the files a not-yet-installed package will create).
 */
export const UNKNOWABLE: unique symbol = Symbol('provision.unknowable');
export type Unknowable = typeof UNKNOWABLE;

/**
 * A fact is a read-only probe: a command plus a pure parser of its output. Parsers are
 * tested from recorded output.
 *
 * Contract for the executor (see also probeFact/predictFact in ./run.ts, which implement it):
 * - Real run: plan each task just before running it; `ctx.fact` probes fresh on the host
 *   (one `exec` of `command(args)`, with sudo when `become` is true, else the host default)
 *   and returns `parse(stdout, exitCode, args, stderr)`. `ctx.unknowable()` is false.
 * - --check: keep, per host, the list of steps predicted so far (in order, handlers
 *   included). `ctx.fact` probes as above, then calls `predict(args, earlier, probed)`:
 *   `undefined` -> the probed value; a value -> that value; UNKNOWABLE -> the probed value,
 *   and `ctx.unknowable(def, args)` answers true for it from then on in that task. The
 *   operation decides what to say (ctx.note) and shows unknown file content as
 *   `before: undefined`. The executor adds no note of its own.
 */
export interface FactDef<T, A = void> {
  name: string;
  /** Shell command (built with shellJoin) that prints what `parse` reads. Must change nothing. */
  command(args: A): string;
  /** Pure: output of the command -> the fact. Throws ProvisionError('COMMAND') on failure. */
  parse(stdout: string, exitCode: number, args: A, stderr?: string): T;
  /** Run the probe with sudo even when the host's become is off. */
  become?: boolean;
  /**
   * The answer is about the whole cluster (a query of its members by their explicit addresses),
   * which any host's step may change: a host keeps it cached only while no step has been applied
   * anywhere in the run.
   */
  clusterWide?: boolean;
  /**
   * Pure: the fact after `earlier` steps (predicted, not run) on a host where it was probed
   * as `probed`. Absent or `undefined`: the steps do not touch it.
   */
  predict?(args: A, earlier: readonly Step[], probed: T): T | undefined | Unknowable;
}

export const defineFact = <T, A = void>(def: FactDef<T, A>): FactDef<T, A> => def;
