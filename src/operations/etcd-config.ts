import { ProvisionError } from '../errors.js';
import { file, type FileFact } from '../facts/file.js';
import { pathExists } from '../facts/path.js';
import { clusterStateOf, ETCD_CONF, initialClusterOf, memberDataMarker, memberUrls, renderEtcdConf, withClusterState } from './etcd-conf.js';
import { clusterOf } from './etcd-cluster.js';
import { planJoin } from './etcd-join.js';
import { planFile } from './file-plan.js';
import { defineOperation, type ArgSpec } from './types.js';
import { factOf, withDefaults } from './util.js';
import { rpmPackage } from '../facts/rpm.js';
import { dnsSrvVersionProblem } from './dnsmasq-srv.js';

export interface EtcdConfigArgs {
  path?: string;
}

const args: Record<string, ArgSpec> = { path: { type: 'string', default: ETCD_CONF } };

export const etcdConfigOp = defineOperation<EtcdConfigArgs>({
  name: 'etcd_config',
  description: "Write this member's etcd.conf from the inventory's cluster",
  args,
  async plan(ctx, raw) {
    const { path } = withDefaults(args, raw);
    const { cluster, members } = clusterOf(ctx, 'etcd_config');
    // A member whose data dir holds raft state joins as "existing": a live cluster is never
    // re-bootstrapped. (No package creates member/, so --check needs no caveat here.)
    // A member without data that was in a cluster: lost data, or joining (src/operations/etcd-join.ts).
    // Both read at once: one round trip.
    const [hasData, current] = await Promise.all([ctx.fact(pathExists, { path: memberDataMarker(cluster, ctx.host.name) }), ctx.fact(file, { path: path! })]);
    const join = hasData
      ? undefined
      : await planJoin(ctx, cluster, members, ctx.host.name, current.exists && current.type === 'file' ? current.content : undefined);
    const conf = current.exists && current.type === 'file' ? current.content : undefined;
    const me = members.find((m) => m.name === ctx.host.name)!;
    // A member that joined by member add starts from the member list as it was then; once it
    // has data etcd reads ETCD_INITIAL_CLUSTER no more, so a member with data keeps the one it
    // started from (a member that joined later is no reason to rewrite the others' files).
    const initialCluster = join?.initialCluster ?? (hasData ? initialClusterOf(conf, ctx.host.name, memberUrls(cluster, me).peer) : undefined);
    let discovery: string | undefined;
    // A member that exists keeps the token it joined with: etcd ignores ETCD_DISCOVERY once
    // its data dir holds data, and a token is single use, so none is made or checked for it.
    const kept = (hasData || join?.state === 'existing') && cluster.bootstrap === 'discovery' ? discoveryOf(current) : undefined;
    if (kept) discovery = kept;
    else if (cluster.bootstrap === 'discovery' && initialCluster === undefined) {
      if (!ctx.runtime) throw new ProvisionError('PLAYBOOK', "etcd_config: bootstrap: discovery needs the run's discovery token (no runtime given)");
      const d = await ctx.runtime.discoveryUrl(cluster);
      if (d.provisional) ctx.note(d.provisional);
      // Every member registers when it first starts; a full token and a member without data
      // means the cluster was bootstrapped with it before and is being made again.
      if (d.full && !hasData)
        throw new ProvisionError(
          'COMMAND',
          `discovery token ${d.url} is used up: ${d.registered!.join(', ')} registered with it already, and ${ctx.host.name} has no data`,
          {
            hint: 'a token is single use. To bootstrap this cluster again from scratch, remove the recorded token (.provision-state/<cluster>.json beside the inventory) or give a new discovery.url; to replace one member of a running cluster, use etcdctl member add and bootstrap: static',
          },
        );
      discovery = d.url;
    }
    const content = renderEtcdConf(cluster, members, ctx.host.name, hasData || join?.state === 'existing' ? 'existing' : 'new', discovery, initialCluster);
    // DNS SRV without TLS and without a pinned version: the installed etcd must be 3.5 or later.
    if (cluster.bootstrap === 'dns' && !cluster.tls && cluster.package.version === undefined) {
      const { value: pkg, unknowable } = await factOf(ctx, rpmPackage, { name: cluster.package.name });
      const versions = pkg.installed && pkg.versions.length === 0 ? undefined : pkg.versions;
      const problem = dnsSrvVersionProblem(cluster, unknowable && !versions?.length ? undefined : versions);
      if (problem) throw new ProvisionError('INVENTORY', `cluster ${cluster.name}: ${problem}`);
      if (unknowable) ctx.note(`which etcd will be installed is not known yet; DNS SRV without TLS needs etcd 3.5 or later (etcd-io/etcd#11321)`);
    }
    return {
      steps: [
        ...(join?.steps ?? []),
        ...(await planFile(ctx, {
          path: path!,
          content,
          mode: 0o644,
          owner: 'root',
          group: 'root',
          // etcd ignores the state once its data dir exists: new -> existing needs no restart.
          noNotify: (before) => clusterStateOf(before) === 'new' && withClusterState(before, 'existing') === content,
        })),
        ...(join?.after ?? []),
      ],
    };
  },
});

/** The ETCD_DISCOVERY value of an etcd.conf, if it has one. */
function discoveryOf(f: FileFact): string | undefined {
  if (!f.exists || f.type !== 'file' || f.content === undefined) return undefined;
  return /^ETCD_DISCOVERY="([^"]+)"$/m.exec(f.content)?.[1];
}
