import { describe, expect, it } from 'vitest';
import { commandSucceeds } from '../../../src/facts/command.js';
import { pathExists } from '../../../src/facts/path.js';
import { commandOp, type CommandArgs } from '../../../src/operations/command.js';
import type { Step } from '../../../src/plan/types.js';
import { fact, planOf, type FactFixture } from './helpers.js';

/** The user's own command: it runs in the node's locale (as Ansible's command module), not provision's fixed C locale. */
const run = (description: string, command: string, effects?: Step['effects']): Step => ({
  kind: 'command',
  description,
  command,
  ...(effects ? { effects } : {}),
  nodeLocale: true,
});

const cases: { name: string; args: CommandArgs; facts?: FactFixture[]; steps: Step[] }[] = [
  { name: 'no guard: always a change', args: { cmd: 'echo hi > /tmp/x' }, steps: [run('run echo hi > /tmp/x', "sh -c 'echo hi > /tmp/x'")] },
  {
    name: 'argv is quoted word by word',
    args: { cmd: ['touch', "/tmp/it's here", '$(reboot)'] },
    steps: [run("run touch /tmp/it's here $(reboot)", "touch '/tmp/it'\\''s here' '$(reboot)'")],
  },
  {
    name: 'creates: path absent',
    args: { cmd: 'etcd-init', creates: '/var/lib/x/done' },
    facts: [fact(pathExists, { path: '/var/lib/x/done' }, false)],
    steps: [run('run etcd-init', 'sh -c etcd-init', [{ kind: 'path', path: '/var/lib/x/done', state: 'present' }])],
  },
  {
    name: 'creates: path exists',
    args: { cmd: 'etcd-init', creates: '/var/lib/x/done' },
    facts: [fact(pathExists, { path: '/var/lib/x/done' }, true)],
    steps: [],
  },
  {
    name: 'removes: path exists',
    args: { cmd: ['rm', '/tmp/lock'], removes: '/tmp/lock' },
    facts: [fact(pathExists, { path: '/tmp/lock' }, true)],
    steps: [run('run rm /tmp/lock', 'rm /tmp/lock', [{ kind: 'path', path: '/tmp/lock', state: 'absent' }])],
  },
  {
    name: 'removes: path absent',
    args: { cmd: ['rm', '/tmp/lock'], removes: '/tmp/lock' },
    facts: [fact(pathExists, { path: '/tmp/lock' }, false)],
    steps: [],
  },
  {
    name: 'unless: guard succeeds',
    args: { cmd: 'x', unless: 'grep -q y /etc/z' },
    facts: [fact(commandSucceeds, { cmd: 'grep -q y /etc/z' }, true)],
    steps: [],
  },
  {
    name: 'unless: guard fails',
    args: { cmd: 'x', unless: ['test', '-f', '/a b'] },
    facts: [fact(commandSucceeds, { cmd: ['test', '-f', '/a b'] }, false)],
    steps: [run('run x', 'sh -c x')],
  },
  {
    name: 'chdir, string',
    args: { cmd: 'make install', chdir: "/opt/it's" },
    steps: [run('run make install', "sh -c 'cd -- '\\''/opt/it'\\''\\'\\'''\\''s'\\'' || exit\nmake install'")],
  },
  { name: 'chdir, argv', args: { cmd: ['ls', '-l'], chdir: '/opt' }, steps: [run('run ls -l', "sh -c 'cd -- /opt || exit\nexec ls -l'")] },
  { name: 'multi-line script: first line describes it', args: { cmd: 'set -e\nfoo' }, steps: [run('run set -e', "sh -c 'set -e\nfoo'")] },
];

describe('command', () => {
  it.each(cases)('$name', async (c) => {
    expect((await planOf(commandOp, c.args, { facts: c.facts })).plan.steps).toEqual(c.steps);
  });

  it('chdir survives the shell: the quoted script really cds', async () => {
    const { execFileSync } = await import('node:child_process');
    const { mkdtempSync, mkdirSync } = await import('node:fs');
    const dir = `${mkdtempSync('/tmp/cmd-')}/it's $(x)`;
    mkdirSync(dir);
    const { plan } = await planOf(commandOp, { cmd: 'pwd', chdir: dir });
    expect(execFileSync('sh', ['-c', (plan.steps[0] as { command: string }).command], { encoding: 'utf8' })).toBe(`${dir}\n`);
  });

  it('notes a guard evaluated before earlier steps (--check)', async () => {
    const { notes } = await planOf(
      commandOp,
      { cmd: 'x', unless: 'y' },
      { facts: [fact(commandSucceeds, { cmd: 'y' }, false)], unknowable: [[commandSucceeds, { cmd: 'y' }]] },
    );
    expect(notes).toEqual(['the unless guard was evaluated before earlier steps ran']);
  });

  it.each([[{ cmd: 3 }], [{ cmd: [] }], [{ cmd: 'x', unless: [1] }]])('rejects %j', async (args) => {
    await expect(planOf(commandOp, args as unknown as CommandArgs)).rejects.toThrow(/string or a list of strings/);
  });
});
