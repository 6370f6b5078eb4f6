import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { commandSucceeds } from '../../src/facts/command.js';
import { etcdHealth, etcdMembers, quoteBigInts } from '../../src/facts/etcd.js';
import { file, sha256, type FileFact } from '../../src/facts/file.js';
import { osRelease } from '../../src/facts/os.js';
import { pathExists } from '../../src/facts/path.js';
import { packageUpdate, rpmPackage } from '../../src/facts/rpm.js';
import { systemdUnit, type SystemdUnit } from '../../src/facts/systemd.js';
import { UNKNOWABLE, type FactDef } from '../../src/facts/types.js';
import type { Step } from '../../src/plan/types.js';

const HOSTILE = '/tmp/it\'s a "dir"/$(touch pwned) `x`\n;rm -rf /';

// Recorded with etcdctl 3.4.23 against a throwaway local etcd (ids beyond 2^53).
const ML_ONE =
  '{"header":{"cluster_id":15118495548433857066,"member_id":13668033151171901709,"raft_term":2},"members":[{"ID":13668033151171901709,"name":"rec1","peerURLs":["http://127.0.0.1:23801"],"clientURLs":["http://127.0.0.1:23791"]}]}\n';
const ML_UNSTARTED =
  '{"header":{"cluster_id":15118495548433857066,"member_id":13668033151171901709,"raft_term":2},"members":[{"ID":3029890054896913789,"peerURLs":["http://127.0.0.1:23802"]},{"ID":13668033151171901709,"name":"rec1","peerURLs":["http://127.0.0.1:23801"],"clientURLs":["http://127.0.0.1:23791"]}]}\n';
const ML_LEARNER =
  '{"header":{"cluster_id":15118495548433857066,"member_id":13668033151171901709,"raft_term":3},"members":[{"ID":13668033151171901709,"name":"rec1","peerURLs":["http://127.0.0.1:23801"],"clientURLs":["http://127.0.0.1:23791"]},{"ID":17016433951581530877,"name":"rec3","peerURLs":["http://127.0.0.1:23803"],"clientURLs":["http://127.0.0.1:23793"],"isLearner":true}]}\n';
const ETCD_DEADLINE_ERR =
  '{"level":"warn","ts":"2026-11-23T19:46:54.680Z","caller":"clientv3/retry_interceptor.go:62","msg":"retrying of unary invoker failed","target":"endpoint://client-2c91/127.0.0.1:23799","attempt":0,"error":"rpc error: code = DeadlineExceeded desc = latest balancer error: all SubConns are in TransientFailure"}\nError: context deadline exceeded\n';
const EH_MIXED =
  '[{"endpoint":"http://127.0.0.1:23791","health":true,"took":"4.398422ms"},{"endpoint":"http://127.0.0.1:23799","health":false,"took":"5.000703318s","error":"context deadline exceeded"}]\n';
const CENTOS9_OS_RELEASE = `NAME="CentOS Stream"
VERSION="9"
ID="centos"
ID_LIKE="rhel fedora"
VERSION_ID="9"
PLATFORM_ID="platform:el9"
PRETTY_NAME="CentOS Stream 9"
ANSI_COLOR="0;31"
CPE_NAME="cpe:/o:centos:centos:9"
HOME_URL="https://centos.org/"
`;
const UNIT_LOADED = `FragmentPath=/usr/lib/systemd/system/etcd.service
DropInPaths=/etc/systemd/system/etcd.service.d/10-provision.conf /etc/systemd/system/etcd.service.d/x.conf
NeedDaemonReload=yes
LoadState=loaded
ActiveState=active
SubState=running
UnitFileState=enabled
`;
const UNIT_NOT_FOUND = `FragmentPath=
DropInPaths=
NeedDaemonReload=no
LoadState=not-found
ActiveState=inactive
SubState=dead
UnitFileState=
`;
const HASH = sha256('ETCD_NAME="a"\n');

interface ParseCase {
  name: string;
  fact: FactDef<any, any>;
  args: unknown;
  stdout: string;
  exitCode?: number;
  stderr?: string;
  want?: unknown;
  throws?: RegExp;
}

