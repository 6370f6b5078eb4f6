import { quote, shellJoin } from '../connection/quote.js';
import { commandLine, commandSucceeds } from '../facts/command.js';
import { pathExists } from '../facts/path.js';
import type { Effect } from '../plan/types.js';
import { defineOperation, type ArgSpec } from './types.js';
import { absolutePath, argError, factOf } from './util.js';

export interface CommandArgs {
  /** A string runs with `sh -c`; a list is an argv, each word quoted. */
  cmd: string | string[];
  /** Skip when this path exists. */
  creates?: string;
  /** Skip when this path does not exist. */
  removes?: string;
  /** Skip when this command exits 0 (it must change nothing). */
  unless?: string | string[];
  chdir?: string;
}

const args: Record<string, ArgSpec> = {
  cmd: { type: 'any', required: true, description: 'shell string (sh -c) or argv list', validate: nonEmptyCommand },
  creates: { type: 'string', description: 'skip when this path exists', validate: absolutePath },
  removes: { type: 'string', description: 'skip when this path is absent', validate: absolutePath },
  unless: { type: 'any', description: 'skip when this read-only command exits 0' },
  chdir: { type: 'string', description: 'run in this directory', validate: absolutePath },
};

function nonEmptyCommand(v: unknown): string | undefined {
  if (typeof v === 'string') return v.trim() === '' ? 'must not be empty' : undefined;
  if (Array.isArray(v)) return v.length === 0 || !v.every((x) => typeof x === 'string') ? 'must be a non-empty list of strings' : undefined;
  return 'must be a string or a list of strings';
}

export const commandOp = defineOperation<CommandArgs>({
  name: 'command',
  description: 'Run a command; without a guard (creates/removes/unless) it always counts as a change',
  args,
  async plan(ctx, a) {
    const ok = (v: unknown) => typeof v === 'string' || (Array.isArray(v) && v.length > 0 && v.every((w) => typeof w === 'string'));
    if (!ok(a.cmd) || (a.unless !== undefined && !ok(a.unless))) throw argError('command', 'cmd and unless must be a string or a list of strings');
    if (a.creates !== undefined && (await ctx.fact(pathExists, { path: a.creates }))) return { steps: [] };
    if (a.removes !== undefined && !(await ctx.fact(pathExists, { path: a.removes }))) return { steps: [] };
    if (a.unless !== undefined) {
      const { value, unknowable } = await factOf(ctx, commandSucceeds, { cmd: a.unless });
      if (unknowable) ctx.note('the unless guard was evaluated before earlier steps ran');
      if (value) return { steps: [] };
    }
    const cd = a.chdir === undefined ? '' : `cd -- ${quote(a.chdir)} || exit\n`;
    const body = typeof a.cmd === 'string' ? a.cmd : `exec ${shellJoin(a.cmd)}`;
    const effects: Effect[] = [
      ...(a.creates !== undefined ? [{ kind: 'path', path: a.creates, state: 'present' } as const] : []),
      ...(a.removes !== undefined ? [{ kind: 'path', path: a.removes, state: 'absent' } as const] : []),
    ];
    return {
      steps: [
        {
          kind: 'command',
          description: `run ${typeof a.cmd === 'string' ? a.cmd : a.cmd.join(' ')}`.split('\n')[0]!,
          command: cd ? commandLine(cd + body) : commandLine(a.cmd),
          // The user's own command: its output is theirs to read, in the node's language.
          nodeLocale: true,
          ...(effects.length ? { effects } : {}),
        },
      ],
    };
  },
});
