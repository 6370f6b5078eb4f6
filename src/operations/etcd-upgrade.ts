import { shellJoin } from '../connection/quote.js';
import { ProvisionError } from '../errors.js';
import { etcdClusterVersion, etcdHealth, etcdVersions, type EtcdQuery } from '../facts/etcd.js';
import { pathExists } from '../facts/path.js';
import { probeFact } from '../facts/run.js';
import { rpmPackage } from '../facts/rpm.js';
import type { CommandStep } from '../plan/types.js';
import { pollUntil } from '../util/poll.js';
import { clusterOf, unlessPeerLost } from './etcd-cluster.js';
import { ETCD_UNIT, etcdctlTls, memberDataMarker, memberUrls } from './etcd-conf.js';
import { memberSnapshotStep, SNAPSHOT_DIR } from './member-snapshot.js';
import { cmpWanted, rpmvercmp } from './rpmvercmp.js';
import { defineOperation, type ArgSpec, type VerifyResult } from './types.js';
import { daemonReloadStep, withDefaults } from './util.js';

export interface EtcdUpgradeArgs {
  version?: string;
  timeout?: number;
  snapshot_dir?: string;
}

const args: Record<string, ArgSpec> = {
  version: { type: 'string', description: "the etcd package version wanted (cluster.package.version); '' or absent: nothing to do" },
  timeout: { type: 'number', default: 90, description: 'seconds to wait for an upgraded member to be healthy on its new version' },
  snapshot_dir: { type: 'string', default: SNAPSHOT_DIR, description: 'where the snapshot taken before upgrading a member goes' },
};