const parseCases: ParseCase[] = [
  { name: 'rpm installed', fact: rpmPackage, args: { name: 'etcd' }, stdout: 'etcd\t3.4.23-1.el8\n', want: { installed: true, versions: ['3.4.23-1.el8'] } },
  {
    name: 'rpm two kernels',
    fact: rpmPackage,
    args: { name: 'kernel' },
    stdout: 'kernel\t4.18.0-500.el8\nkernel\t4.18.0-513.el8\n',
    want: { installed: true, versions: ['4.18.0-500.el8', '4.18.0-513.el8'] },
  },
  {
    name: 'rpm not installed',
    fact: rpmPackage,
    args: { name: 'etcd' },
    stdout: 'package etcd is not installed\n',
    exitCode: 1,
    want: { installed: false, versions: [] },
  },
  {
    name: 'rpm hostile name',
    fact: rpmPackage,
    args: { name: "it's; rm -rf /" },
    stdout: "package it's; rm -rf / is not installed\n",
    exitCode: 1,
    want: { installed: false, versions: [] },
  },
  {
    name: 'rpm db broken',
    fact: rpmPackage,
    args: { name: 'etcd' },
    stdout: '',
    exitCode: 1,
    stderr: 'error: rpmdb open failed\n',
    throws: /rpmdb open failed/,
  },
  { name: 'no update', fact: packageUpdate, args: { name: 'etcd' }, stdout: '', want: { available: false } },
  {
    name: 'update available',
    fact: packageUpdate,
    args: { name: 'etcd' },
    stdout: '\netcd.x86_64                3.4.24-1.el8                 lab\n',
    exitCode: 100,
    want: { available: true, version: '3.4.24-1.el8' },
  },
  {
    name: 'check-update fails',
    fact: packageUpdate,
    args: { name: 'etcd' },
    stdout: '',
    exitCode: 1,
    stderr: 'Error: Failed to download metadata for repo',
    throws: /metadata/,
  },
  { name: 'file absent', fact: file, args: { path: '/x' }, stdout: 'absent\n', want: { exists: false } },
  {
    name: 'file regular',
    fact: file,
    args: { path: '/etc/etcd/etcd.conf' },
    stdout: `regular file|644|root|root|14\n${HASH}\n--provision-content--\nETCD_NAME="a"\n`,
    want: { exists: true, type: 'file', mode: 0o644, owner: 'root', group: 'root', size: 14, sha256: HASH, content: 'ETCD_NAME="a"\n' },
  },
  {
    name: 'file whose content holds the marker',
    fact: file,
    args: { path: '/f' },
    stdout: `regular file|600|etcd|etcd|28\n${HASH}\n--provision-content--\nx\n--provision-content--\nabsent\n`,
    want: { exists: true, type: 'file', mode: 0o600, owner: 'etcd', group: 'etcd', size: 28, sha256: HASH, content: 'x\n--provision-content--\nabsent\n' },
  },
  {
    name: 'empty file',
    fact: file,
    args: { path: '/e' },
    stdout: `regular empty file|2644|root|wheel|0\n${sha256('')}\n--provision-content--\n`,
    want: { exists: true, type: 'file', mode: 0o2644, owner: 'root', group: 'wheel', size: 0, sha256: sha256(''), content: '' },
  },
  {
    name: 'file over 1 MB',
    fact: file,
    args: { path: '/big' },
    stdout: `regular file|644|root|root|2000000\n${HASH}\n`,
    want: { exists: true, type: 'file', mode: 0o644, owner: 'root', group: 'root', size: 2000000, sha256: HASH, content: undefined },
  },
  {
    name: 'directory',
    fact: file,
    args: { path: '/var/lib/etcd' },
    stdout: 'directory|700|etcd|etcd|4096\n',
    want: { exists: true, type: 'directory', mode: 0o700, owner: 'etcd', group: 'etcd', size: 4096 },
  },
  {
    name: 'symlink',
    fact: file,
    args: { path: '/etc/resolv.conf' },
    stdout: 'symbolic link|777|root|root|39\n--provision-content--\n../run/systemd/resolve/stub-resolv.conf\n',
    want: { exists: true, type: 'link', mode: 0o777, owner: 'root', group: 'root', size: 39, target: '../run/systemd/resolve/stub-resolv.conf' },
  },
  {
    name: 'file unreadable',
    fact: file,
    args: { path: '/root/x' },
    stdout: 'regular file|600|root|root|3\n',
    exitCode: 2,
    stderr: 'sh: 1: cannot open /root/x: Permission denied\n',
    throws: /Permission denied/,
  },
  { name: 'path present', fact: pathExists, args: { path: '/a' }, stdout: 'present\n', want: true },
  { name: 'path absent', fact: pathExists, args: { path: '/a' }, stdout: 'absent\n', want: false },
  {
    name: 'path behind 0700 dir',
    fact: pathExists,
    args: { path: '/var/lib/etcd/x/member' },
    stdout: '',
    exitCode: 3,
    stderr: 'cannot tell whether it exists: /var/lib/etcd is not searchable (needs become?)\n',
    throws: /\/var\/lib\/etcd is not searchable/,
  },
  {
    name: 'file behind 0700 dir',
    fact: file,
    args: { path: '/var/lib/etcd/x' },
    stdout: '',
    exitCode: 3,
    stderr: 'cannot tell whether it exists: /var/lib/etcd is not searchable (needs become?)\n',
    throws: /not searchable/,
  },
  {
    name: 'unit loaded',
    fact: systemdUnit,
    args: { name: 'etcd' },
    stdout: UNIT_LOADED,
    want: {
      unit: 'etcd.service',
      loadState: 'loaded',
      activeState: 'active',
      subState: 'running',
      unitFileState: 'enabled',
      fragmentPath: '/usr/lib/systemd/system/etcd.service',
      dropInPaths: ['/etc/systemd/system/etcd.service.d/10-provision.conf', '/etc/systemd/system/etcd.service.d/x.conf'],
      needDaemonReload: true,
    },
  },
  {
    name: 'unit not found',
    fact: systemdUnit,
    args: { name: 'etcd.service' },
    stdout: UNIT_NOT_FOUND,
    want: {
      unit: 'etcd.service',
      loadState: 'not-found',
      activeState: 'inactive',
      subState: 'dead',
      unitFileState: '',
      fragmentPath: '',
      dropInPaths: [],
      needDaemonReload: false,
    },
  },
  {
    name: 'systemd down',
    fact: systemdUnit,
    args: { name: 'etcd' },
    stdout: '',
    exitCode: 1,
    stderr: "System has not been booted with systemd as init system (PID 1). Can't operate.\nFailed to connect to bus: Host is down\n",
    throws: /Host is down/,
  },
  { name: 'guard ok', fact: commandSucceeds, args: { cmd: 'true' }, stdout: '', want: true },
  { name: 'guard fails', fact: commandSucceeds, args: { cmd: 'false' }, stdout: '', exitCode: 1, want: false },
  {
    name: 'os-release CentOS 9',
    fact: osRelease,
    args: undefined,
    stdout: CENTOS9_OS_RELEASE,
    want: expect.objectContaining({ id: 'centos', versionId: '9', idLike: ['rhel', 'fedora'], prettyName: 'CentOS Stream 9' }),
  },
  {
    name: 'etcd one member',
    fact: etcdMembers,
    args: { endpoints: ['http://127.0.0.1:23791'] },
    stdout: ML_ONE,
    want: {
      ok: true,
      clusterId: 'd1cfaf999eb97a2a',
      members: [
        { id: 'bdae9bbc11dd390d', name: 'rec1', peerURLs: ['http://127.0.0.1:23801'], clientURLs: ['http://127.0.0.1:23791'], isLearner: false, started: true },
      ],
    },
  },
  {
    name: 'etcd unstarted member',
    fact: etcdMembers,
    args: { endpoints: ['http://127.0.0.1:23791'] },
    stdout: ML_UNSTARTED,
    want: expect.objectContaining({
      members: [
        { id: '2a0c54f3ae9e8d7d', name: '', peerURLs: ['http://127.0.0.1:23802'], clientURLs: [], isLearner: false, started: false },
        expect.objectContaining({ id: 'bdae9bbc11dd390d', started: true }),
      ],
    }),
  },
  {
    name: 'etcd learner',
    fact: etcdMembers,
    args: { endpoints: ['http://127.0.0.1:23791'] },
    stdout: ML_LEARNER,
    want: expect.objectContaining({
      members: [
        expect.objectContaining({ name: 'rec1', isLearner: false }),
        expect.objectContaining({ id: 'ec268485a3e9eafd', name: 'rec3', isLearner: true }),
      ],
    }),
  },
  {
    name: 'etcd unreachable',
    fact: etcdMembers,
    args: { endpoints: ['http://127.0.0.1:23799'] },
    stdout: '',
    exitCode: 1,
    stderr: ETCD_DEADLINE_ERR,
    want: { ok: false, error: 'context deadline exceeded' },
  },
  {
    name: 'health mixed (exit 1)',
    fact: etcdHealth,
    args: { endpoints: ['http://127.0.0.1:23791', 'http://127.0.0.1:23799'] },
    stdout: EH_MIXED,
    exitCode: 1,
    stderr: 'Error: unhealthy cluster\n',
    want: [
      { endpoint: 'http://127.0.0.1:23791', healthy: true, took: '4.398422ms' },
      { endpoint: 'http://127.0.0.1:23799', healthy: false, took: '5.000703318s', error: 'context deadline exceeded' },
    ],
  },
  {
    name: 'health without output',
    fact: etcdHealth,
    args: { endpoints: ['https://a:2379'] },
    stdout: '',
    exitCode: 1,
    stderr: 'Error: open /etc/etcd/pki/ca.crt: no such file or directory\n',
    want: [{ endpoint: 'https://a:2379', healthy: false, took: '', error: 'open /etc/etcd/pki/ca.crt: no such file or directory' }],
  },
];

