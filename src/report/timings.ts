/** Where a run's wall time went: a summary of the executor's timings, for both reporters. */
import type { HostTiming, RunTimings } from '../executor/events.js';

type Key = 'connectMs' | 'factsMs' | 'factRounds' | 'factCommands' | 'applyMs' | 'verifyMs' | 'waitMs' | 'totalMs';

export interface Spread {
  median: number;
  max: number;
  /** The host with the largest figure. */
  maxHost?: string;
}

export interface TimingSummary {
  wallMs: number;
  startupMs: number;
  firstConnectMs?: number;
  cpuMs: number;
  cpuMsPerHost: number;
  peakRssMb: number;
  hosts: number;
  perHost: Record<Key, Spread>;
  /** The host that took longest, and what its time was spent on ("other": the controller, queues). */
  slowest?: { host: string; connectMs: number; factsMs: number; applyMs: number; verifyMs: number; waitMs: number; otherMs: number; totalMs: number };
}

const median = (xs: number[]) => {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export function summarizeTimings(t: RunTimings): TimingSummary {
  const entries = Object.entries(t.hosts);
  const spread = (k: Key): Spread => {
    let max = 0;
    let maxHost: string | undefined;
    for (const [h, v] of entries) if (v[k] >= max) [max, maxHost] = [v[k], h];
    return { median: median(entries.map(([, v]) => v[k])), max, maxHost };
  };
  const keys: Key[] = ['connectMs', 'factsMs', 'factRounds', 'factCommands', 'applyMs', 'verifyMs', 'waitMs', 'totalMs'];
  const perHost = Object.fromEntries(keys.map((k) => [k, spread(k)])) as Record<Key, Spread>;
  const worst = perHost.totalMs.maxHost;
  const w: HostTiming | undefined = worst === undefined ? undefined : t.hosts[worst];
  return {
    wallMs: t.wallMs,
    startupMs: t.startupMs,
    firstConnectMs: t.firstConnectMs,
    cpuMs: t.cpuMs,
    cpuMsPerHost: entries.length ? t.cpuMs / entries.length : 0,
    peakRssMb: t.peakRssMb,
    hosts: entries.length,
    perHost,
    slowest: w && {
      host: worst!,
      connectMs: w.connectMs,
      factsMs: w.factsMs,
      applyMs: w.applyMs,
      verifyMs: w.verifyMs,
      waitMs: w.waitMs,
      totalMs: w.totalMs,
      otherMs: Math.max(0, w.totalMs - w.connectMs - w.factsMs - w.applyMs - w.verifyMs - w.waitMs),
    },
  };
}

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const spreadText = (x: Spread, unit = (n: number) => s(n)) => `median ${unit(x.median)}, max ${unit(x.max)}${x.maxHost ? ` (${x.maxHost})` : ''}`;

/** The summary as lines for a terminal. */
export function timingLines(t: RunTimings): string[] {
  const m = summarizeTimings(t);
  const n = (v: number) => String(Math.round(v * 10) / 10);
  const lines = [
    `TIMINGS: start-up ${s(m.startupMs)} + run ${s(m.wallMs)} (first connection ${m.firstConnectMs === undefined ? 'none' : `${s(m.firstConnectMs)} after start`})`,
    `  controller: CPU ${s(m.cpuMs)} (${n(m.cpuMsPerHost)} ms per host), peak memory ${Math.round(m.peakRssMb)} MB, ${m.hosts} hosts`,
    `  per host: connect ${spreadText(m.perHost.connectMs)}`,
    `            facts ${spreadText(m.perHost.factsMs)} in ${spreadText(m.perHost.factRounds, n)} round trips, ${spreadText(m.perHost.factCommands, n)} probes`,
    `            apply ${spreadText(m.perHost.applyMs)}; verify ${spreadText(m.perHost.verifyMs)}; waiting for peers ${spreadText(m.perHost.waitMs)}`,
  ];
  if (m.slowest) {
    const w = m.slowest;
    lines.push(
      `  slowest host ${w.host}: ${s(w.totalMs)} = connect ${s(w.connectMs)} + facts ${s(w.factsMs)} + apply ${s(w.applyMs)} + verify ${s(w.verifyMs)} + waiting ${s(w.waitMs)} + controller/queued ${s(w.otherMs)}`,
    );
  }
  return lines;
}
