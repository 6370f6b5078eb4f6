import { describe, expect, it } from 'vitest';
import { describeStep, renderStepDiff } from '../../src/plan/diff.js';
import type { FileStep, Step } from '../../src/plan/types.js';

const f = (before: string | null | undefined, after: string, extra: Partial<FileStep> = {}): Step => ({
  kind: 'file',
  description: 'write /etc/etcd/etcd.conf',
  path: '/etc/etcd/etcd.conf',
  before,
  after,
  mode: 0o644,
  owner: 'root',
  group: 'root',
  ...extra,
});

describe('renderStepDiff', () => {
  it.each<[string, Step, string]>([
    ['command', { kind: 'command', description: 'install etcd', command: 'yum install -y -- etcd' }, '$ yum install -y -- etcd'],
    ['changed file', f('A="1"\nB="2"\n', 'A="1"\nB="3"\n'), '--- a/etc/etcd/etcd.conf\n+++ b/etc/etcd/etcd.conf\n@@ -1,2 +1,2 @@\n A="1"\n-B="2"\n+B="3"\n'],
    ['new file', f(null, 'x\n'), '--- /dev/null\n+++ b/etc/etcd/etcd.conf\n@@ -0,0 +1,1 @@\n+x\n'],
    [
      'content not known yet',
      f(undefined, 'x\n'),
      '--- a/etc/etcd/etcd.conf\t(current content not known yet: depends on an earlier step)\n+++ b/etc/etcd/etcd.conf\n@@ -0,0 +1,1 @@\n+x\n',
    ],
    ['secret', f('k1', 'k2', { secret: true }), '(secret content of /etc/etcd/etcd.conf changed; not shown)'],
    ['same content', f('x', 'x'), '(content of /etc/etcd/etcd.conf unchanged)'],
  ])('%s', (_n, step, want) => expect(renderStepDiff(step)).toBe(want));
});

describe('describeStep', () => {
  it.each<[Step, string]>([
    [{ kind: 'command', description: 'start etcd.service', command: 'systemctl start -- etcd.service' }, 'start etcd.service'],
    [f(null, 'x'), 'write /etc/etcd/etcd.conf (0644 root:root)'],
    [f('a', 'b', { backup: true, noNotify: true, mode: 0o600, owner: 'etcd' }), 'write /etc/etcd/etcd.conf (0600 etcd:root, backup, no restart needed)'],
  ])('%j', (step, want) => expect(describeStep(step)).toBe(want));
});