describe('fact parsers (recorded output)', () => {
  it.each(parseCases)('$name', (c) => {
    const run = () => c.fact.parse(c.stdout, c.exitCode ?? 0, c.args, c.stderr ?? '');
    if (c.throws) expect(run).toThrow(c.throws);
    else expect(run()).toEqual(c.want);
  });
});

describe('fact commands', () => {
  it.each([
    [rpmPackage, { name: 'etcd' }, String.raw`rpm -q --qf '%{NAME}\t%{VERSION}-%{RELEASE}\n' -- etcd`],
    [rpmPackage, { name: "it's; rm -rf /" }, String.raw`rpm -q --qf '%{NAME}\t%{VERSION}-%{RELEASE}\n' -- 'it'\''s; rm -rf /'`],
    [packageUpdate, { name: 'etcd' }, 'yum check-update -q -- etcd'],
    [systemdUnit, { name: 'etcd' }, 'systemctl show -p LoadState,ActiveState,SubState,UnitFileState,FragmentPath,DropInPaths,NeedDaemonReload -- etcd.service'],
    [
      systemdUnit,
      { name: 'a b;c' },
      "systemctl show -p LoadState,ActiveState,SubState,UnitFileState,FragmentPath,DropInPaths,NeedDaemonReload -- 'a b;c.service'",
    ],
    [
      etcdMembers,
      { endpoints: ['http://10.0.0.1:2379', 'http://10.0.0.2:2379'] },
      'ETCDCTL_API=3 etcdctl --endpoints=http://10.0.0.1:2379,http://10.0.0.2:2379 member list -w json',
    ],
    [
      etcdHealth,
      { endpoints: ['https://a.lab:2379'], tls: { cacert: '/etc/etcd/pki/ca.crt', cert: '/etc/etcd/pki/a b.crt', key: '/etc/etcd/pki/a.key' } },
      "ETCDCTL_API=3 etcdctl --endpoints=https://a.lab:2379 --cacert=/etc/etcd/pki/ca.crt '--cert=/etc/etcd/pki/a b.crt' --key=/etc/etcd/pki/a.key endpoint health -w json",
    ],
    [commandSucceeds, { cmd: ['test', '-f', "it's"] }, "test -f 'it'\\''s'"],
    [commandSucceeds, { cmd: 'grep -q x /etc/y' }, "sh -c 'grep -q x /etc/y'"],
  ] as [FactDef<any, any>, unknown, string][])('%#: %s', (def, args, want) => {
    expect(def.command(args)).toBe(want);
  });

  it("never pastes a hostile path into the script: it is the probe's quoted argument ($1)", () => {
    for (const def of [file, pathExists]) {
      const cmd = def.command({ path: HOSTILE });
      const call = `\nprovision_probe '/tmp/it'\\''s a "dir"/$(touch pwned) \`x\`\n;rm -rf /'`;
      expect(cmd.endsWith(call)).toBe(true);
      expect(cmd.slice(0, -call.length)).not.toMatch(/pwned|rm -rf/);
    }
  });
});

