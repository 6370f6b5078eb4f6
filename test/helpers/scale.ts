/**
 * Thirty hosts at once: ten 3-member static clusters on a 30-node lab, each its own inventory
 * and its own `provision` process, all started together. Shared by test/e2e/scale.test.ts and
 * the bench (`npm run bench -- scale`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { lab } from './lab.js';
import { provisionJson, type JsonRun } from './cli.js';

export const SCALE_CLUSTERS = 10;
export const SCALE_NODES = SCALE_CLUSTERS * 3;

/** The lines under an inventory's `all: vars:` that log in to the lab's nodes as root. */
export const labLoginVars = (): string[] => ['    user: root', `    key_file: ${lab.labFiles.privateKey}`, `    known_hosts: ${lab.labFiles.knownHosts}`];

/** The inventory of cluster i (members etcd{3i}..etcd{3i+2}), written in dir. */
export function writeScaleInventories(dir: string): string[] {
  const nodes = lab.topology(SCALE_NODES).filter((n) => n.role === 'etcd');
  return Array.from({ length: SCALE_CLUSTERS }, (_, i) => {
    const mine = nodes.slice(3 * i, 3 * i + 3);
    const file = path.join(dir, `scale-${i}.yaml`);
    fs.writeFileSync(
      file,
      [
        'all:',
        '  vars:',
        ...labLoginVars(),
        // 30 nodes and ten provisioners on 2 cores drove the load average to 20-37: an SSH
        // handshake then took more than the default 10 s, and the host was reported
        // unreachable. These catch a host that does not answer at all, not a slow one.
        '    connect_timeout: 120',
        '    keepalive_interval: 30',
        '  children:',
        '    etcd:',
        '      hosts:',
        ...mine.map((n) => `        ${n.name}: { address: ${n.address} }`),
        'cluster:',
        `  name: scale${i}`,
        '  members: etcd',
        `  token: scale-${i}`,
        '',
      ].join('\n'),
    );
    return file;
  });
}

export interface ScaleResult {
  ms: number;
  runs: (Awaited<ReturnType<typeof provisionJson>> & { json: JsonRun & { connections?: Record<string, { attempts: number }> } })[];
  /** Handshakes retried in all (sshd dropped them). */
  retries: number;
}

/** Runs every inventory at once; PROVISION_REPORT_PEAK_RSS makes each report its peak memory on stderr. */
export async function runScale(files: string[], args: string[] = []): Promise<ScaleResult> {
  const t0 = Date.now();
  const runs = await Promise.all(files.map((f) => provisionJson([f, ...args], { timeoutMs: 1_500_000, env: { PROVISION_REPORT_PEAK_RSS: '1' } })));
  const retries = runs.reduce(
    (n, r) => n + Object.values((r.json as { connections?: Record<string, { attempts: number }> }).connections ?? {}).reduce((m, c) => m + c.attempts - 1, 0),
    0,
  );
  return { ms: Date.now() - t0, runs: runs as ScaleResult['runs'], retries };
}

export const peakMb = (stderr: string): number => Number(/peak-rss-kb=(\d+)/.exec(stderr)?.[1] ?? NaN) / 1024;
