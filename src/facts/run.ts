import type { Connection } from '../connection/types.js';
import type { Step } from '../plan/types.js';
import { UNKNOWABLE, type FactDef } from './types.js';

/** Probe a fact on a live connection: one round trip. */
export async function probeFact<T, A>(conn: Connection, def: FactDef<T, A>, args: A): Promise<T> {
  const r = await conn.exec(def.command(args), def.become ? { become: true } : undefined);
  return def.parse(r.stdout, r.exitCode, args, r.stderr);
}

/** --check: the fact after the steps predicted earlier on the host (contract in ./types.ts). */
export function predictFact<T, A>(def: FactDef<T, A>, args: A, earlier: readonly Step[], probed: T): { value: T; unknowable: boolean } {
  const p = def.predict?.(args, earlier, probed);
  if (p === UNKNOWABLE) return { value: probed, unknowable: true };
  return { value: p === undefined ? probed : p, unknowable: false };
}

/** Stable key of a fact query, for caches and test fixtures: `name {"json":"args"}`. */
export const factKey = <T, A>(def: FactDef<T, A>, args: A): string => (args === undefined ? def.name : `${def.name} ${JSON.stringify(args)}`);
