import { spawn, spawnSync } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { FakeConnection } from '../../helpers/fake-connection.js';
import { file } from '../../../src/facts/file.js';
import type { ClusterSpec } from '../../../src/inventory/types.js';
import {
  dnsCheckOp,
  dnsmasqSrvOp,
  dnsSrvVersionProblem,
  missingTargets,
  precheckDnsBootstrap,
  renderDnsmasqConf,
  srvNames,
} from '../../../src/operations/dnsmasq-srv.js';
import { CLUSTER, fact, planOf } from './helpers.js';

const DNS: Partial<ClusterSpec> = { bootstrap: 'dns', dns: { domain: 'lab.internal', server: 'web' }, tls: { dir: '/etc/etcd/pki' } };
const MEMBERS = [
  { name: 'etcd0', address: '10.88.0.10' },
  { name: 'etcd1', address: '10.88.0.11' },
];
const c = (over: Partial<ClusterSpec> = {}): ClusterSpec => ({ ...CLUSTER, ...DNS, ...over });

describe('precheckDnsBootstrap: DNS SRV without TLS needs etcd 3.5 (etcd-io/etcd#11321)', () => {
  const pkg = (version?: string) => ({ package: { name: 'etcd', ...(version ? { version } : {}) } });
  it.each<[string, Partial<ClusterSpec>, boolean]>([
    ['dns + tls', {}, false],
    ['dns + tls, etcd 3.4 pinned', pkg('3.4.23'), false],
    ['dns without tls, etcd 3.4.23 pinned', { tls: undefined, ...pkg('3.4.23') }, true],
    ['dns without tls, etcd 3.4.23-1.el7 pinned', { tls: undefined, ...pkg('3.4.23-1.el7') }, true],
    ['dns without tls, etcd 3.3 pinned', { tls: undefined, ...pkg('3.3.11') }, true],
    ['dns without tls, etcd 3.5.16 pinned', { tls: undefined, ...pkg('3.5.16') }, false],
    ['dns without tls, etcd 3.5.16-1.lab with an epoch pinned', { tls: undefined, ...pkg('2:3.5.16-1.lab') }, false],
    ['dns without tls, etcd 3.10 pinned', { tls: undefined, ...pkg('3.10.0') }, false],
    // Not pinned: the members' installed etcd decides (dnsSrvVersionProblem).
    ['dns without tls, no version pinned', { tls: undefined }, false],
    ['static without tls', { bootstrap: 'static', tls: undefined }, false],
    ['discovery without tls', { bootstrap: 'discovery', tls: undefined }, false],
  ])('%s', (_n, over, fails) => {
    const r = precheckDnsBootstrap(c(over));
    if (fails)
      expect(r).toMatch(
        /^DNS SRV discovery without TLS fails at start with etcd 3\.4: etcd looks up _etcd-server-ssl\._tcp first .*etcd-io\/etcd#11321\), and cluster\.package\.version is .*Pin etcd 3\.5 or later .*use `tls: true`, or bootstrap: static\.$/,
      );
    else expect(r).toBeUndefined();
  });
});

describe('dnsSrvVersionProblem: without a pin, the etcd installed on the member decides', () => {
  const plain = c({ tls: undefined });
  it.each<[string, string[] | undefined, RegExp | undefined]>([
    ['3.5.16 installed', ['3.5.16-1.lab'], undefined],
    ['3.4.23 installed', ['3.4.23-1.lab'], /etcd 3\.4\.23-1\.lab is installed here\. Pin etcd 3\.5 or later/],
    ['nothing installed', [], /etcd is not installed here, and which etcd yum would install is not known/],
    ['not knowable yet (--check before the install)', undefined, undefined],
  ])('%s', (_n, installed, problem) => {
    const r = dnsSrvVersionProblem(plain, installed);
    if (problem) expect(r).toMatch(problem);
    else expect(r).toBeUndefined();
  });
  it('is never a problem with TLS, a pinned version, or another mode', () => {
    expect(dnsSrvVersionProblem(c(), ['3.4.23-1'])).toBeUndefined();
    expect(dnsSrvVersionProblem(c({ tls: undefined, package: { name: 'etcd', version: '3.5.16' } }), ['3.4.23-1'])).toBeUndefined();
    expect(dnsSrvVersionProblem(c({ tls: undefined, bootstrap: 'static' }), ['3.4.23-1'])).toBeUndefined();
  });
});

