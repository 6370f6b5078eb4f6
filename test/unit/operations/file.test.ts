import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { file, sha256, type FileFact } from '../../../src/facts/file.js';
import { fileOp, type FileArgs } from '../../../src/operations/file.js';
import type { Step } from '../../../src/plan/types.js';
import { fact, planOf, type Fixture } from './helpers.js';

const P = '/etc/app.conf';
const EVIL = "/etc/it's $(reboot)\n.conf";
const ABSENT: FileFact = { exists: false };
const has = (content: string, mode = 0o644, owner = 'root', group = 'root'): FileFact => ({
  exists: true,
  type: 'file',
  mode,
  owner,
  group,
  size: content.length,
  sha256: sha256(content),
  content,
});
const dir = (mode = 0o755, owner = 'root'): FileFact => ({ exists: true, type: 'directory', mode, owner, group: 'root', size: 4096 });
const at = (path: string, f: FileFact): Fixture => ({ facts: [fact(file, { path }, f)] });
const write = (before: string | null | undefined, after: string, extra: Partial<Step> = {}, path = P): Step =>
  ({ kind: 'file', description: `write ${path}`, path, before, after, mode: 0o644, owner: 'root', group: 'root', ...extra }) as Step;
const run = (description: string, command: string, effects: Step['effects']): Step => ({ kind: 'command', description, command, effects });

const playbookDir = mkdtempSync(join(tmpdir(), 'tpl-'));
writeFileSync(join(playbookDir, 'app.conf.j2'), 'name={{ inventory_hostname }}\n{% for p in ports %}port={{ p }}\n{% endfor %}');

const cases: { name: string; args: FileArgs; fx: Fixture; steps: Step[] }[] = [
  { name: 'new file', args: { path: P, content: 'a\n' }, fx: at(P, ABSENT), steps: [write(null, 'a\n')] },
  { name: 'unchanged', args: { path: P, content: 'a\n' }, fx: at(P, has('a\n')), steps: [] },
  { name: 'content changed', args: { path: P, content: 'b\n' }, fx: at(P, has('a\n')), steps: [write('a\n', 'b\n')] },
  { name: 'content changed, backup', args: { path: P, content: 'b\n', backup: true }, fx: at(P, has('a\n')), steps: [write('a\n', 'b\n', { backup: true })] },
  { name: 'new file, backup has nothing to keep', args: { path: P, content: 'b\n', backup: true }, fx: at(P, ABSENT), steps: [write(null, 'b\n')] },
  {
    name: 'secret',
    args: { path: P, content: 'key', secret: true, mode: '0600' },
    fx: at(P, ABSENT),
    steps: [write(null, 'key', { secret: true, mode: 0o600 })],
  },
  {
    name: 'only mode differs',
    args: { path: P, content: 'a\n', mode: '0600' },
    fx: at(P, has('a\n')),
    steps: [run(`set 0600 root:root on ${P}`, `chmod 0600 -- ${P}`, [{ kind: 'path', path: P, state: 'present', mode: 0o600, owner: 'root', group: 'root' }])],
  },
  {
    name: 'owner and mode differ, hostile path',
    args: { path: EVIL, content: 'a\n', owner: 'etcd', group: 'etcd', mode: '640' },
    fx: at(EVIL, has('a\n')),
    steps: [
      run(`set 0640 etcd:etcd on ${EVIL}`, "chown etcd:etcd -- '/etc/it'\\''s $(reboot)\n.conf' && chmod 0640 -- '/etc/it'\\''s $(reboot)\n.conf'", [
        { kind: 'path', path: EVIL, state: 'present', mode: 0o640, owner: 'etcd', group: 'etcd' },
      ]),
    ],
  },
  {
    name: 'over 1 MB: compared by hash, before unknown',
    args: { path: P, content: 'b' },
    fx: at(P, { ...(has('a') as FileFact & { exists: true }), content: undefined }),
    steps: [write(undefined, 'b')],
  },
  {
    name: 'template',
    args: { path: P, template: 'app.conf.j2' },
    fx: { ...at(P, ABSENT), vars: { playbook_dir: playbookDir, inventory_hostname: 'etcd0', ports: [1, 2] } },
    steps: [write(null, 'name=etcd0\nport=1\nport=2\n')],
  },
  {
    name: 'directory created',
    args: { path: '/etc/etcd/pki', state: 'directory', mode: '0700', owner: 'etcd' },
    fx: at('/etc/etcd/pki', ABSENT),
    steps: [
      run('create directory /etc/etcd/pki', 'mkdir -p -- /etc/etcd/pki && chown etcd:root -- /etc/etcd/pki && chmod 0700 -- /etc/etcd/pki', [
        { kind: 'path', path: '/etc/etcd/pki', state: 'present', type: 'directory', mode: 0o700, owner: 'etcd', group: 'root' },
      ]),
    ],
  },
  { name: 'directory unchanged (default 0755)', args: { path: '/d', state: 'directory' }, fx: at('/d', dir()), steps: [] },
  {
    name: 'directory mode fixed',
    args: { path: '/d', state: 'directory' },
    fx: at('/d', dir(0o777)),
    steps: [run('set 0755 root:root on /d', 'chmod 0755 -- /d', [{ kind: 'path', path: '/d', state: 'present', mode: 0o755, owner: 'root', group: 'root' }])],
  },
  {
    name: 'absent: removed',
    args: { path: EVIL, state: 'absent' },
    fx: at(EVIL, has('x')),
    steps: [run(`remove ${EVIL}`, "rm -rf -- '/etc/it'\\''s $(reboot)\n.conf'", [{ kind: 'path', path: EVIL, state: 'absent' }])],
  },
  { name: 'absent: nothing to do', args: { path: P, state: 'absent' }, fx: at(P, ABSENT), steps: [] },
];

describe('file', () => {
  it.each(cases)('$name', async (c) => {
    expect((await planOf(fileOp, c.args, c.fx)).plan.steps).toEqual(c.steps);
  });

  it('--check: content an earlier step decides is shown as unknown', async () => {
    const { plan, notes } = await planOf(fileOp, { path: P, content: 'a\n' }, { ...at(P, ABSENT), unknowable: [[file, { path: P }]] });
    expect(plan.steps).toEqual([write(undefined, 'a\n')]);
    expect(notes).toEqual([`current content of ${P} depends on an earlier step`]);
  });

  it.each<[string, FileArgs, Fixture, RegExp]>([
    ['content and template', { path: P, content: 'a', template: 'x' }, {}, /exactly one of content or template/],
    ['neither', { path: P }, {}, /exactly one of content or template/],
    ['relative path', { path: 'etc/x', content: 'a' }, {}, /must be absolute/],
    ['root', { path: '/', state: 'absent' }, {}, /must be absolute and not \//],
    ['bad mode', { path: P, content: 'a', mode: 'rw-r--r--' }, {}, /octal string/],
    ['content with directory', { path: P, content: 'a', state: 'directory' }, {}, /need state: file/],
    ['file over a directory', { path: P, content: 'a' }, at(P, dir()), /is a directory, not a regular file/],
    ['directory over a file', { path: P, state: 'directory' }, at(P, has('a')), /is a file, not a directory/],
    ['undefined template variable', { path: P, template: 'app.conf.j2' }, { vars: { playbook_dir: playbookDir, ports: [] } }, /inventory_hostname/],
    ['missing template', { path: P, template: 'nope.j2' }, { vars: { playbook_dir: playbookDir } }, /nope\.j2: file not found/],
  ])('rejects %s', async (_n, args, fx, err) => {
    await expect(planOf(fileOp, args, fx)).rejects.toThrow(err);
  });
});
