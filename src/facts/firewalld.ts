import { probeScript } from '../connection/batch.js';
import { defineFact } from './types.js';
import { probeFailed } from './util.js';

/** firewalld on a host, and the ports open in one zone (default: the default zone). */
export type Firewalld =
  | { state: 'absent' | 'inactive' }
  | {
      state: 'active';
      zone: string;
      /** `firewall-cmd --list-ports`: "2379/tcp", "8000-8010/udp". */
      runtime: string[];
      permanent: string[];
    };

// Inactive is decided by systemd, without starting firewall-cmd (a Python program): the usual
// case, a host without firewalld running, stays as cheap as one systemctl call.
const SCRIPT = `command -v firewall-cmd >/dev/null 2>&1 || { echo absent; return 0; }
systemctl is-active --quiet firewalld.service || { echo inactive; return 0; }
firewall-cmd --state >/dev/null 2>&1 || { echo inactive; return 0; }
z=\${1:-$(firewall-cmd --get-default-zone)} || return 2
printf 'active %s\\n' "$z"
printf 'runtime %s\\n' "$(firewall-cmd --zone="$z" --list-ports)" || return 2
printf 'permanent %s\\n' "$(firewall-cmd --permanent --zone="$z" --list-ports)" || return 2`;

export const firewalld = defineFact<Firewalld, { zone?: string }>({
  name: 'firewalld',
  become: true,
  command: ({ zone }) => probeScript(SCRIPT, zone ?? ''),
  parse(stdout, exitCode, { zone }, stderr) {
    const what = `firewalld(${zone ?? 'default zone'})`;
    if (exitCode !== 0) throw probeFailed(what, exitCode, stderr, stdout);
    const lines = stdout.split('\n');
    if (lines[0] === 'absent' || lines[0] === 'inactive') return { state: lines[0] };
    const m = /^active (\S+)$/.exec(lines[0] ?? '');
    const list = (key: string) => {
      const l = lines.find((x) => x.startsWith(`${key} `) || x === key);
      if (l === undefined) throw probeFailed(what, exitCode, `unexpected output: ${stdout.trim()}`);
      return l.slice(key.length).trim().split(/\s+/).filter(Boolean);
    };
    if (!m) throw probeFailed(what, exitCode, `unexpected output: ${stdout.trim()}`);
    return { state: 'active', zone: m[1]!, runtime: list('runtime'), permanent: list('permanent') };
  },
});

/** Whether `port` ("2379/tcp") is open in a firewall-cmd port list (single ports or ranges). */
export function portOpen(list: readonly string[], port: string): boolean {
  const [n, proto] = port.split('/');
  const p = Number(n);
  return list.some((e) => {
    const [range, pr] = e.split('/');
    if (pr !== proto) return false;
    const [lo, hi] = range!.split('-').map(Number);
    return p >= lo! && p <= (hi ?? lo!);
  });
}