/** Runs the real probe through the local sh (GNU coreutils, as on CentOS). */
const local = <T, A>(def: FactDef<T, A>, args: A): T => {
  const r = spawnSync('sh', ['-c', def.command(args)], { encoding: 'utf8' });
  return def.parse(r.stdout, r.status ?? -1, args, r.stderr);
};

describe('file and path probes run locally on hostile names', () => {
  const dir = mkdtempSync(join(tmpdir(), "fact it's "));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const evil = join(dir, 'it\'s $(touch pwned) "q"\n`x`;*');
  writeFileSync(evil, 'a\n--provision-content--\nb', { mode: 0o640 });
  symlinkSync(evil, join(dir, 'link name'));
  mkdirSync(join(dir, 'sub dir'));

  it.each<[string, string, Partial<FileFact> & { exists: boolean }]>([
    [
      'regular file',
      evil,
      { exists: true, type: 'file', mode: 0o640, size: 25, content: 'a\n--provision-content--\nb', sha256: sha256('a\n--provision-content--\nb') },
    ],
    ['symlink', 'link name', { exists: true, type: 'link', target: evil }],
    ['directory', 'sub dir', { exists: true, type: 'directory' }],
    ['absent', 'nope\nnope', { exists: false }],
  ])('%s', (_n, p, want) => {
    const path = p.startsWith('/') ? p : join(dir, p);
    expect(local(file, { path })).toMatchObject(want);
    expect(local(pathExists, { path })).toBe(want.exists);
  });

  it('ran nothing from the name', () => {
    expect(local(pathExists, { path: join(dir, 'pwned') })).toBe(false);
    expect(local(pathExists, { path: 'pwned' })).toBe(false);
  });

  it('absent under missing parents is absent; under a 0700 dir without sudo it is not known', () => {
    expect(local(pathExists, { path: join(dir, 'no/such/dir') })).toBe(false);
    expect(local(file, { path: join(dir, 'no/such/dir') })).toEqual({ exists: false });
    const locked = join(dir, 'locked');
    mkdirSync(locked, { mode: 0o700 });
    const asNobody = (def: FactDef<any, { path: string }>) => {
      const r = spawnSync('su', ['-s', '/bin/sh', 'nobody', '-c', def.command({ path: join(locked, 'x') })], { encoding: 'utf8' });
      return () => def.parse(r.stdout, r.status ?? -1, { path: join(locked, 'x') }, r.stderr);
    };
    if (process.getuid?.() !== 0) return; // needs root to switch to nobody
    expect(asNobody(pathExists)).toThrow(/is not searchable/);
    expect(asNobody(file)).toThrow(/is not searchable/);
  });

  it('a guard command sees its argv unchanged', () => {
    expect(local(commandSucceeds, { cmd: ['test', '-f', evil] })).toBe(true);
    expect(local(commandSucceeds, { cmd: ['test', '-d', evil] })).toBe(false);
  });
});