/** "3.5.16" or "3.5.16-1.lab" -> [3, 5]; undefined when it does not start with major.minor. */
export function minorOf(version: string): [number, number] | undefined {
  const m = /^(?:\d+:)?(\d+)\.(\d+)/.exec(version);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

const minorText = (m: [number, number]) => `${m[0]}.${m[1]}`;

/**
 * Whether going from `from` (a running or installed version) to `to` is an upgrade etcd
 * supports: the same minor (any patch), or the next minor. undefined when it is, else why not.
 */
export function versionStepProblem(from: string, to: string): { kind: 'skip' | 'downgrade' | 'unknown'; message: string } | undefined {
  const a = minorOf(from);
  const b = minorOf(to);
  if (!a || !b) return { kind: 'unknown', message: `cannot tell the minor version of ${!a ? from : to}` };
  if (a[0] === b[0] && a[1] === b[1]) return undefined;
  if (b[0] < a[0] || (b[0] === a[0] && b[1] < a[1]))
    return { kind: 'downgrade', message: `${to} would downgrade across a minor version (${minorText(a)} to ${minorText(b)})` };
  if (b[0] === a[0] && b[1] === a[1] + 1) return undefined;
  return { kind: 'skip', message: `${to} would skip a minor version (${minorText(a)} to ${minorText(b)})` };
}

/** The upstream part of a version-release ("3.5.16-1.lab" -> "3.5.16"), as etcd reports its own. */
const upstream = (v: string): string => v.replace(/^\d+:/, '').split('-')[0]!;

/**
 * Upgrades etcd on a member of a live cluster to the pinned package version: a snapshot, the
 * package, a restart, then a wait until every member is healthy and this one reports the new
 * version. Run with `throttle: 1`, members go one at a time, each planned when the one before
 * is back. It refuses, before changing anything, while any member is unhealthy, or when a
 * member would skip a minor version or go down across one (etcd supports neither). Members
 * without data (not yet part of a cluster) are left to the package task.
 */
export const etcdUpgradeOp = defineOperation<EtcdUpgradeArgs>({
  name: 'etcd_upgrade',
  description: 'Upgrade etcd on a live member to the pinned version: snapshot, upgrade the package, restart, wait',
  args,
  restartsUnit: () => ETCD_UNIT,
  async plan(ctx, raw) {
    const a = withDefaults(args, raw);
    const wanted = (a.version ?? '').trim();
    if (!wanted) return { steps: [] };
    const { cluster, members } = clusterOf(ctx, 'etcd_upgrade');
    const self = ctx.host.name;
    const name = cluster.package.name;
    const pkg = await ctx.fact(rpmPackage, { name });
    // Not installed, or installed without a known version (--check after a predicted install): the package task's.
    const installed = pkg.versions[0];
    if (!pkg.installed || installed === undefined || pkg.versions.some((v) => cmpWanted(wanted, v) === 0)) return { steps: [] };
    if (!(await ctx.fact(pathExists, { path: memberDataMarker(cluster, self) }))) {
      ctx.note(`${self} has no etcd data yet: the package task installs ${name} ${wanted}`);
      return { steps: [] };
    }

    const tls = etcdctlTls(cluster, self);
    const urls = new Map(members.map((m) => [m.name, memberUrls(cluster, m).client]));
    const all: EtcdQuery = { endpoints: members.map((m) => urls.get(m.name)!), tls };
    const health = await ctx.fact(etcdHealth, all);
    const sick = members.filter((m) => health.find((h) => h.endpoint === urls.get(m.name))?.healthy !== true).map((m) => m.name);
    if (sick.length > 0)
      throw new ProvisionError(
        'COMMAND',
        `etcd_upgrade: not upgrading ${self} to ${wanted}: ${sick.join(', ')} ${sick.length > 1 ? 'are' : 'is'} unhealthy, and an upgrade restarts members one at a time`,
        {
          hint: `bring ${sick.join(', ')} back first (systemctl status etcd; journalctl -u etcd; provision status), or run once without the version change to start it, then run again`,
        },
      );
    // Every member's running version, then this member's installed one: each must step to `wanted` as etcd allows.
    const versions = await ctx.fact(etcdVersions, all);
    const running = members.map((m) => ({ name: m.name, version: versions.find((v) => v.endpoint === urls.get(m.name))?.version }));
    for (const m of [...running.filter((r) => r.version !== undefined), { name: `${self} (installed)`, version: installed }]) {
      const problem = versionStepProblem(m.version!, wanted);
      if (!problem) continue;
      const hint =
        problem.kind === 'skip'
          ? `upgrade one minor version at a time: pin the latest ${minorText(minorOf(m.version!)!.map((x, i) => (i === 1 ? x + 1 : x)) as [number, number])}.x first, run, then pin ${wanted}`
          : problem.kind === 'downgrade'
            ? `etcd cannot run data of a newer minor version: pin a ${minorText(minorOf(m.version!)!)}.x version, or restore a snapshot taken before the upgrade (provision restore)`
            : 'pin a version of the form MAJOR.MINOR.PATCH';
      throw new ProvisionError('COMMAND', `etcd_upgrade: not changing etcd on ${self}: ${m.name} runs ${m.version}; ${problem.message}`, { hint });
    }

    const q: EtcdQuery = { endpoints: [urls.get(self)!], tls };
    const spec = `${name}-${wanted}`;
    const newer = pkg.versions.every((v) => cmpWanted(wanted, v) > 0);
    const verb = newer ? 'upgrade' : 'downgrade';
    const steps: CommandStep[] = [
      memberSnapshotStep(cluster, self, q, a.snapshot_dir!),
      {
        kind: 'command',
        description: `${verb} ${name} ${installed} to ${wanted} (one member at a time)`,
        command: shellJoin(['yum', newer ? 'install' : 'downgrade', '-y', '--', spec]),
        effects: [{ kind: 'package', name, state: 'present', version: wanted }],
        timeoutMs: 600_000,
      },
      // The package may bring a changed unit file.
      daemonReloadStep(),
      {
        kind: 'command',
        description: `restart etcd on ${self} with ${wanted}`,
        command: shellJoin(['systemctl', 'restart', '--', ETCD_UNIT]),
        effects: [{ kind: 'service', name: ETCD_UNIT, active: true }],
        timeoutMs: a.timeout! * 1000,
      },
    ];
    const target = upstream(wanted);
    const others = running.filter((r) => r.name !== self);
    // The last member to move: the cluster version follows once the leader sees every member on the new minor.
    const last = others.every((r) => r.version !== undefined && rpmvercmp(upstream(r.version), target) === 0);
    const wantedMinor = minorText(minorOf(target)!);
    return {
      steps,
      verify: (conn) =>
        unlessPeerLost(ctx, cluster, async (signal): Promise<VerifyResult> => {
          const timeoutMs = ctx.check ? 0 : a.timeout! * 1000;
          const read = async () => {
            const h = await probeFact(conn, etcdHealth, all);
            const bad = members.filter((m) => h.find((x) => x.endpoint === urls.get(m.name))?.healthy !== true).map((m) => m.name);
            const mine = (await probeFact(conn, etcdVersions, q))[0]?.version;
            const clusterVersion = last ? (await probeFact(conn, etcdClusterVersion, { endpoint: urls.get(self)!, tls })).cluster : undefined;
            return { bad, mine, clusterVersion };
          };
          const clusterOk = (cv?: string) => !last || (cv !== undefined && minorOf(cv) !== undefined && minorText(minorOf(cv)!) === wantedMinor);
          const { value, done } = await pollUntil(read, (s) => s.bad.length === 0 && s.mine === target && clusterOk(s.clusterVersion), {
            timeoutMs,
            intervalMs: 500,
            signal,
          });
          const all3 = `all ${members.length} members healthy`;
          if (done) return { ok: true, message: `etcd on ${self} upgraded to ${target}; ${all3}${last ? `; cluster version ${value.clusterVersion}` : ''}` };
          const why =
            value.bad.length > 0
              ? `${value.bad.join(', ')} not healthy`
              : value.mine !== target
                ? `${self} reports version ${value.mine ?? 'none'}`
                : `the cluster version is still ${value.clusterVersion ?? 'unknown'}`;
          return {
            ok: false,
            message: `after upgrading etcd on ${self} to ${target}: ${why} within ${a.timeout}s (the snapshot taken before is in ${a.snapshot_dir})`,
          };
        }),
    };
  },
});
