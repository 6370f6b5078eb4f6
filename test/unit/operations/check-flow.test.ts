/**
 * The --check contract end to end, with a minimal stand-in for the executor: facts are
 * probed from a fixed host state, then predicted from the steps planned before them.
 */
import { describe, expect, it } from 'vitest';
import { etcdMembers } from '../../../src/facts/etcd.js';
import { file, sha256, type FileFact } from '../../../src/facts/file.js';
import { pathExists } from '../../../src/facts/path.js';
import { factKey, predictFact } from '../../../src/facts/run.js';
import { rpmPackage } from '../../../src/facts/rpm.js';
import { systemdUnit } from '../../../src/facts/systemd.js';
import type { FactDef } from '../../../src/facts/types.js';
import { renderEtcdConf } from '../../../src/operations/etcd-conf.js';
import { ETCD_DROPIN, ETCD_DROPIN_CONTENT } from '../../../src/operations/etcd-unit.js';
import { operations } from '../../../src/operations/index.js';
import type { Step } from '../../../src/plan/types.js';
import { describeStep } from '../../../src/plan/diff.js';
import { ADDR, CLUSTER, fact, fakeCtx, type FactFixture } from './helpers.js';

const PLAY: [string, Record<string, unknown>][] = [
  ['package', { name: 'etcd' }],
  ['etcd_unit', {}],
  ['etcd_config', {}],
  ['service', { name: 'etcd', state: 'started', enabled: true, no_block: true }],
  ['etcd_verify', {}],
];

async function checkRun(probes: FactFixture[]): Promise<{ steps: string[]; notes: string[]; predicted: Step[] }> {
  const probed = new Map(probes.map(([d, a, v]) => [factKey(d, a), v]));
  const predicted: Step[] = [];
  const notes: string[] = [];
  for (const [name, args] of PLAY) {
    const { ctx, notes: n } = fakeCtx({ check: true });
    const unknown = new Set<string>();
    ctx.fact = async <T, A>(def: FactDef<T, A>, a: A) => {
      if (!probed.has(factKey(def, a))) throw new Error(`no probe for ${factKey(def, a)}`);
      const p = predictFact(def, a, predicted, probed.get(factKey(def, a)) as T);
      if (p.unknowable) unknown.add(factKey(def, a));
      return p.value;
    };
    ctx.unknowable = (def, a) => unknown.has(factKey(def, a));
    const plan = await operations.get(name)!.plan(ctx, args);
    predicted.push(...plan.steps);
    notes.push(...n);
  }
  return { steps: predicted.map(describeStep), notes, predicted };
}

const CONF = '/etc/etcd/etcd.conf';
const DIR = '/etc/systemd/system/etcd.service.d';
const MEMBER = '/var/lib/etcd/etcd0.etcd/member';
const members = CLUSTER.members.map((name) => ({ name, address: ADDR[name]! }));
const has = (content: string): FileFact => ({
  exists: true,
  type: 'file',
  mode: 0o644,
  owner: 'root',
  group: 'root',
  size: content.length,
  sha256: sha256(content),
  content,
});
const unit = (loadState: string, activeState: string, unitFileState: string) => ({
  unit: 'etcd.service',
  loadState,
  activeState,
  subState: '',
  unitFileState,
  fragmentPath: '',
  dropInPaths: [],
  needDaemonReload: false,
});

describe('--check on a fresh host predicts the real run', () => {
  const fresh = [
    fact(rpmPackage, { name: 'etcd' }, { installed: false, versions: [] }),
    fact(pathExists, { path: DIR }, false),
    fact(file, { path: ETCD_DROPIN }, { exists: false }),
    fact(pathExists, { path: MEMBER }, false),
    fact(file, { path: CONF }, { exists: false }),
    fact(systemdUnit, { name: 'etcd' }, unit('not-found', 'inactive', '')),
    // Is there a live cluster to join? Not yet (and etcdctl is not installed yet either).
    fact(
      etcdMembers,
      { endpoints: ['http://10.88.0.11:2379', 'http://10.88.0.12:2379'], dialTimeout: '1s' },
      { ok: false, error: 'env: etcdctl: No such file or directory' },
    ),
  ];

  it('every change, including the conf rewrite that verification makes', async () => {
    const r = await checkRun(fresh);
    expect(r.steps).toEqual([
      'install etcd',
      `create directory ${DIR}`,
      `write ${ETCD_DROPIN} (0644 root:root)`,
      'systemctl daemon-reload',
      `write ${CONF} (0644 root:root)`,
      'enable etcd.service',
      'start etcd.service',
      `set ETCD_INITIAL_CLUSTER_STATE="existing" in ${CONF} (0644 root:root, no restart needed)`,
    ]);
    // Conservative: a package may create any absent path, so absent files become "not known".
    expect(r.notes).toEqual([
      `current content of ${ETCD_DROPIN} depends on an earlier step`,
      `current content of ${CONF} depends on an earlier step`,
      'etcd.service does not exist yet; an earlier step is predicted to install it',
    ]);
    // The stock etcd.conf the package will bring is not known: shown as such, not as a new file.
    expect(r.predicted.find((s) => s.kind === 'file' && s.path === CONF)).toMatchObject({ before: undefined });
  });

  it('a converged host: zero changes', async () => {
    const r = await checkRun([
      fact(rpmPackage, { name: 'etcd' }, { installed: true, versions: ['3.4.23-1.el8'] }),
      fact(pathExists, { path: DIR }, true),
      fact(file, { path: ETCD_DROPIN }, has(ETCD_DROPIN_CONTENT)),
      fact(pathExists, { path: MEMBER }, true),
      fact(file, { path: CONF }, has(renderEtcdConf(CLUSTER, members, 'etcd0', 'existing'))),
      fact(systemdUnit, { name: 'etcd' }, unit('loaded', 'active', 'enabled')),
    ]);
    expect(r.steps).toEqual([]);
    expect(r.notes).toEqual([]);
  });
});
