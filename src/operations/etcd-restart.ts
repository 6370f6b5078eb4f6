import { shellJoin } from '../connection/quote.js';
import { ProvisionError } from '../errors.js';
import { etcdHealth, type EtcdEndpointHealth, type EtcdQuery } from '../facts/etcd.js';
import { pathExists } from '../facts/path.js';
import { probeFact } from '../facts/run.js';
import { systemdUnit } from '../facts/systemd.js';
import type { CommandStep } from '../plan/types.js';
import { ETCD_UNIT, etcdctlTls, memberDataMarker, memberUrls } from './etcd-conf.js';
import { clusterOf, sickAfterRun, unlessPeerLost } from './etcd-cluster.js';
import { memberSnapshotStep, SNAPSHOT_DIR } from './member-snapshot.js';
import { pollUntil } from '../util/poll.js';
import { defineOperation, type ArgSpec, type VerifyResult } from './types.js';
import { daemonReloadStep, withDefaults } from './util.js';

export interface EtcdRestartArgs {
  timeout?: number;
  snapshot_dir?: string;
}

const args: Record<string, ArgSpec> = {
  timeout: { type: 'number', default: 90, description: 'seconds to wait for the cluster to be healthy again' },
  snapshot_dir: {
    type: 'string',
    default: SNAPSHOT_DIR,
    description: 'where the snapshot taken before restarting a live member goes (the last cluster.backup.keep are kept)',
  },
};

/**
 * Restarts etcd on a member without putting the cluster at risk. On a live cluster (this
 * member has data and every member is healthy) it saves a snapshot first, restarts, and waits
 * until every member is healthy again; with `throttle: 1` on the task, members restart one
 * at a time, so quorum is never lost. It refuses to restart a member of a live cluster while
 * another member is unhealthy. Before the cluster exists (first bootstrap) it just restarts.
 */
export const etcdRestartOp = defineOperation<EtcdRestartArgs>({
  name: 'etcd_restart',
  description: 'Restart etcd on a member safely: snapshot, restart, wait until the cluster is healthy',
  args,
  restartsUnit: () => ETCD_UNIT,
  async plan(ctx, raw) {
    const a = withDefaults(args, raw);
    const { cluster, members } = clusterOf(ctx, 'etcd_restart');
    const self = ctx.host.name;
    const tls = etcdctlTls(cluster, self);
    const urls = new Map(members.map((m) => [m.name, memberUrls(cluster, m).client]));
    const all: EtcdQuery = { endpoints: members.map((m) => urls.get(m.name)!), tls };
    /** Names of the members whose endpoint is not healthy. */
    const sickOf = (health: EtcdEndpointHealth[]) =>
      members.filter((m) => health.find((h) => h.endpoint === urls.get(m.name))?.healthy !== true).map((m) => m.name);
    const steps: CommandStep[] = [];
    const unit = await ctx.fact(systemdUnit, { name: 'etcd' }); // as the service task asks: one probe
    if (unit.needDaemonReload) steps.push(daemonReloadStep());

    const hasData = await ctx.fact(pathExists, { path: memberDataMarker(cluster, self) });
    let live = false;
    if (hasData) {
      // Decided from the state the run will have made: a member this run starts is waited for.
      const sick = await sickAfterRun(
        ctx,
        cluster,
        sickOf(await ctx.fact(etcdHealth, all)),
        async () => sickOf(await ctx.probe!(etcdHealth, all)),
        a.timeout! * 1000,
      );
      const others = sick.filter((n) => n !== self);
      if (others.length > 0 && sick.length < members.length)
        throw new ProvisionError(
          'COMMAND',
          `etcd_restart: not restarting ${self}: ${others.join(', ')} ${others.length > 1 ? 'are' : 'is'} unhealthy, and one more member down could lose quorum`,
          {
            hint: `bring ${others.join(', ')} back first (systemctl status etcd; journalctl -u etcd), then run again`,
          },
        );
      live = sick.length === 0;
    }
    if (live) steps.push(memberSnapshotStep(cluster, self, { endpoints: [urls.get(self)!], tls }, a.snapshot_dir!));
    // A live member's restart blocks until etcd is back in the cluster (Type=notify); before
    // the cluster exists it would block until quorum, so it is only queued.
    steps.push({
      kind: 'command',
      description: live ? 'restart etcd (one member at a time)' : 'restart etcd',
      command: shellJoin(['systemctl', 'restart', ...(live ? [] : ['--no-block']), '--', ETCD_UNIT]),
      effects: [{ kind: 'service', name: ETCD_UNIT, active: true }],
      ...(live ? { timeoutMs: a.timeout! * 1000 } : {}),
    });
    if (!live) return { steps };
    return {
      steps,
      verify: (conn) =>
        unlessPeerLost(ctx, cluster, async (signal): Promise<VerifyResult> => {
          const timeoutMs = ctx.check ? 0 : a.timeout! * 1000;
          const { value: sick, done } = await pollUntil(
            async () => sickOf(await probeFact(conn, etcdHealth, all)),
            (s) => s.length === 0,
            { timeoutMs, intervalMs: 500, signal },
          );
          if (done) return { ok: true, message: `etcd restarted on ${self}; all ${members.length} members healthy` };
          return { ok: false, message: `after restarting etcd on ${self}, ${sick.join(', ')} not healthy within ${a.timeout}s` };
        }),
    };
  },
});
