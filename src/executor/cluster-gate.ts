/**
 * Keeps a new etcd cluster from being bootstrapped with a member missing.
 *
 * Hosts run independently, so without this the reachable members of a cluster that is being
 * created would start etcd while another member is unreachable or has failed: with a quorum
 * they form the cluster without it, without one they wait forever. Instead, every member of
 * the cluster that reaches the task starting etcd.service waits here until each member of the
 * cluster has either reached it too or is known to be missing (unreachable, failed,
 * interrupted, or not in the run). Then one decision holds for all of them:
 *
 * - nobody missing: go;
 * - some member that arrived has data (the cluster exists): go, the missing ones rejoin later;
 * - otherwise the cluster is being bootstrapped with a member missing: hold (each member that
 *   arrived fails with the reason), unless the user asked for it (--allow-partial).
 *
 * The gate also tells a member verifying the cluster when another member was lost in this
 * run, so that it does not wait out its whole timeout for a member that will not come.
 */
import type { ClusterSpec } from '../inventory/types.js';

export type GateDecision =
  | { go: true; warning?: string }
  | { go: false; message: string; hint: string };

export class ClusterGate {
  /** Host -> whether its data directory held data when it arrived. */
  private readonly arrived = new Map<string, boolean>();
  /** Host -> why it is missing (never arrives, or was lost after arriving). */
  private readonly missing = new Map<string, string>();
  private readonly wakeups = new Set<() => void>();
  private decision?: GateDecision;
  private warned = false;

  constructor(
    readonly cluster: ClusterSpec,
    /** Members that are hosts of this play (and not lost before it). */
    private readonly participants: readonly string[],
    /** Members that are not, and why. */
    absent: ReadonlyMap<string, string>,
    private readonly allowPartial: boolean,
  ) {
    for (const [h, why] of absent) this.missing.set(h, why);
  }

  covers(host: string): boolean {
    return this.cluster.members.includes(host);
  }

  /** A member reached the start of etcd; resolves once the decision is made. */
  arrive(host: string, hasData: boolean): Promise<GateDecision> {
    if (!this.arrived.has(host) && !this.missing.has(host)) {
      this.arrived.set(host, hasData);
      this.changed();
    }
    return new Promise((resolve) => {
      const check = () => {
        if (!this.decision) return false;
        this.wakeups.delete(check);
        resolve(this.decision);
        return true;
      };
      if (!check()) this.wakeups.add(check);
    });
  }

  /** Says once, for the first member that asks, that the cluster is started partially. */
  takeWarning(d: GateDecision): string | undefined {
    if (!d.go || !d.warning || this.warned) return undefined;
    this.warned = true;
    return d.warning;
  }

  /** A member is lost to this run (unreachable, failed, interrupted); `why` names it. */
  lost(host: string, why: string): void {
    if (this.missing.has(host)) return;
    this.missing.set(host, why);
    this.changed();
  }

  /** A member finished the play; if it never reached the start of etcd it counts as missing. */
  finished(host: string): void {
    if (!this.arrived.has(host) && !this.missing.has(host)) {
      this.missing.set(host, `${host} did not start etcd in this play`);
      this.changed();
    }
  }

  /** Resolves with the reason as soon as a member other than `host` is lost to this run. */
  memberLost(host: string, signal: AbortSignal): Promise<string> {
    return new Promise((resolve) => {
      const check = () => {
        const other = [...this.missing].find(([h]) => h !== host && this.cluster.members.includes(h));
        if (!other) return false;
        this.wakeups.delete(check);
        resolve(other[1]);
        return true;
      };
      if (check()) return;
      this.wakeups.add(check);
      signal.addEventListener('abort', () => this.wakeups.delete(check), { once: true });
    });
  }

  private changed(): void {
    if (!this.decision && this.participants.every((h) => this.arrived.has(h) || this.missing.has(h))) this.decision = this.decide();
    for (const w of [...this.wakeups]) w();
  }

  private decide(): GateDecision {
    const gone = this.cluster.members.filter((m) => !this.arrived.has(m));
    if (gone.length === 0) return { go: true };
    if ([...this.arrived.values()].some(Boolean)) return { go: true };
    const names = gone.join(', ');
    const why = gone.map((m) => this.missing.get(m) ?? `${m} is missing`).join('; ');
    if (this.allowPartial)
      return { go: true, warning: `bootstrapping etcd cluster ${this.cluster.name} without ${names} (--allow-partial): ${why}` };
    return {
      go: false,
      message:
        `not starting etcd: cluster ${this.cluster.name} is being bootstrapped (no member has data yet) and ${why}; ` +
        `starting the other members now would bootstrap the cluster with ${gone.length === 1 ? 'a member' : 'members'} missing`,
      hint: `everything before this step is done; bring ${names} back and run again, or pass --allow-partial to bootstrap without ${gone.length === 1 ? 'it' : 'them'}`,
    };
  }
}
