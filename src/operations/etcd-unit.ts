import { dirname } from 'node:path';
import { shellJoin } from '../connection/quote.js';
import { pathExists } from '../facts/path.js';
import { file as fileFact } from '../facts/file.js';
import type { Step } from '../plan/types.js';
import { planFile } from './file-plan.js';
import { defineOperation } from './types.js';
import { daemonReloadStep } from './util.js';

export const ETCD_DROPIN = '/etc/systemd/system/etcd.service.d/10-provision.conf';

export const ETCD_DROPIN_CONTENT = `# Managed by provision; local changes are overwritten.
# The stock unit passes --name, --data-dir and --listen-client-urls while etcd.conf sets the
# same ETCD_* variables; etcd 3.4 refuses such shadowed settings (etcd-io/etcd#11111), so
# etcd runs without flags and reads everything from /etc/etcd/etcd.conf.
[Service]
ExecStart=
ExecStart=/usr/bin/etcd
`;

export const etcdUnitOp = defineOperation<Record<string, never>>({
  name: 'etcd_unit',
  description: 'Install the systemd drop-in that runs etcd with its settings from etcd.conf only',
  args: {},
  async plan(ctx) {
    const dir = dirname(ETCD_DROPIN);
    const steps: Step[] = [];
    // Both facts at once (one round trip): planFile below reads the drop-in from the cache.
    const [dirExists] = await Promise.all([ctx.fact(pathExists, { path: dir }), ctx.fact(fileFact, { path: ETCD_DROPIN })]);
    if (!dirExists)
      steps.push({
        kind: 'command',
        description: `create directory ${dir}`,
        command: shellJoin(['mkdir', '-p', '-m', '0755', '--', dir]),
        effects: [{ kind: 'path', path: dir, state: 'present', type: 'directory', mode: 0o755, owner: 'root', group: 'root' }],
      });
    const file = await planFile(ctx, { path: ETCD_DROPIN, content: ETCD_DROPIN_CONTENT, mode: 0o644, owner: 'root', group: 'root' });
    steps.push(...file);
    if (file.some((s) => s.kind === 'file')) steps.push(daemonReloadStep());
    return { steps };
  },
});
