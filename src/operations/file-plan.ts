import { formatMode } from '../util/format.js';
import { shellJoin } from '../connection/quote.js';
import { ProvisionError } from '../errors.js';
import { file, sha256 } from '../facts/file.js';
import type { Step } from '../plan/types.js';
import type { OperationContext } from './types.js';
import { factOf } from './util.js';

export interface WantedFile {
  path: string;
  content: string;
  mode: number;
  owner: string;
  group: string;
  backup?: boolean;
  secret?: boolean;
  /** Decides whether a content change may skip the handlers (see FileStep.noNotify). */
  noNotify?: (before: string) => boolean;
}

/** Steps that make `path` a regular file with this content and attributes; [] if it is. */
export async function planFile(ctx: OperationContext, w: WantedFile): Promise<Step[]> {
  const { value: f, unknowable } = await factOf(ctx, file, { path: w.path });
  if (unknowable) ctx.note(`current content of ${w.path} depends on an earlier step`);
  if (f.exists && f.type !== 'file')
    throw new ProvisionError('PLAYBOOK', `${w.path} exists and is a ${f.type}, not a regular file`, {
      hint: 'remove it first (file with state: absent)',
    });
  const same = !unknowable && f.exists && f.type === 'file' && f.sha256 === sha256(w.content);
  if (!same) {
    // undefined: not knowable now (an earlier step decides it, or the file is over 1 MB).
    const before = unknowable ? undefined : f.exists ? f.content : null;
    return [
      {
        kind: 'file',
        description: `write ${w.path}`,
        path: w.path,
        before,
        after: w.content,
        mode: w.mode,
        owner: w.owner,
        group: w.group,
        ...(w.backup && (f.exists || unknowable) ? { backup: true } : {}),
        ...(w.secret ? { secret: true } : {}),
        ...(typeof before === 'string' && w.noNotify?.(before) ? { noNotify: true } : {}),
      },
    ];
  }
  return attrSteps(w.path, f, w);
}

/** chown/chmod when only the attributes differ. */
export function attrSteps(path: string, f: { mode: number; owner: string; group: string }, w: { mode: number; owner: string; group: string }): Step[] {
  const cmds: string[] = [];
  if (f.owner !== w.owner || f.group !== w.group) cmds.push(shellJoin(['chown', `${w.owner}:${w.group}`, '--', path]));
  if (f.mode !== w.mode) cmds.push(shellJoin(['chmod', formatMode(w.mode), '--', path]));
  if (cmds.length === 0) return [];
  return [
    {
      kind: 'command',
      description: `set ${formatMode(w.mode)} ${w.owner}:${w.group} on ${path}`,
      command: cmds.join(' && '),
      effects: [{ kind: 'path', path, state: 'present', mode: w.mode, owner: w.owner, group: w.group }],
    },
  ];
}
