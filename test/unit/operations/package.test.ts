import { describe, expect, it } from 'vitest';
import { packageUpdate, rpmPackage } from '../../../src/facts/rpm.js';
import { packageOp, type PackageArgs } from '../../../src/operations/package.js';
import type { Step } from '../../../src/plan/types.js';
import { fact, planOf, type FactFixture } from './helpers.js';

const NONE = { installed: false, versions: [] };
const rpm = (name: string, ...versions: string[]) => fact(rpmPackage, { name }, versions.length ? { installed: true, versions } : NONE);
const yum = (description: string, command: string, state: 'present' | 'absent', name = 'etcd', version?: string): Step => ({
  kind: 'command',
  description,
  command,
  effects: [{ kind: 'package', name, state, ...(version ? { version } : {}) }],
});

const cases: { name: string; args: PackageArgs; facts: FactFixture[]; steps: Step[] }[] = [
  { name: 'install', args: { name: 'etcd' }, facts: [rpm('etcd')], steps: [yum('install etcd', 'yum install -y -- etcd', 'present')] },
  { name: 'installed: no change', args: { name: 'etcd' }, facts: [rpm('etcd', '3.4.23-1.el8')], steps: [] },
  {
    name: 'remove',
    args: { name: 'etcd', state: 'absent' },
    facts: [rpm('etcd', '3.4.23-1.el8')],
    steps: [yum('remove etcd', 'yum remove -y -- etcd', 'absent')],
  },
  { name: 'absent: no change', args: { name: 'etcd', state: 'absent' }, facts: [rpm('etcd')], steps: [] },
  {
    name: 'pinned install',
    args: { name: 'etcd', version: '3.4.23' },
    facts: [rpm('etcd')],
    steps: [yum('install etcd-3.4.23', 'yum install -y -- etcd-3.4.23', 'present', 'etcd', '3.4.23')],
  },
  { name: 'pinned: version matches', args: { name: 'etcd', version: '3.4.23' }, facts: [rpm('etcd', '3.4.23-1.el8')], steps: [] },
  { name: 'pinned: version-release matches', args: { name: 'etcd', version: '3.4.23-1.el8' }, facts: [rpm('etcd', '3.4.23-1.el8')], steps: [] },
  {
    name: 'pinned: upgrade',
    args: { name: 'etcd', version: '3.4.23' },
    facts: [rpm('etcd', '3.4.9-2.el8')],
    steps: [yum('upgrade etcd to 3.4.23', 'yum install -y -- etcd-3.4.23', 'present', 'etcd', '3.4.23')],
  },
  {
    name: 'pinned: downgrade',
    args: { name: 'etcd', version: '3.3.11' },
    facts: [rpm('etcd', '3.4.23-1.el8')],
    steps: [yum('downgrade etcd to 3.3.11', 'yum downgrade -y -- etcd-3.3.11', 'present', 'etcd', '3.3.11')],
  },
  {
    name: 'pinned: predicted install, version unknown',
    args: { name: 'etcd', version: '3.4.23' },
    facts: [fact(rpmPackage, { name: 'etcd' }, { installed: true, versions: [] })],
    steps: [],
  },
  {
    name: 'latest: update available',
    args: { name: 'etcd', state: 'latest' },
    facts: [rpm('etcd', '3.4.23-1.el8'), fact(packageUpdate, { name: 'etcd' }, { available: true, version: '3.4.24-1.el8' })],
    steps: [yum('upgrade etcd to 3.4.24-1.el8', 'yum upgrade -y -- etcd', 'present', 'etcd', '3.4.24-1.el8')],
  },
  {
    name: 'latest: up to date',
    args: { name: 'etcd', state: 'latest' },
    facts: [rpm('etcd', '3.4.23-1.el8'), fact(packageUpdate, { name: 'etcd' }, { available: false })],
    steps: [],
  },
  {
    name: 'latest: not installed',
    args: { name: 'etcd', state: 'latest' },
    facts: [rpm('etcd')],
    steps: [yum('install etcd', 'yum install -y -- etcd', 'present')],
  },
  {
    name: 'hostile name is quoted',
    args: { name: "x'; reboot; '" },
    facts: [rpm("x'; reboot; '")],
    steps: [yum("install x'; reboot; '", "yum install -y -- 'x'\\''; reboot; '\\'''", 'present', "x'; reboot; '")],
  },
  {
    name: 'option-like name stays an operand',
    args: { name: '--setopt=x' },
    facts: [rpm('--setopt=x')],
    steps: [yum('install --setopt=x', 'yum install -y -- --setopt=x', 'present', '--setopt=x')],
  },
];

describe('package', () => {
  it.each(cases)('$name', async (c) => {
    expect((await planOf(packageOp, c.args, { facts: c.facts })).plan.steps).toEqual(c.steps);
  });

  it('rejects a version with state absent', async () => {
    await expect(planOf(packageOp, { name: 'etcd', version: '1', state: 'absent' }, { facts: [rpm('etcd')] })).rejects.toThrow(/version is only allowed/);
  });

  it('says when --check could not know', async () => {
    const { notes } = await planOf(packageOp, { name: 'etcd' }, { facts: [rpm('etcd')], unknowable: [[rpmPackage, { name: 'etcd' }]] });
    expect(notes).toEqual(['whether etcd is installed depends on an earlier step']);
  });
});
