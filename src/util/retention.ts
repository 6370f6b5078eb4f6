/**
 * Keeping the last N snapshots. The choice is a pure function of file names, so the same rule
 * serves snapshots on the controller (`provision backup`, pruneLocal below) and, through a
 * listing made on a host, snapshots kept on the members.
 *
 * Names are `<prefix><UTC stamp><suffix>` (fileStamp: 20261202T101500Z): within one prefix
 * and suffix, name order is time order, so no clock or mtime is consulted (a copy keeps
 * its place).
 */
import fs from 'node:fs';
import path from 'node:path';

export interface RetentionRule {
  /** Only names that start with this take part (e.g. `<cluster>-`). */
  prefix: string;
  /** ... and end with this (e.g. `.db`). */
  suffix: string;
  /** How many of the newest to keep (at least 1). */
  keep: number;
  /**
   * The name goes on with a UTC stamp right after the prefix (20261202T101500Z): then a
   * cluster `lab` does not take `lab-tls-...` for its own.
   */
  stamp?: boolean;
}

const STAMP = /^\d{8}T\d{6}Z?/;

/** Whether a name is one of the rule's snapshots (temporary and hidden files never are). */
export const isRetained = (name: string, rule: Pick<RetentionRule, 'prefix' | 'suffix' | 'stamp'>): boolean =>
  !name.startsWith('.') &&
  name.startsWith(rule.prefix) &&
  name.endsWith(rule.suffix) &&
  name.length > rule.prefix.length + rule.suffix.length &&
  (!rule.stamp || STAMP.test(name.slice(rule.prefix.length)));

/**
 * Of `names`, the ones to remove: every snapshot of the rule except the `keep` newest. Names
 * that are not the rule's are never returned. The result is oldest first.
 */
export function toPrune(names: readonly string[], rule: RetentionRule): string[] {
  if (!Number.isInteger(rule.keep) || rule.keep < 1) throw new RangeError(`retention: keep must be a whole number of at least 1, not ${rule.keep}`);
  const mine = [...new Set(names.filter((n) => isRetained(n, rule)))].sort();
  return mine.slice(0, Math.max(0, mine.length - rule.keep));
}

/** Removes the snapshots in `dir` beyond the rule's `keep` newest; returns the removed paths. */
export function pruneLocal(dir: string, rule: RetentionRule): { removed: string[]; kept: string[] } {
  const names = fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => e.name);
  const gone = toPrune(names, rule);
  for (const n of gone) fs.rmSync(path.join(dir, n), { force: true });
  const kept = names.filter((n) => isRetained(n, rule) && !gone.includes(n)).sort();
  return { removed: gone.map((n) => path.join(dir, n)), kept: kept.map((n) => path.join(dir, n)) };
}
