import { shellJoin } from '../connection/quote.js';
import { systemdUnit, unitName } from '../facts/systemd.js';
import type { CommandStep, Effect } from '../plan/types.js';
import { ETCD_UNIT } from './etcd-conf.js';
import { etcdStartWait } from './etcd-start.js';
import { defineOperation, type ArgSpec, type OperationContext, type PeerWait } from './types.js';
import { daemonReloadStep, factOf, withDefaults } from './util.js';

export interface ServiceArgs {
  name: string;
  state?: 'started' | 'stopped' | 'restarted' | 'reloaded';
  enabled?: boolean;
  /** Run `systemctl daemon-reload` first when systemd says unit files changed on disk. */
  daemon_reload?: boolean;
  /** Do not wait for start/stop to finish (etcd's Type=notify start waits for quorum). */
  no_block?: boolean;
}

const args: Record<string, ArgSpec> = {
  name: { type: 'string', required: true, description: 'unit name; .service is implied' },
  state: { type: 'string', enum: ['started', 'stopped', 'restarted', 'reloaded'] },
  enabled: { type: 'boolean' },
  daemon_reload: { type: 'boolean', default: false },
  no_block: { type: 'boolean', default: false },
};

const RUNNING = ['active', 'activating', 'reloading'];
/** Unit file states that need no `systemctl enable` (or cannot be enabled at all). */
const ENABLED = ['enabled', 'enabled-runtime', 'static', 'indirect', 'generated', 'alias'];

const systemctl = (verb: string, unit: string, noBlock: boolean, effects: Effect[], extra: string[] = []): CommandStep => ({
  kind: 'command',
  description: `${verb} ${unit}`,
  command: shellJoin(['systemctl', verb, ...(noBlock ? ['--no-block'] : []), ...extra, '--', unit]),
  effects,
});

/**
 * Units whose start waits for the unit's peers on the other hosts: etcd, so that a new cluster
 * is not bootstrapped with a member missing (etcd-start.ts).
 */
const START_WAITS: Record<string, (ctx: OperationContext) => PeerWait | undefined> = { [ETCD_UNIT]: etcdStartWait };

export const serviceOp = defineOperation<ServiceArgs>({
  name: 'service',
  description: 'Start, stop, restart, reload, enable or disable a systemd unit',
  args,
  restartsUnit: (a) => (typeof a.name === 'string' ? unitName(a.name) : undefined),
  waitsForPeers(ctx, a) {
    const starts = a.state === 'started' || a.state === 'restarted' || a.state === 'reloaded';
    return starts && typeof a.name === 'string' ? START_WAITS[unitName(a.name)]?.(ctx) : undefined;
  },
  async plan(ctx, raw) {
    const a = withDefaults(args, raw);
    const unit = unitName(a.name);
    const { value: u, unknowable } = await factOf(ctx, systemdUnit, { name: a.name });
    const missing = u.loadState === 'not-found';
    if (unknowable && missing) ctx.note(`${unit} does not exist yet; an earlier step is predicted to install it`);
    const steps: CommandStep[] = [];
    if (u.needDaemonReload) {
      if (a.daemon_reload) steps.push(daemonReloadStep());
      else ctx.note(`${unit} changed on disk; systemd still uses the old definition (set daemon_reload: true)`);
    }
    const nb = a.no_block === true;
    if (a.enabled === true && (missing || !ENABLED.includes(u.unitFileState)))
      // --no-reload: enabling only adds the [Install] symlinks, which take effect at boot or at
      // the next reload; the implicit full daemon-reload would cost ~0.3 s for nothing.
      steps.push(systemctl('enable', unit, false, [{ kind: 'service', name: unit, enabled: true }], ['--no-reload']));
    if (a.enabled === false && u.unitFileState === 'enabled') steps.push(systemctl('disable', unit, false, [{ kind: 'service', name: unit, enabled: false }]));
    const running = !missing && RUNNING.includes(u.activeState);
    const up: Effect[] = [{ kind: 'service', name: unit, active: true }];
    // A unit that failed too often in a row is refused by `systemctl start` until its failure
    // is reset (start-limit-hit): a start asked for here means a fresh start.
    const starting = (a.state === 'started' && !running) || a.state === 'restarted';
    if (starting && u.activeState === 'failed')
      steps.push({ kind: 'command', description: `reset-failed ${unit}`, command: shellJoin(['systemctl', 'reset-failed', '--', unit]) });
    const fromStopped: Effect[] = [{ kind: 'service', name: unit, active: true, fromStopped: true }];
    if (a.state === 'started' && !running) steps.push(systemctl('start', unit, nb, fromStopped));
    if (a.state === 'stopped' && running) steps.push(systemctl('stop', unit, nb, [{ kind: 'service', name: unit, active: false }]));
    if (a.state === 'restarted') steps.push(systemctl('restart', unit, nb, up));
    // reload on a stopped unit would fail; Ansible starts it instead.
    if (a.state === 'reloaded') steps.push(systemctl(running ? 'reload' : 'start', unit, nb, running ? up : fromStopped));
    return { steps };
  },
});
