/**
 * What a user would compare to prove a run changed nothing on a node: every file's path,
 * type, size, mode, owner and group (as numbers: a name lookup per file cost 4x the walk),
 * mtime and link target under the system directories, the rpm package list, and the state of
 * every service unit.
 */
import { ssh } from './lab.js';

// rpmdb.sqlite-shm is sqlite's shared-memory index: any `rpm -q` (a read) touches it.
const FILES =
  'find /etc /usr /var/lib /opt /root /home /srv -xdev ' +
  '\\( -path /var/lib/systemd/random-seed -o -path /var/lib/systemd/timers -o -path /var/lib/private -o -name "*.sqlite-shm" \\) -prune ' +
  '-o -printf "%p %y %s %m %U %G %T@ %l\\n" 2>/dev/null | sort';
const PACKAGES = 'rpm -qa | sort';
const UNITS = 'systemctl list-units --all --plain --no-legend --type=service | sort';

export interface NodeSnapshot {
  files: string[];
  packages: string[];
  units: string[];
}

export async function snapshotNode(address: string): Promise<NodeSnapshot> {
  const [files, packages, units] = await Promise.all([FILES, PACKAGES, UNITS].map((c) => ssh(address, c)));
  for (const r of [files, packages, units]) if (r!.code !== 0 && r!.code !== 1) throw new Error(`snapshot of ${address} failed: ${r!.stderr}`);
  const lines = (s: string) => s.split('\n').filter(Boolean);
  return { files: lines(files!.stdout), packages: lines(packages!.stdout), units: lines(units!.stdout) };
}

/** Lines that differ between two snapshots (empty when identical). */
export function snapshotDiff(a: NodeSnapshot, b: NodeSnapshot): string[] {
  const out: string[] = [];
  for (const k of ['files', 'packages', 'units'] as const) {
    const sa = new Set(a[k]);
    const sb = new Set(b[k]);
    for (const l of a[k]) if (!sb.has(l)) out.push(`${k} - ${l}`);
    for (const l of b[k]) if (!sa.has(l)) out.push(`${k} + ${l}`);
  }
  return out;
}