describe('srvNames', () => {
  it.each<[string, Partial<ClusterSpec>, string, string]>([
    ['tls', {}, '_etcd-server-ssl._tcp.lab.internal', '_etcd-client-ssl._tcp.lab.internal'],
    ['plain', { tls: undefined }, '_etcd-server._tcp.lab.internal', '_etcd-client._tcp.lab.internal'],
    [
      'tls + srv name',
      { dns: { domain: 'lab.internal', server: 'web', srvName: 'blue' } },
      '_etcd-server-ssl-blue._tcp.lab.internal',
      '_etcd-client-ssl-blue._tcp.lab.internal',
    ],
    ['plain + srv name', { tls: undefined, dns: { domain: 'x.y', server: 'web', srvName: 'b' } }, '_etcd-server-b._tcp.x.y', '_etcd-client-b._tcp.x.y'],
  ])('%s', (_n, over, server, client) => expect(srvNames(c(over))).toEqual({ server, client }));
});

const TLS_CONF = `# Managed by provision; local changes are overwritten.
# DNS SRV records of etcd cluster lab (domain lab.internal).
listen-address=10.88.0.20
bind-interfaces
# Answer from this file only: forward nothing, and NXDOMAIN (not REFUSED) for other names in the domain.
no-resolv
local=/lab.internal/
host-record=etcd0.lab.internal,10.88.0.10
host-record=etcd1.lab.internal,10.88.0.11
srv-host=_etcd-server-ssl._tcp.lab.internal,etcd0.lab.internal,2380,0,100
srv-host=_etcd-server-ssl._tcp.lab.internal,etcd1.lab.internal,2380,0,100
srv-host=_etcd-client-ssl._tcp.lab.internal,etcd0.lab.internal,2379,0,100
srv-host=_etcd-client-ssl._tcp.lab.internal,etcd1.lab.internal,2379,0,100
`;

describe('renderDnsmasqConf', () => {
  it('TLS: the -ssl records, A records, local domain, no forwarding', () => {
    expect(renderDnsmasqConf(c(), MEMBERS, '10.88.0.20')).toBe(TLS_CONF);
  });
  it('plain, own ports, srv name', () => {
    const conf = renderDnsmasqConf(
      c({ tls: undefined, peerPort: 2480, clientPort: 2479, dns: { domain: 'e.x', server: 'web', srvName: 'b' } }),
      MEMBERS,
      '10.88.0.20',
    );
    expect(conf).toContain('srv-host=_etcd-server-b._tcp.e.x,etcd1.e.x,2480,0,100\n');
    expect(conf).toContain('srv-host=_etcd-client-b._tcp.e.x,etcd0.e.x,2479,0,100\n');
    expect(conf).toContain('local=/e.x/\n');
  });
  it.each<[string, { name: string; address: string }[], RegExp]>([
    ['a name that is no DNS label', [{ name: 'etcd_0', address: '10.0.0.1' }], /not a DNS label/],
    ['a name with a comma', [{ name: 'a,b', address: '10.0.0.1' }], /not a DNS label/],
    ['a host name as address', [{ name: 'a', address: 'a.lab' }], /not an IP address/],
  ])('refuses %s', (_n, members, err) => expect(() => renderDnsmasqConf(c(), members, '10.0.0.1')).toThrow(err));
});

