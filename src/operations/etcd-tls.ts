import { ProvisionError } from '../errors.js';
import type { Step } from '../plan/types.js';
import { etcdTlsPaths } from './etcd-conf.js';
import { clusterOf } from './etcd-cluster.js';
import { planFile } from './file-plan.js';
import { defineOperation } from './types.js';

/**
 * Copies the member's certificates, made on the controller in cluster.tls.dir, to
 * /etc/etcd/pki: the CA, the member's certificate and key (the key 0600, owned by etcd,
 * which reads it), and the client certificate that verification uses (key 0600, root).
 * Keys are secret steps: a diff says that a key changed, never what it is.
 */
export const etcdTlsOp = defineOperation<Record<string, never>>({
  name: 'etcd_tls',
  description: "Copy the cluster's CA and this member's certificates from the controller",
  args: {},
  async plan(ctx) {
    const { cluster } = clusterOf(ctx, 'etcd_tls');
    const paths = etcdTlsPaths(cluster, ctx.host.name);
    if (!paths) {
      ctx.note(`cluster ${cluster.name} does not use TLS`);
      return { steps: [] };
    }
    if (!ctx.runtime) throw new ProvisionError('PLAYBOOK', 'etcd_tls: no certificates given to this run');
    const { certs, provisional } = await ctx.runtime.certs(cluster);
    if (provisional) ctx.note(provisional);
    const mine = certs.members[ctx.host.name]!;
    const files = [
      { path: paths.ca, content: certs.ca.cert, mode: 0o644, owner: 'root', group: 'root' },
      { path: paths.cert, content: mine.cert, mode: 0o644, owner: 'root', group: 'root' },
      { path: paths.key, content: mine.key, mode: 0o600, owner: 'etcd', group: 'etcd', secret: true },
      { path: paths.clientCert, content: certs.client.cert, mode: 0o644, owner: 'root', group: 'root' },
      { path: paths.clientKey, content: certs.client.key, mode: 0o600, owner: 'root', group: 'root', secret: true },
    ];
    const steps: Step[] = [];
    for (const f of files) steps.push(...(await planFile(ctx, f)));
    return { steps };
  },
});
