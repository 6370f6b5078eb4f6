import { describe, expect, it } from 'vitest';
import { firewalld, portOpen, type Firewalld } from '../../../src/facts/firewalld.js';
import { firewalldOp, type FirewalldArgs } from '../../../src/operations/firewalld.js';
import type { Step } from '../../../src/plan/types.js';
import { fact, planOf, type Fixture } from './helpers.js';

const active = (runtime: string[], permanent: string[], zone = 'public'): Firewalld => ({ state: 'active', zone, runtime, permanent });
const fx = (fw: Firewalld, zone?: string, extra: Fixture = {}): Fixture => ({ ...extra, facts: [fact(firewalld, zone === undefined ? {} : { zone }, fw)] });
const open = (ports: string[], where: 'runtime' | 'permanent', zone = 'public'): Step => ({
  kind: 'command',
  description: `open ${ports.join(', ')} in firewalld zone ${zone} (${where})`,
  command: ['firewall-cmd', ...(where === 'permanent' ? ['--permanent'] : []), `--zone=${zone}`, ...ports.map((p) => `--add-port=${p}`)].join(' '),
});

describe('firewalld operation', () => {
  const cases: { name: string; args: FirewalldArgs; fx: Fixture; steps: Step[] }[] = [
    { name: 'not installed: nothing', args: {}, fx: fx({ state: 'absent' }), steps: [] },
    { name: 'installed, not running: nothing', args: {}, fx: fx({ state: 'inactive' }), steps: [] },
    {
      name: "running, nothing open: the cluster's client and peer ports, runtime and permanent",
      args: {},
      fx: fx(active([], [])),
      steps: [open(['2379/tcp', '2380/tcp'], 'runtime'), open(['2379/tcp', '2380/tcp'], 'permanent')],
    },
    { name: 'all open: nothing (a re-run changes nothing)', args: {}, fx: fx(active(['2380/tcp', '2379/tcp'], ['2379/tcp', '2380/tcp'])), steps: [] },
    {
      name: 'open at runtime only (firewall-cmd without --permanent): made permanent',
      args: {},
      fx: fx(active(['2379/tcp', '2380/tcp'], [])),
      steps: [open(['2379/tcp', '2380/tcp'], 'permanent')],
    },
    {
      name: 'permanent only (not reloaded yet): opened at runtime',
      args: {},
      fx: fx(active(['22/tcp'], ['2379/tcp', '2380/tcp'])),
      steps: [open(['2379/tcp', '2380/tcp'], 'runtime')],
    },
    { name: 'a range covering both ports counts as open', args: {}, fx: fx(active(['2000-3000/tcp'], ['2379-2380/tcp'])), steps: [] },
    {
      name: "the inventory's ports, not 2379/2380",
      args: {},
      fx: fx(active(['2379/tcp'], ['2379/tcp']), undefined, { cluster: { clientPort: 12379, peerPort: 12380 } }),
      steps: [open(['12379/tcp', '12380/tcp'], 'runtime'), open(['12379/tcp', '12380/tcp'], 'permanent')],
    },
    {
      name: 'the same port over udp is not open for tcp; the zone firewalld reports is used',
      args: {},
      fx: fx(active(['2379/udp', '2380/tcp'], ['2379/tcp', '2380/tcp'], 'internal')),
      steps: [open(['2379/tcp'], 'runtime', 'internal')],
    },
    {
      name: 'ports and zone given',
      args: { ports: ['53/udp'], zone: 'dmz' },
      fx: fx(active([], ['53/udp'], 'dmz'), 'dmz'),
      steps: [open(['53/udp'], 'runtime', 'dmz')],
    },
  ];
  it.each(cases)('$name', async (c) => {
    const { plan } = await planOf(firewalldOp, c.args, c.fx);
    expect(plan.steps).toEqual(c.steps);
  });

  it('bad ports and zones are playbook errors', async () => {
    for (const [args, msg] of [
      [{ ports: ['2379'] }, /is not a port like "2379\/tcp"/],
      [{ ports: ['70000/tcp'] }, /ports are 1-65535/],
      [{ ports: ['2380-2379/tcp'] }, /ports are 1-65535, a range low-high/],
      [{ ports: ['1/tcp; reboot'] }, /is not a port/],
      [{ zone: 'a zone' }, /is not a zone name/],
    ] as const) {
      await expect(planOf(firewalldOp, args as FirewalldArgs, fx(active([], [])))).rejects.toThrow(msg);
      expect(firewalldOp.args[Object.keys(args)[0]!]!.validate!(Object.values(args)[0])).toMatch(msg);
    }
  });

  it('without a cluster and without ports: says what to give', async () => {
    await expect(planOf(firewalldOp, {}, fx(active([], []), undefined, { cluster: null }))).rejects.toThrow(/give ports, or define a cluster/);
  });
});

describe('firewalld fact', () => {
  it.each<[string, string, number, Firewalld]>([
    ['no firewall-cmd', 'absent\n', 0, { state: 'absent' }],
    ['not running', 'inactive\n', 0, { state: 'inactive' }],
    ['running, nothing open', 'active public\nruntime \npermanent \n', 0, active([], [])],
    [
      'running, ports open',
      'active public\nruntime 2379/tcp 2380/tcp\npermanent 2379/tcp 8000-8010/udp\n',
      0,
      active(['2379/tcp', '2380/tcp'], ['2379/tcp', '8000-8010/udp']),
    ],
  ])('%s', (_n, stdout, code, want) => {
    expect(firewalld.parse(stdout, code, {}, '')).toEqual(want);
  });

  it('a failed probe or output it does not know is an error, never "inactive"', () => {
    expect(() => firewalld.parse('', 2, {}, 'Error: INVALID_ZONE: nope')).toThrow(/fact firewalld\(default zone\) failed \(exit 2\): Error: INVALID_ZONE/);
    expect(() => firewalld.parse('something else\n', 0, {}, '')).toThrow(/unexpected output/);
  });

  it('the zone is passed as an argument, never pasted into the script', () => {
    const cmd = firewalld.command({ zone: "x'; reboot" });
    expect(cmd.endsWith(`\nprovision_probe 'x'\\''; reboot'`)).toBe(true);
    expect(cmd.slice(0, cmd.lastIndexOf('\n'))).not.toContain('reboot');
  });

  it.each<[string[], string, boolean]>([
    [['2379/tcp'], '2379/tcp', true],
    [['2379/udp'], '2379/tcp', false],
    [['2000-2400/tcp'], '2380/tcp', true],
    [['2381-2400/tcp'], '2380/tcp', false],
    [[], '2380/tcp', false],
  ])('portOpen(%j, %s) = %s', (list, port, want) => expect(portOpen(list, port)).toBe(want));
});
