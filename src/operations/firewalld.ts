import { shellJoin } from '../connection/quote.js';
import { firewalld, portOpen } from '../facts/firewalld.js';
import type { Step } from '../plan/types.js';
import { defineOperation, type ArgSpec, type OperationContext } from './types.js';
import { argError, factOf } from './util.js';

export interface FirewalldArgs {
  /** "2379/tcp", "53/udp", "8000-8010/tcp"; default: the cluster's client and peer ports. */
  ports?: string[];
  /** Default: firewalld's default zone. */
  zone?: string;
}

const PORT = /^(\d{1,5})(-(\d{1,5}))?\/(tcp|udp|sctp|dccp)$/;
const portError = (p: unknown): string | undefined => {
  const m = typeof p === 'string' ? PORT.exec(p) : null;
  if (!m) return `${JSON.stringify(p)} is not a port like "2379/tcp" or "8000-8010/udp"`;
  const lo = Number(m[1]);
  const hi = m[3] === undefined ? lo : Number(m[3]);
  return lo < 1 || hi > 65535 || hi < lo ? `${JSON.stringify(p)}: ports are 1-65535, a range low-high` : undefined;
};

const args: Record<string, ArgSpec> = {
  ports: {
    type: 'string[]',
    description: 'ports to open, as "2379/tcp" (default: the cluster\'s client and peer ports)',
    validate: (v) => (Array.isArray(v) ? v.map(portError).find((e) => e !== undefined) : undefined),
  },
  zone: { type: 'string', description: "firewalld zone (default: firewalld's default zone)", validate: (v) => zoneError(v) },
};

const zoneError = (v: unknown): string | undefined =>
  typeof v === 'string' && !/^[A-Za-z0-9_+-]{1,17}$/.test(v) ? `${JSON.stringify(v)} is not a zone name` : undefined;

/** The cluster's ports, as the members listen on them. */
function clusterPorts(ctx: OperationContext): string[] {
  const c = ctx.cluster ?? ctx.inventory.cluster;
  if (!c) throw argError('firewalld', 'give ports, or define a cluster in the inventory');
  return [...new Set([`${c.clientPort}/tcp`, `${c.peerPort}/tcp`])];
}

/**
 * When firewalld runs on the host: the ports open in the zone, at runtime and permanently (so
 * they stay open after a reload or a reboot). When firewalld is absent or not running, nothing.
 */
export const firewalldOp = defineOperation<FirewalldArgs>({
  name: 'firewalld',
  description: "Open ports in firewalld (runtime and permanent) when it runs; by default the cluster's client and peer ports",
  args,
  async plan(ctx, a) {
    const ports = a.ports ?? clusterPorts(ctx);
    const bad = Array.isArray(ports) ? ports.map(portError).find((e) => e !== undefined) : 'ports must be a list';
    if (bad) throw argError('firewalld', bad);
    const zoneBad = zoneError(a.zone);
    if (zoneBad) throw argError('firewalld', zoneBad);
    const { value: fw, unknowable } = await factOf(ctx, firewalld, a.zone === undefined ? {} : { zone: a.zone });
    if (unknowable) ctx.note('whether firewalld runs depends on an earlier step');
    if (fw.state !== 'active') return { steps: [] };
    const steps: Step[] = [];
    for (const [where, open, flag] of [
      ['runtime', fw.runtime, []],
      ['permanent', fw.permanent, ['--permanent']],
    ] as const) {
      const missing = ports.filter((p) => !portOpen(open, p));
      if (missing.length === 0) continue;
      steps.push({
        kind: 'command',
        description: `open ${missing.join(', ')} in firewalld zone ${fw.zone} (${where})`,
        command: shellJoin(['firewall-cmd', ...flag, `--zone=${fw.zone}`, ...missing.map((p) => `--add-port=${p}`)]),
      });
    }
    return { steps };
  },
});
