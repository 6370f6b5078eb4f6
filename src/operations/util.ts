import { ProvisionError } from '../errors.js';
import type { FactDef } from '../facts/types.js';
import type { CommandStep } from '../plan/types.js';
import type { ArgSpec, OperationContext } from './types.js';

/** Task args with the spec's defaults filled in. */
export function withDefaults<A>(spec: Record<string, ArgSpec>, args: A): A {
  const out: Record<string, unknown> = { ...(args as Record<string, unknown>) };
  for (const [k, s] of Object.entries(spec)) if (out[k] === undefined && s.default !== undefined) out[k] = s.default;
  return out as A;
}

/** A fact plus whether --check could not predict it (contract in src/facts/types.ts). */
export async function factOf<T, A>(ctx: OperationContext, def: FactDef<T, A>, args: A): Promise<{ value: T; unknowable: boolean }> {
  const value = await ctx.fact(def, args);
  return { value, unknowable: ctx.unknowable?.(def, args) ?? false };
}

/** `systemctl daemon-reload`: systemd rereads the unit files changed on disk. */
export const daemonReloadStep = (): CommandStep => ({
  kind: 'command',
  description: 'systemctl daemon-reload',
  command: 'systemctl daemon-reload',
  effects: [{ kind: 'daemon-reload' }],
});

/** '0644' / '644' / '2755' -> number; anything else is a playbook error. */
export function parseMode(mode: string, op: string): number {
  if (!/^0?[0-7]{3,4}$/.test(mode)) throw new ProvisionError('PLAYBOOK', `${op}: mode must be an octal string like '0644', got ${JSON.stringify(mode)}`);
  return parseInt(mode, 8);
}

export function argError(op: string, message: string): ProvisionError {
  return new ProvisionError('PLAYBOOK', `${op}: ${message}`);
}

/** ArgSpec.validate helpers. */
export const absolutePath = (v: unknown): string | undefined =>
  typeof v === 'string' && (!v.startsWith('/') || /[\n\r\0]/.test(v)) ? 'must be an absolute path on one line' : undefined;
export const octalMode = (v: unknown): string | undefined =>
  typeof v === 'string' && !/^0?[0-7]{3,4}$/.test(v) ? "must be an octal string like '0644'" : undefined;