describe('dnsmasq_srv', () => {
  const path = '/etc/dnsmasq.d/etcd-lab.conf';
  const FULL = renderDnsmasqConf(c(), [...MEMBERS, { name: 'etcd2', address: '10.88.0.12' }], '10.88.0.20');
  it.each<[string, Record<string, string>, string, unknown]>([
    ['first run', {}, path, [{ kind: 'file', description: `write ${path}`, path, before: null, after: FULL, mode: 0o644, owner: 'root', group: 'root' }]],
    [
      'own path',
      { path: '/etc/dnsmasq.d/x.conf' },
      '/etc/dnsmasq.d/x.conf',
      [
        {
          kind: 'file',
          description: 'write /etc/dnsmasq.d/x.conf',
          path: '/etc/dnsmasq.d/x.conf',
          before: null,
          after: FULL,
          mode: 0o644,
          owner: 'root',
          group: 'root',
        },
      ],
    ],
  ])('%s', async (_n, args, p, steps) => {
    const { plan } = await planOf(dnsmasqSrvOp, args, { host: 'web', cluster: DNS, facts: [fact(file, { path: p }, { exists: false })] });
    expect(plan.steps).toEqual(steps);
  });

  it('unchanged: no steps', async () => {
    const has = {
      exists: true as const,
      type: 'file' as const,
      mode: 0o644,
      owner: 'root',
      group: 'root',
      size: FULL.length,
      sha256: (await import('../../../src/facts/file.js')).sha256(FULL),
      content: FULL,
    };
    const { plan } = await planOf(dnsmasqSrvOp, {}, { host: 'web', cluster: DNS, facts: [fact(file, { path }, has)] });
    expect(plan.steps).toEqual([]);
  });

  it('notes a DNS cluster without TLS on a pinned etcd 3.4 (the CLI refuses it earlier)', async () => {
    const { notes } = await planOf(
      dnsmasqSrvOp,
      {},
      { host: 'web', cluster: { ...DNS, tls: undefined, package: { name: 'etcd', version: '3.4.23' } }, facts: [fact(file, { path }, { exists: false })] },
    );
    expect(notes.join('\n')).toMatch(/etcd-io\/etcd#11321/);
  });

  it.each<[string, object, RegExp]>([
    ['on another host', { host: 'etcd0', cluster: DNS }, /etcd0 is not the cluster's DNS server \(web\)/],
    ['without a dns section', { host: 'web', cluster: { bootstrap: 'static' } }, /has no dns section/],
    ['without a cluster', { host: 'web', cluster: null }, /defines no etcd cluster/],
  ])('refuses to run %s', async (_n, fx, err) => {
    await expect(planOf(dnsmasqSrvOp, {}, fx)).rejects.toThrow(err);
  });
});

const dig = (targets: string[], status = 'NOERROR') =>
  `;; ->>HEADER<<- opcode: QUERY, status: ${status}, id: 1\n${targets.map((t) => `_etcd-server-ssl._tcp.lab.internal. 0 IN SRV 0 100 2380 ${t}.`).join('\n')}\n`;

describe('missingTargets', () => {
  const ans = { ok: true as const, status: 'NOERROR', records: [{ priority: 0, weight: 100, port: 2380, target: 'etcd0.lab.internal' }] };
  it.each<[string[], string[]]>([
    [['etcd0.lab.internal'], []],
    [['ETCD0.lab.internal.'], []],
    [['etcd0.lab.internal:2380'], []],
    [['etcd0.lab.internal.:2380'], []],
    [['etcd0.lab.internal:2379'], ['etcd0.lab.internal:2379']],
    [['etcd0.lab.internal', 'etcd1.lab.internal'], ['etcd1.lab.internal']],
  ])('%j -> missing %j', (expect_, missing) => expect(missingTargets(ans, expect_)).toEqual(missing));
  it('an error answer misses everything', () => expect(missingTargets({ ok: false, error: 'x' }, ['a'])).toEqual(['a']));
});

describe('dns_check', () => {
  const NAME = '_etcd-server-ssl._tcp.lab.internal';
  it('defaults from the cluster; retries until every member is answered', async () => {
    const answers = [dig([], 'NXDOMAIN'), dig(['etcd0.lab.internal']), dig(['etcd2.lab.internal', 'etcd0.lab.internal', 'etcd1.lab.internal'])];
    const conn = new FakeConnection('etcd0', () => ({ stdout: answers.shift() }));
    const { plan } = await planOf(dnsCheckOp, { interval_ms: 10 }, { cluster: DNS });
    expect(plan.steps).toEqual([]);
    const r = await plan.verify!(conn);
    expect(r.ok).toBe(true);
    expect(r.message).toBe(`10.88.0.20 answers SRV ${NAME} with etcd0.lab.internal:2380, etcd1.lab.internal:2380, etcd2.lab.internal:2380`);
    expect(conn.commands).toHaveLength(3);
    expect(conn.commands[0]).toBe(`dig +noall +comments +answer +time=2 +tries=1 SRV ${NAME} @10.88.0.20`);
  });

  it('gives up after the timeout and says what is missing (REFUSED explained)', async () => {
    const conn = new FakeConnection('etcd0', () => ({ stdout: dig([], 'REFUSED') }));
    const { plan } = await planOf(
      dnsCheckOp,
      { name: '_x._tcp.lab.internal', server: '10.0.0.53', expect: ['a.lab.internal'], timeout: 0.05, interval_ms: 10 },
      { cluster: null },
    );
    const t0 = Date.now();
    const r = await plan.verify!(conn);
    expect(Date.now() - t0).toBeLessThan(30_000); // gave up: with a 10 ms interval it would poll forever otherwise
    expect(r.ok).toBe(false);
    expect(r.message).toBe(
      'SRV _x._tcp.lab.internal @10.0.0.53: REFUSED (the server refuses the name: a dnsmasq without local=/<domain>/ does this), no records; missing a.lab.internal',
    );
    expect(conn.commands.length).toBeGreaterThan(1);
  });

  it('--check asks once', async () => {
    const conn = new FakeConnection('etcd0', () => ({ exitCode: 9, stdout: ';; no servers could be reached\n' }));
    const { plan } = await planOf(dnsCheckOp, {}, { cluster: DNS, check: true });
    const r = await plan.verify!(conn);
    expect(r).toMatchObject({ ok: false, message: `SRV ${NAME} @10.88.0.20: dig failed (exit 9): no answer from 10.88.0.20` });
    expect(conn.commands).toHaveLength(1);
  });

  it.each<[string, object, object | null, RegExp]>([
    ['no cluster and no name', { server: '10.0.0.1', expect: ['a'] }, null, /give name, or define cluster.dns/],
    ['a server name', { server: 'ns.lab' }, DNS, /server must be an IP address/],
    ['an empty expect', { expect: [] }, DNS, /expect must be a non-empty list/],
  ])('refuses %s', async (_n, args, cluster, err) => {
    await expect(planOf(dnsCheckOp, args, { cluster: cluster as never })).rejects.toThrow(err);
  });
});

// The rendered file served by a real dnsmasq (Debian's, the same 2.89 the lab packages) on a
// loopback port, asked with node's resolver.
const canRunDnsmasq = process.getuid?.() === 0 && spawnSync('dnsmasq', ['--version']).status === 0;
describe.skipIf(!canRunDnsmasq)('dnsmasq serves the rendered configuration', () => {
  it('answers SRV and A records, NXDOMAIN for unknown names in the domain', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'provision-dnsmasq-'));
    const port = await freeUdpPort();
    const conf = join(dir, 'etcd.conf');
    writeFileSync(conf, renderDnsmasqConf(c(), MEMBERS, '127.0.0.1'));
    const child = spawn('dnsmasq', ['-k', '-C', conf, `--port=${port}`, '--pid-file=', '--user=nobody'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    try {
      const r = new Resolver({ timeout: 500, tries: 1 });
      r.setServers([`127.0.0.1:${port}`]);
      let srv: { name: string; port: number }[] = [];
      for (let i = 0; i < 40; i++) {
        srv = await r.resolveSrv('_etcd-server-ssl._tcp.lab.internal').catch(() => []);
        if (srv.length) break;
        await sleep(50);
      }
      expect(srv.map((s) => `${s.name}:${s.port}`).sort(), stderr).toEqual(['etcd0.lab.internal:2380', 'etcd1.lab.internal:2380']);
      expect((await r.resolveSrv('_etcd-client-ssl._tcp.lab.internal')).map((s) => s.port)).toEqual([2379, 2379]);
      expect(await r.resolve4('etcd1.lab.internal')).toEqual(['10.88.0.11']);
      await expect(r.resolveSrv('_etcd-server._tcp.lab.internal')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    } finally {
      child.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function freeUdpPort(): Promise<number> {
  // A free TCP port on loopback is free for UDP as well in practice; dnsmasq binds both.
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}