describe('etcd ids', () => {
  it('keeps uint64 ids exact (JSON numbers beyond 2^53)', () => {
    expect(quoteBigInts('{"ID":13668033151171901709,"n":12,"s":"\\":12345678901234567890"}')).toBe(
      '{"ID":"13668033151171901709","n":12,"s":"\\":12345678901234567890"}',
    );
  });
});

const fileStep = (path: string, after: string): Step => ({
  kind: 'file',
  description: '',
  path,
  before: null,
  after,
  mode: 0o640,
  owner: 'root',
  group: 'etcd',
});
const cmd = (...effects: NonNullable<Step['effects']>): Step => ({ kind: 'command', description: '', command: 'x', effects });
const ABSENT: FileFact = { exists: false };
const CONF: FileFact = { exists: true, type: 'file', mode: 0o644, owner: 'root', group: 'root', size: 1, sha256: sha256('x'), content: 'x' };
const LOADED = parseCases.find((c) => c.name === 'unit loaded')!.want as SystemdUnit;
const NOT_FOUND = parseCases.find((c) => c.name === 'unit not found')!.want as SystemdUnit;

interface PredictCase {
  name: string;
  fact: FactDef<any, any>;
  args: unknown;
  probed: unknown;
  earlier: Step[];
  want: unknown;
}

