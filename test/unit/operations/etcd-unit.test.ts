import { describe, expect, it } from 'vitest';
import { file, sha256, type FileFact } from '../../../src/facts/file.js';
import { pathExists } from '../../../src/facts/path.js';
import { ETCD_DROPIN, ETCD_DROPIN_CONTENT, etcdUnitOp } from '../../../src/operations/etcd-unit.js';
import type { Step } from '../../../src/plan/types.js';
import { fact, planOf, type Fixture } from './helpers.js';

const DIR = '/etc/systemd/system/etcd.service.d';
const has = (content: string, mode = 0o644): FileFact => ({
  exists: true,
  type: 'file',
  mode,
  owner: 'root',
  group: 'root',
  size: content.length,
  sha256: sha256(content),
  content,
});
const fx = (dir: boolean, f: FileFact): Fixture => ({ facts: [fact(pathExists, { path: DIR }, dir), fact(file, { path: ETCD_DROPIN }, f)] });
const MKDIR: Step = {
  kind: 'command',
  description: `create directory ${DIR}`,
  command: `mkdir -p -m 0755 -- ${DIR}`,
  effects: [{ kind: 'path', path: DIR, state: 'present', type: 'directory', mode: 0o755, owner: 'root', group: 'root' }],
};
const write = (before: string | null): Step => ({
  kind: 'file',
  description: `write ${ETCD_DROPIN}`,
  path: ETCD_DROPIN,
  before,
  after: ETCD_DROPIN_CONTENT,
  mode: 0o644,
  owner: 'root',
  group: 'root',
});
const RELOAD: Step = { kind: 'command', description: 'systemctl daemon-reload', command: 'systemctl daemon-reload', effects: [{ kind: 'daemon-reload' }] };

describe('etcd_unit', () => {
  it.each<[string, Fixture, Step[]]>([
    ['first run: directory, drop-in, reload', fx(false, { exists: false }), [MKDIR, write(null), RELOAD]],
    ['unchanged', fx(true, has(ETCD_DROPIN_CONTENT)), []],
    ['edited by hand', fx(true, has('[Service]\nExecStart=/bin/false\n')), [write('[Service]\nExecStart=/bin/false\n'), RELOAD]],
    [
      'mode only: no reload',
      fx(true, has(ETCD_DROPIN_CONTENT, 0o664)),
      [
        {
          kind: 'command',
          description: `set 0644 root:root on ${ETCD_DROPIN}`,
          command: `chmod 0644 -- ${ETCD_DROPIN}`,
          effects: [{ kind: 'path', path: ETCD_DROPIN, state: 'present', mode: 0o644, owner: 'root', group: 'root' }],
        },
      ],
    ],
  ])('%s', async (_n, f, steps) => {
    expect((await planOf(etcdUnitOp, {}, f)).plan.steps).toEqual(steps);
  });

  it('clears the stock ExecStart and runs etcd without flags', () => {
    expect(ETCD_DROPIN_CONTENT).toMatch(/^\[Service\]\nExecStart=\nExecStart=\/usr\/bin\/etcd\n$/m);
  });
});
