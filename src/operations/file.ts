import { formatMode } from '../util/format.js';
import { isAbsolute, resolve } from 'node:path';
import { shellJoin } from '../connection/quote.js';
import { file } from '../facts/file.js';
import type { Step } from '../plan/types.js';
import { renderTemplateFile } from '../template/index.js';
import { attrSteps, planFile } from './file-plan.js';
import { defineOperation, type ArgSpec, type OperationContext } from './types.js';
import { absolutePath, argError, factOf, octalMode, parseMode, withDefaults } from './util.js';

export interface FileArgs {
  path: string;
  content?: string;
  /** Local template file, relative to the playbook's directory. */
  template?: string;
  state?: 'file' | 'directory' | 'absent';
  owner?: string;
  group?: string;
  /** Octal string; default '0644' for files, '0755' for directories. */
  mode?: string;
  backup?: boolean;
  secret?: boolean;
}

const args: Record<string, ArgSpec> = {
  path: { type: 'string', required: true, description: 'absolute path on the host', validate: absolutePath },
  content: { type: 'string', description: 'file content (exclusive with template)' },
  template: { type: 'string', description: 'local template file (nunjucks), relative to the playbook' },
  state: { type: 'string', enum: ['file', 'directory', 'absent'], default: 'file' },
  owner: { type: 'string', default: 'root' },
  group: { type: 'string', default: 'root' },
  mode: { type: 'string', description: "octal string, '0644' for files / '0755' for directories by default", validate: octalMode },
  backup: { type: 'boolean', default: false, description: 'keep the old file as <path>.<time>.bak' },
  secret: { type: 'boolean', default: false, description: 'never show the content' },
};

export const fileOp = defineOperation<FileArgs>({
  name: 'file',
  description: 'Manage a file (content or template), a directory, or an absent path',
  args,
  async plan(ctx, raw) {
    const a = withDefaults(args, raw);
    if (!isAbsolute(a.path) || a.path === '/') throw argError('file', `path must be absolute and not /: ${JSON.stringify(a.path)}`);
    const owner = a.owner!;
    const group = a.group!;
    if (a.state !== 'file') {
      if (a.content !== undefined || a.template !== undefined) throw argError('file', `content/template need state: file (${a.path})`);
      return { steps: a.state === 'absent' ? await absent(ctx, a.path) : await directory(ctx, a.path, parseMode(a.mode ?? '0755', 'file'), owner, group) };
    }
    if ((a.content === undefined) === (a.template === undefined)) throw argError('file', `give exactly one of content or template (${a.path})`);
    const content = a.content ?? renderTemplateFile(templatePath(ctx, a.template!), ctx.vars);
    const mode = parseMode(a.mode ?? '0644', 'file');
    return { steps: await planFile(ctx, { path: a.path, content, mode, owner, group, backup: a.backup, secret: a.secret }) };
  },
});

const templatePath = (ctx: OperationContext, t: string): string => resolve(typeof ctx.vars.playbook_dir === 'string' ? ctx.vars.playbook_dir : '.', t);

async function absent(ctx: OperationContext, path: string): Promise<Step[]> {
  const { value: f } = await factOf(ctx, file, { path });
  if (!f.exists) return [];
  return [
    { kind: 'command', description: `remove ${path}`, command: shellJoin(['rm', '-rf', '--', path]), effects: [{ kind: 'path', path, state: 'absent' }] },
  ];
}

async function directory(ctx: OperationContext, path: string, mode: number, owner: string, group: string): Promise<Step[]> {
  const { value: f } = await factOf(ctx, file, { path });
  if (f.exists && f.type !== 'directory') throw argError('file', `${path} exists and is a ${f.type}, not a directory`);
  if (f.exists) return attrSteps(path, f, { mode, owner, group });
  const mkdir = [
    shellJoin(['mkdir', '-p', '--', path]),
    shellJoin(['chown', `${owner}:${group}`, '--', path]),
    shellJoin(['chmod', formatMode(mode), '--', path]),
  ];
  return [
    {
      kind: 'command',
      description: `create directory ${path}`,
      command: mkdir.join(' && '),
      effects: [{ kind: 'path', path, state: 'present', type: 'directory', mode, owner, group }],
    },
  ];
}
