/**
 * Runs a playbook over an inventory: hosts in parallel (at most `forks` at once), tasks in
 * order per host. A host that fails or cannot be reached is a value in the results; the
 * others carry on.
 */
import path from 'node:path';
import pLimit from 'p-limit';
import type { Connection, ConnectionSettings } from '../connection/types.js';
import { isProvisionError } from '../errors.js';
import { selectHosts } from '../inventory/patterns.js';
import type { Inventory } from '../inventory/types.js';
import type { OperationDef } from '../operations/types.js';
import { createRuntime, type ClusterRuntime } from '../operations/runtime.js';
import type { Playbook } from '../playbook/types.js';
import { emptyRecap, type HostRecap, type RunEvent } from './events.js';
import { runPlayOnHost, type HostState } from './host.js';

export interface RunOptions {
  check: boolean;
  forks: number;
  limit?: string;
  operations: Map<string, OperationDef<any>>;
  connect: (settings: ConnectionSettings) => Promise<Connection>;
  emit: (e: RunEvent) => void;
  /** Becomes true on Ctrl-C. */
  aborted?: () => boolean;
  /** Controller-side certificates and discovery token (default: made from the inventory). */
  runtime?: ClusterRuntime;
}

export interface RunSummary {
  hosts: Record<string, HostRecap>;
  interrupted: boolean;
}

export async function runPlaybook(inventory: Inventory, playbook: Playbook, opts: RunOptions): Promise<RunSummary> {
  const started = Date.now();
  const aborted = opts.aborted ?? (() => false);
  const limited = opts.limit ? new Set(selectHosts(inventory, opts.limit)) : undefined;
  const playHosts = playbook.plays.map((p) => selectHosts(inventory, p.hosts).filter((h) => !limited || limited.has(h)));
  const allHosts = [...new Set(playHosts.flat())];
  const recap: Record<string, HostRecap> = Object.fromEntries(allHosts.map((h) => [h, emptyRecap()]));
  const emit = (e: RunEvent) => {
    if (e.type === 'task') recap[e.result.host]![e.result.status]++;
    opts.emit(e);
  };
  emit({ type: 'start', inventory: inventory.file, playbook: playbook.file, check: opts.check, hosts: allHosts });
  for (const w of inventory.warnings) emit({ type: 'warning', message: w });

  const states = new Map<string, HostState>();
  const dead = new Set<string>();
  const connections = new Map<string, Promise<HostState | undefined>>();
  // Bounded concurrent handshakes: sshd's MaxStartups drops connections beyond its limit.
  const handshake = pLimit(Math.min(opts.forks, 10));
  const open = (name: string) => {
    let p = connections.get(name);
    if (!p) {
      p = handshake(async () => {
        const host = inventory.hosts.get(name)!;
        const t0 = Date.now();
        try {
          const conn = await opts.connect(host.connection);
          emit({ type: 'connect', host: name, ok: true, durationMs: Date.now() - t0 });
          const st: HostState = { host, conn, predicted: [], probes: new Map() };
          states.set(name, st);
          return st;
        } catch (e) {
          const message = isProvisionError(e) ? e.format() : String(e);
          dead.add(name);
          recap[name]!.unreachable = 1;
          emit({ type: 'unreachable', host: name, message });
          return undefined;
        }
      });
      connections.set(name, p);
    }
    return p;
  };

  const runtime = opts.runtime ?? createRuntime({ check: opts.check, inventory, log: (message) => emit({ type: 'notice', message }) });
  const forks = pLimit(opts.forks);
  const playbookDir = path.dirname(path.resolve(playbook.file));
  try {
    for (const [i, play] of playbook.plays.entries()) {
      if (aborted()) break;
      const hosts = playHosts[i]!.filter((h) => !dead.has(h));
      emit({ type: 'play', name: play.name, hosts });
      await Promise.all(
        hosts.map((name) =>
          forks(async () => {
            const st = await open(name);
            if (!st || aborted()) return;
            const outcome = await runPlayOnHost(st, play, {
              check: opts.check, inventory, operations: opts.operations, playbookDir, emit, aborted, runtime,
            });
            if (outcome === 'failed') dead.add(name);
            if (outcome === 'unreachable') {
              dead.add(name);
              recap[name]!.unreachable = 1;
              emit({ type: 'unreachable', host: name, message: 'connection lost during the run' });
            }
          }),
        ),
      );
    }
  } finally {
    await Promise.all([...states.values()].map((s) => s.conn.close().catch(() => {})));
    runtime.dispose();
  }
  if (aborted()) emit({ type: 'interrupted', message: 'interrupted: stopped after the steps in flight' });
  emit({ type: 'recap', hosts: recap, durationMs: Date.now() - started, check: opts.check });
  return { hosts: recap, interrupted: aborted() };
}
