import { describe, expect, it } from 'vitest';
import { systemdUnit, type SystemdUnit } from '../../../src/facts/systemd.js';
import { serviceOp, type ServiceArgs } from '../../../src/operations/service.js';
import type { Step } from '../../../src/plan/types.js';
import { fact, planOf, type Fixture } from './helpers.js';

const unit = (over: Partial<SystemdUnit> = {}): SystemdUnit => ({
  unit: 'etcd.service',
  loadState: 'loaded',
  activeState: 'inactive',
  subState: 'dead',
  unitFileState: 'disabled',
  fragmentPath: '/usr/lib/systemd/system/etcd.service',
  dropInPaths: [],
  needDaemonReload: false,
  ...over,
});
const NOT_FOUND = unit({ loadState: 'not-found', unitFileState: '', fragmentPath: '' });
const RUNNING = unit({ activeState: 'active', subState: 'running', unitFileState: 'enabled' });
const fx = (u: SystemdUnit, name = 'etcd'): Fixture => ({ facts: [fact(systemdUnit, { name }, u)] });
const sc = (verb: string, command: string, eff: object): Step => ({
  kind: 'command',
  description: `${verb} etcd.service`,
  command,
  effects: [{ kind: 'service', name: 'etcd.service', ...eff }],
});
const START = sc('start', 'systemctl start -- etcd.service', { active: true, fromStopped: true });
const ENABLE = sc('enable', 'systemctl enable --no-reload -- etcd.service', { enabled: true });
const RESET_FAILED: Step = { kind: 'command', description: 'reset-failed etcd.service', command: 'systemctl reset-failed -- etcd.service' };
const RELOAD: Step = { kind: 'command', description: 'systemctl daemon-reload', command: 'systemctl daemon-reload', effects: [{ kind: 'daemon-reload' }] };

const cases: { name: string; args: ServiceArgs; fx: Fixture; steps: Step[] }[] = [
  { name: 'start inactive', args: { name: 'etcd', state: 'started' }, fx: fx(unit()), steps: [START] },
  // A unit that hit its start limit refuses `systemctl start` until its failure is reset.
  { name: 'start failed', args: { name: 'etcd', state: 'started' }, fx: fx(unit({ activeState: 'failed', subState: 'failed' })), steps: [RESET_FAILED, START] },
  {
    name: 'restart failed',
    args: { name: 'etcd', state: 'restarted' },
    fx: fx(unit({ activeState: 'failed', subState: 'failed' })),
    steps: [RESET_FAILED, sc('restart', 'systemctl restart -- etcd.service', { active: true })],
  },
  { name: 'already running', args: { name: 'etcd', state: 'started', enabled: true }, fx: fx(RUNNING), steps: [] },
  {
    name: 'activating counts as started (notify unit waiting for quorum)',
    args: { name: 'etcd', state: 'started' },
    fx: fx(unit({ activeState: 'activating', subState: 'start' })),
    steps: [],
  },
  {
    name: 'start --no-block and enable',
    args: { name: 'etcd', state: 'started', enabled: true, no_block: true },
    fx: fx(unit()),
    steps: [ENABLE, sc('start', 'systemctl start --no-block -- etcd.service', { active: true, fromStopped: true })],
  },
  { name: 'stop', args: { name: 'etcd', state: 'stopped' }, fx: fx(RUNNING), steps: [sc('stop', 'systemctl stop -- etcd.service', { active: false })] },
  { name: 'stop stopped', args: { name: 'etcd', state: 'stopped' }, fx: fx(unit()), steps: [] },
  {
    name: 'restart always',
    args: { name: 'etcd', state: 'restarted' },
    fx: fx(RUNNING),
    steps: [sc('restart', 'systemctl restart -- etcd.service', { active: true })],
  },
  {
    name: 'reload running',
    args: { name: 'etcd', state: 'reloaded' },
    fx: fx(RUNNING),
    steps: [sc('reload', 'systemctl reload -- etcd.service', { active: true })],
  },
  { name: 'reload stopped starts it', args: { name: 'etcd', state: 'reloaded' }, fx: fx(unit()), steps: [START] },
  { name: 'disable', args: { name: 'etcd', enabled: false }, fx: fx(RUNNING), steps: [sc('disable', 'systemctl disable -- etcd.service', { enabled: false })] },
  { name: 'static unit needs no enable', args: { name: 'etcd', enabled: true }, fx: fx(unit({ unitFileState: 'static' })), steps: [] },
  {
    name: 'daemon_reload when systemd asks for it',
    args: { name: 'etcd', state: 'started', daemon_reload: true },
    fx: fx(unit({ activeState: 'active', needDaemonReload: true })),
    steps: [RELOAD],
  },
  { name: 'daemon_reload not needed', args: { name: 'etcd', state: 'started', daemon_reload: true }, fx: fx(RUNNING), steps: [] },
  {
    name: 'unit missing: real run tries (and will fail loudly)',
    args: { name: 'etcd', state: 'started', enabled: true },
    fx: fx(NOT_FOUND),
    steps: [ENABLE, START],
  },
  {
    name: 'hostile name',
    args: { name: "x'; reboot #", state: 'started' },
    fx: fx(unit({ unit: "x'; reboot #.service" }), "x'; reboot #"),
    steps: [
      {
        kind: 'command',
        description: "start x'; reboot #.service",
        command: "systemctl start -- 'x'\\''; reboot #.service'",
        effects: [{ kind: 'service', name: "x'; reboot #.service", active: true, fromStopped: true }],
      },
    ],
  },
];

describe('service', () => {
  it.each(cases)('$name', async (c) => {
    expect((await planOf(serviceOp, c.args, c.fx)).plan.steps).toEqual(c.steps);
  });

  it('--check: a unit the package will install is predicted started, with a note', async () => {
    const { plan, notes } = await planOf(
      serviceOp,
      { name: 'etcd', state: 'started', enabled: true },
      { ...fx(NOT_FOUND), unknowable: [[systemdUnit, { name: 'etcd' }]] },
    );
    expect(plan.steps).toEqual([ENABLE, START]);
    expect(notes).toEqual(['etcd.service does not exist yet; an earlier step is predicted to install it']);
  });

  it('notes a stale definition when daemon_reload is off', async () => {
    const { plan, notes } = await planOf(serviceOp, { name: 'etcd', state: 'started' }, fx(unit({ activeState: 'active', needDaemonReload: true })));
    expect(plan.steps).toEqual([]);
    expect(notes[0]).toMatch(/changed on disk/);
  });
});
