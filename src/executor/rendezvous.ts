/**
 * Where the hosts of one play meet (PeerWait in src/plan/operation.ts), and what each host of
 * the play knows of the others: which of them are lost to the run, and why.
 *
 * Hosts run independently. A task that waits for its peers makes its host wait at the task's
 * meeting point until every peer has either arrived or is known to be missing: it is a host
 * of the play that became unreachable, failed, was interrupted, skipped the task, or finished
 * the play without reaching it; or it is not a host of the play at all. Then the operation's
 * decision is taken once and holds for every host that arrived.
 */
import type { PeerDecision, PeerWait } from '../plan/operation.js';

interface Point {
  wait: PeerWait;
  /** Hosts of the play among the peers: the decision waits for each of them. */
  participants: string[];
  /** Host -> what it brought. */
  arrived: Map<string, unknown>;
  /** Host -> why it is missing (never arrives, or was lost after arriving). */
  missing: Map<string, string>;
  decision?: PeerDecision;
  warned: boolean;
}

export class Rendezvous {
  /** Hosts of the play lost to the run during it, and why. */
  private readonly gone = new Map<string, string>();
  private readonly done = new Set<string>();
  private readonly points = new Map<string, Point>();
  private readonly wakeups = new Set<() => void>();

  constructor(
    /** The hosts of the play (not lost before it). */
    private readonly hosts: readonly string[],
    /** Why a host that is not a host of the play is absent from it. */
    private readonly absentWhy: (host: string) => string,
  ) {}

  /** A host is lost to this run (unreachable, failed, interrupted); `why` names it. */
  lost(host: string, why: string): void {
    if (!this.gone.has(host)) this.gone.set(host, why);
    for (const p of this.points.values()) if (p.wait.peers.includes(host) && !p.missing.has(host)) p.missing.set(host, why);
    this.changed();
  }

  /** A host finished the play: at every point it did not reach, it is missing. */
  finished(host: string): void {
    this.done.add(host);
    for (const p of this.points.values()) this.missingFrom(p, host, `${host} did not ${p.wait.action} in this play`);
    this.changed();
  }

  /** A host will not reach `wait`'s point (its task is skipped); `why` says so. */
  skip(host: string, wait: PeerWait, why: string): void {
    this.missingFrom(this.point(wait), host, why);
    this.changed();
  }

  /** A host reached the point with `value`; resolves once the decision is taken. */
  arrive(host: string, wait: PeerWait, value: unknown): Promise<{ decision: PeerDecision; warning?: string }> {
    const p = this.point(wait);
    if (!p.arrived.has(host) && !p.missing.has(host)) {
      p.arrived.set(host, value);
      this.changed();
    }
    return this.until(() => {
      if (!p.decision) return undefined;
      // The warning of a decision is said once, to the first host that hears it.
      const warning = p.decision.go && !p.warned ? p.decision.warning : undefined;
      if (warning) p.warned = true;
      return { decision: p.decision, warning };
    });
  }

  /** Resolves with the reason as soon as one of `peers` other than `host` is missing. */
  peerLost(host: string, peers: readonly string[], signal: AbortSignal): Promise<string> {
    return this.until(() => {
      for (const h of peers) {
        if (h === host) continue;
        const why = this.whyMissing(h);
        if (why !== undefined) return why;
      }
      return undefined;
    }, signal);
  }

  private whyMissing(host: string): string | undefined {
    if (!this.hosts.includes(host)) return this.absentWhy(host);
    if (this.gone.has(host)) return this.gone.get(host);
    for (const p of this.points.values()) if (p.missing.has(host)) return p.missing.get(host);
    return undefined;
  }

  private point(wait: PeerWait): Point {
    let p = this.points.get(wait.point);
    if (p) return p;
    p = { wait, participants: wait.peers.filter((h) => this.hosts.includes(h)), arrived: new Map(), missing: new Map(), warned: false };
    for (const h of wait.peers) {
      if (!this.hosts.includes(h)) p.missing.set(h, this.absentWhy(h));
      else if (this.gone.has(h)) p.missing.set(h, this.gone.get(h)!);
      else if (this.done.has(h)) p.missing.set(h, `${h} did not ${wait.action} in this play`);
    }
    this.points.set(wait.point, p);
    return p;
  }

  private missingFrom(p: Point, host: string, why: string): void {
    if (p.wait.peers.includes(host) && !p.arrived.has(host) && !p.missing.has(host)) p.missing.set(host, why);
  }

  private changed(): void {
    for (const p of this.points.values()) {
      if (!p.decision && p.participants.every((h) => p.arrived.has(h) || p.missing.has(h))) p.decision = p.wait.decide(p.arrived, p.missing);
    }
    for (const w of [...this.wakeups]) w();
  }

  /** Resolves with `check()`'s first defined answer, checked now and after every change. */
  private until<T>(check: () => T | undefined, signal?: AbortSignal): Promise<T> {
    return new Promise((resolve) => {
      const wake = (): boolean => {
        const v = check();
        if (v === undefined) return false;
        this.wakeups.delete(wake);
        resolve(v);
        return true;
      };
      if (wake() || signal?.aborted) return;
      this.wakeups.add(wake);
      signal?.addEventListener('abort', () => this.wakeups.delete(wake), { once: true });
    });
  }
}