const predictCases: PredictCase[] = [
  { name: 'rpm: nothing earlier', fact: rpmPackage, args: { name: 'etcd' }, probed: { installed: false, versions: [] }, earlier: [], want: undefined },
  {
    name: 'rpm: after install',
    fact: rpmPackage,
    args: { name: 'etcd' },
    probed: { installed: false, versions: [] },
    earlier: [cmd({ kind: 'package', name: 'etcd', state: 'present' })],
    want: { installed: true, versions: [] },
  },
  {
    name: 'rpm: pinned install',
    fact: rpmPackage,
    args: { name: 'etcd' },
    probed: { installed: false, versions: [] },
    earlier: [cmd({ kind: 'package', name: 'etcd', state: 'present', version: '3.4.23' })],
    want: { installed: true, versions: ['3.4.23'] },
  },
  {
    name: 'rpm: after remove',
    fact: rpmPackage,
    args: { name: 'etcd' },
    probed: { installed: true, versions: ['1-1'] },
    earlier: [cmd({ kind: 'package', name: 'etcd', state: 'absent' })],
    want: { installed: false, versions: [] },
  },
  {
    name: 'rpm: other package',
    fact: rpmPackage,
    args: { name: 'etcd' },
    probed: { installed: false, versions: [] },
    earlier: [cmd({ kind: 'package', name: 'dnsmasq', state: 'present' })],
    want: undefined,
  },
  {
    name: 'update: after install',
    fact: packageUpdate,
    args: { name: 'etcd' },
    probed: { available: true },
    earlier: [cmd({ kind: 'package', name: 'etcd', state: 'present' })],
    want: { available: false },
  },
  {
    name: 'file: written earlier',
    fact: file,
    args: { path: '/etc/etcd/etcd.conf' },
    probed: ABSENT,
    earlier: [fileStep('/etc/etcd/etcd.conf', 'new\n')],
    want: { exists: true, type: 'file', mode: 0o640, owner: 'root', group: 'etcd', size: 4, sha256: sha256('new\n'), content: 'new\n' },
  },
  {
    name: 'file: absent, package installed earlier',
    fact: file,
    args: { path: '/etc/etcd/etcd.conf' },
    probed: ABSENT,
    earlier: [cmd({ kind: 'package', name: 'etcd', state: 'present' })],
    want: UNKNOWABLE,
  },
  {
    name: 'file: existing config survives a package',
    fact: file,
    args: { path: '/etc/etcd/etcd.conf' },
    probed: CONF,
    earlier: [cmd({ kind: 'package', name: 'etcd', state: 'present' })],
    want: undefined,
  },
  {
    name: 'file: package then our write',
    fact: file,
    args: { path: '/c' },
    probed: ABSENT,
    earlier: [cmd({ kind: 'package', name: 'etcd', state: 'present' }), fileStep('/c', 'y')],
    want: expect.objectContaining({ content: 'y' }),
  },
  {
    name: 'file: chmod earlier',
    fact: file,
    args: { path: '/c' },
    probed: CONF,
    earlier: [cmd({ kind: 'path', path: '/c', state: 'present', mode: 0o600 })],
    want: { ...CONF, mode: 0o600 },
  },
  {
    name: 'file: removed earlier',
    fact: file,
    args: { path: '/c' },
    probed: CONF,
    earlier: [cmd({ kind: 'path', path: '/c', state: 'absent' })],
    want: ABSENT,
  },
  {
    name: 'file: created by a command',
    fact: file,
    args: { path: '/c' },
    probed: ABSENT,
    earlier: [cmd({ kind: 'path', path: '/c', state: 'present' })],
    want: UNKNOWABLE,
  },
  { name: 'file: other path', fact: file, args: { path: '/c' }, probed: ABSENT, earlier: [fileStep('/d', 'x')], want: undefined },
  {
    name: 'path: mkdir earlier',
    fact: pathExists,
    args: { path: '/d' },
    probed: false,
    earlier: [cmd({ kind: 'path', path: '/d', state: 'present', type: 'directory', mode: 0o755, owner: 'root', group: 'root' })],
    want: true,
  },
  {
    name: 'path: absent, package earlier',
    fact: pathExists,
    args: { path: '/d' },
    probed: false,
    earlier: [cmd({ kind: 'package', name: 'etcd', state: 'present' })],
    want: UNKNOWABLE,
  },
  {
    name: 'path: present, package earlier',
    fact: pathExists,
    args: { path: '/d' },
    probed: true,
    earlier: [cmd({ kind: 'package', name: 'etcd', state: 'present' })],
    want: undefined,
  },
  {
    name: 'unit: package may ship it',
    fact: systemdUnit,
    args: { name: 'etcd' },
    probed: NOT_FOUND,
    earlier: [cmd({ kind: 'package', name: 'etcd', state: 'present' })],
    want: UNKNOWABLE,
  },
  {
    name: 'unit: drop-in written',
    fact: systemdUnit,
    args: { name: 'etcd' },
    probed: { ...LOADED, needDaemonReload: false },
    earlier: [fileStep('/etc/systemd/system/etcd.service.d/10-provision.conf', 'x')],
    want: { ...LOADED, needDaemonReload: true },
  },
  {
    name: 'unit: drop-in then reload',
    fact: systemdUnit,
    args: { name: 'etcd' },
    probed: { ...LOADED, needDaemonReload: false },
    earlier: [fileStep('/etc/systemd/system/etcd.service.d/a.conf', 'x'), cmd({ kind: 'daemon-reload' })],
    want: { ...LOADED, needDaemonReload: false },
  },
  {
    name: 'unit: other drop-in',
    fact: systemdUnit,
    args: { name: 'etcd' },
    probed: LOADED,
    earlier: [fileStep('/etc/systemd/system/etcd2.service.d/a.conf', 'x')],
    want: undefined,
  },
  {
    name: 'unit: installed then started',
    fact: systemdUnit,
    args: { name: 'etcd' },
    probed: NOT_FOUND,
    earlier: [cmd({ kind: 'package', name: 'etcd', state: 'present' }), cmd({ kind: 'service', name: 'etcd.service', active: true, enabled: true })],
    want: { ...NOT_FOUND, loadState: 'loaded', activeState: 'active', subState: 'running', unitFileState: 'enabled' },
  },
  {
    name: 'unit: stopped',
    fact: systemdUnit,
    args: { name: 'etcd' },
    probed: LOADED,
    earlier: [cmd({ kind: 'service', name: 'etcd', active: false })],
    want: { ...LOADED, activeState: 'inactive', subState: 'dead' },
  },
  { name: 'guard: first task', fact: commandSucceeds, args: { cmd: 'x' }, probed: true, earlier: [], want: undefined },
  { name: 'guard: after any step', fact: commandSucceeds, args: { cmd: 'x' }, probed: true, earlier: [cmd()], want: UNKNOWABLE },
];

describe('check-mode prediction', () => {
  it.each(predictCases)('$name', (c) => {
    expect(c.fact.predict!(c.args, c.earlier, c.probed)).toEqual(c.want);
  });
});
