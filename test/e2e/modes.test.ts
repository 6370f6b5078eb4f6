/**
 * The other bootstrap modes on real nodes, from bare nodes each time: static with TLS, DNS SRV
 * discovery (dnsmasq on the infra node, TLS), and a discovery URL (the discovery etcd on the
 * infra node, made by playbooks/discovery-server.yaml) with and without TLS. For each: --check
 * changes nothing and predicts exactly what the run changes; the run ends with a healthy
 * 3-member cluster as etcdctl on the nodes shows it; a re-run changes nothing. On the docker lab
 * (vitest.config.ts) the DNS SRV case runs; the others are the nspawn lab's.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { changedSet, provision, provisionJson, totalChanged } from '../helpers/cli.js';
import { ensureLab, etcdNodes, lab, ssh } from '../helpers/lab.js';
import { snapshotDiff, snapshotNode } from '../helpers/snapshot.js';
import { LAB_VARIANTS, variantFile, type LabVariant } from '../../src/lab/inventory.js';
import { projectRoot } from '../../src/lab/topology.js';

const labDir = () => path.dirname(lab.labFiles.inventory);
const inventoryOf = (v: LabVariant) => path.join(labDir(), variantFile(v, 'inventory'));
const clusterOf = (v: LabVariant) => `lab-${v}`;
const stateFileOf = (v: LabVariant) => path.join(labDir(), '.provision-state', `${clusterOf(v)}.json`);
const members = () => etcdNodes();
const infra = () => lab.topology(3).find((n) => n.role === 'infra')!;
const DOMAIN = 'lab.internal';
const DISCOVERY_PLAYBOOK = path.join(projectRoot, 'playbooks', 'discovery-server.yaml');

/** Bare nodes, no recorded token, no certificates: the state of a first run. */
async function fromScratch(v: LabVariant) {
  await Promise.all([...members(), infra()].map((n) => lab.resetNode(n.name)));
  fs.rmSync(stateFileOf(v), { force: true });
  fs.rmSync(path.join(labDir(), `tls-${clusterOf(v)}`), { recursive: true, force: true });
}

/** etcdctl on a node as a user would run it (with the client certificate under TLS). */
function etcdctl(v: LabVariant, address: string, args: string) {
  const tls = LAB_VARIANTS[v].tls;
  const s = tls ? 'https' : 'http';
  const certs = tls ? '--cacert=/etc/etcd/pki/ca.crt --cert=/etc/etcd/pki/client.crt --key=/etc/etcd/pki/client.key ' : '';
  return ssh(address, `ETCDCTL_API=3 etcdctl ${certs}--endpoints=${s}://${address}:2379 ${args}`);
}

function expectedMembers(v: LabVariant) {
  const s = LAB_VARIANTS[v].tls ? 'https' : 'http';
  const host = (n: { name: string; address: string }) => (LAB_VARIANTS[v].bootstrap === 'dns' ? `${n.name}.${DOMAIN}` : n.address);
  return members()
    .map((n) => ({ name: n.name, peer: `${s}://${host(n)}:2380`, client: `${s}://${host(n)}:2379` }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

async function memberList(v: LabVariant, address: string) {
  const r = await etcdctl(v, address, 'member list -w json');
  expect(r.code, r.stderr).toBe(0);
  const doc = JSON.parse(r.stdout) as { members: { name: string; peerURLs: string[]; clientURLs: string[] }[] };
  return doc.members.map((m) => ({ name: m.name, peer: m.peerURLs.join(','), client: m.clientURLs.join(',') })).sort((a, b) => a.name.localeCompare(b.name));
}

/** The common proof of a mode: exact --check on bare nodes, a healthy cluster, a quiet re-run. */
async function convergeExactly(v: LabVariant) {
  const inv = inventoryOf(v);
  const before = await Promise.all(members().map((n) => snapshotNode(n.address)));
  const check = await provisionJson([inv, '--check', '--diff']);
  expect(check.code, check.stdout + check.stderr).toBe(0);
  const after = await Promise.all(members().map((n) => snapshotNode(n.address)));
  members().forEach((_, i) => expect(snapshotDiff(before[i]!, after[i]!)).toEqual([]));

  const run = await provisionJson([inv]);
  expect(
    run.code,
    JSON.stringify(
      run.json.tasks.filter((t) => t.status === 'failed'),
      null,
      1,
    ) + run.stderr,
  ).toBe(0);
  expect(changedSet(run.json)).toEqual(changedSet(check.json));
  expect(changedSet(run.json).length).toBeGreaterThan(0);

  for (const n of members()) expect(await memberList(v, n.address)).toEqual(expectedMembers(v));
  const health = await etcdctl(v, members()[0]!.address, 'endpoint health --cluster 2>&1');
  expect(health.code, health.stdout).toBe(0);
  expect(health.stdout.match(/is healthy/g)).toHaveLength(3);
  expect((await etcdctl(v, members()[0]!.address, 'put provision-e2e hello')).code).toBe(0);
  expect((await etcdctl(v, members()[2]!.address, 'get --print-value-only provision-e2e')).stdout.trim()).toBe('hello');
  return { check, run };
}

async function quietRerun(v: LabVariant) {
  const check = await provisionJson([inventoryOf(v), '--check']);
  expect(check.code).toBe(0);
  expect(totalChanged(check.json)).toBe(0);
  const pids = await Promise.all(members().map((n) => ssh(n.address, 'systemctl show -p MainPID etcd')));
  const run = await provisionJson([inventoryOf(v)]);
  expect(run.code).toBe(0);
  expect(totalChanged(run.json)).toBe(0);
  expect(await Promise.all(members().map((n) => ssh(n.address, 'systemctl show -p MainPID etcd')))).toEqual(pids);
}

/** Cases that run on the nspawn lab only (the docker lab runs the DNS SRV case of this file). */
const nspawnOnly = lab.LAB.engine === 'nspawn';

describe(`bootstrap modes on the ${lab.LAB.engine} lab`, () => {
  beforeAll(async () => {
    await ensureLab();
  });

  describe.runIf(nspawnOnly)('static with TLS', () => {
    const v: LabVariant = 'tls';
    beforeAll(() => fromScratch(v));

    it('--check never shows a private key, only that it would change', async () => {
      const r = await provision([inventoryOf(v), '--check', '--diff']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('-----BEGIN CERTIFICATE-----');
      expect(r.stdout).not.toContain('PRIVATE KEY');
      expect(r.stdout).toMatch(/secret content of \/etc\/etcd\/pki\/etcd0\.key changed; not shown/);
      // The dry run made no certificates on the controller either.
      expect(fs.existsSync(path.join(labDir(), `tls-${clusterOf(v)}`))).toBe(false);
    });

    it('converges bare nodes to a healthy cluster over https, exactly as --check predicted', async () => {
      await convergeExactly(v);
      const st = await ssh(members()[1]!.address, "stat -c '%n %U %a' /etc/etcd/pki/*.key /etc/etcd/pki/ca.crt");
      expect(st.stdout.trim().split('\n').sort()).toEqual(
        ['/etc/etcd/pki/ca.crt root 644', '/etc/etcd/pki/client.key root 600', `/etc/etcd/pki/${members()[1]!.name}.key etcd 600`].sort(),
      );
      // Plain http is refused: client certificates are required.
      const plain = await ssh(
        members()[0]!.address,
        `ETCDCTL_API=3 etcdctl --endpoints=http://${members()[0]!.address}:2379 --dial-timeout=2s member list 2>&1`,
      );
      expect(plain.code).not.toBe(0);
      const dir = path.join(labDir(), `tls-${clusterOf(v)}`);
      expect(fs.statSync(path.join(dir, 'ca.key')).mode & 0o777).toBe(0o600);
    });

    it('a re-run changes nothing and reuses the certificates', async () => {
      const dir = path.join(labDir(), `tls-${clusterOf(v)}`);
      const ca = fs.readFileSync(path.join(dir, 'ca.crt'), 'utf8');
      await quietRerun(v);
      expect(fs.readFileSync(path.join(dir, 'ca.crt'), 'utf8')).toBe(ca);
    });
  });

  describe('DNS SRV discovery (with TLS)', () => {
    const v: LabVariant = 'dns';
    beforeAll(async () => {
      await fromScratch(v);
      // A resolver with more in it than the lab's: search domain, options and a second server.
      await ssh(members()[0]!.address, `printf 'search example.internal\\nnameserver ${lab.LAB.subnetPrefix}.250\\noptions ndots:2\\n' > /etc/resolv.conf`);
    });

    it('without TLS on a pinned etcd 3.4 it is refused before any host is touched, saying what to do', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'provision-dns-'));
      try {
        const inv = fs
          .readFileSync(inventoryOf(v), 'utf8')
          .replace(/^ {2}tls: .*\n/m, '')
          // etcd 3.4 pinned: DNS SRV without TLS needs 3.5 (test/e2e/dns-plain.test.ts: it works there).
          .replace(/package: \{ name: etcd \}/, 'package: { name: etcd, version: "3.4.23" }')
          .replace(/(key_file|known_hosts): /g, `$1: ${labDir()}/`);
        fs.writeFileSync(path.join(dir, 'inv.yaml'), inv);
        const r = await provision([path.join(dir, 'inv.yaml')]);
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(/DNS SRV discovery without TLS fails/);
        expect(r.stderr).toMatch(/tls: true/);
        expect(r.stdout).toBe('');
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('serves the SRV records, points the members at them, and converges exactly as --check predicted', async () => {
      const { run } = await convergeExactly(v);
      // The records were checked before any member started.
      const order = run.json.tasks.map((t) => `${t.host}:${t.op}`);
      const firstStart = order.findIndex((t) => /^etcd\d:service$/.test(t));
      expect(order.indexOf(`${infra().name}:dns_check`)).toBeGreaterThanOrEqual(0);
      expect(order.indexOf(`${infra().name}:dns_check`)).toBeLessThan(firstStart);

      const dig = await ssh(members()[1]!.address, `dig +short SRV _etcd-server-ssl._tcp.${DOMAIN}`);
      expect(dig.stdout.trim().split('\n').sort()).toEqual(
        members()
          .map((n) => `0 100 2380 ${n.name}.${DOMAIN}.`)
          .sort(),
      );
      const nx = await ssh(members()[1]!.address, `dig +noall +comments nothere.${DOMAIN} A`);
      expect(nx.stdout).toMatch(/status: NXDOMAIN/);

      const conf = (await ssh(members()[1]!.address, 'cat /etc/etcd/etcd.conf')).stdout;
      expect(conf).toMatch(new RegExp(`^ETCD_DISCOVERY_SRV="${DOMAIN}"$`, 'm'));
      expect(conf).not.toMatch(/^ETCD_INITIAL_CLUSTER=/m);
      expect(conf).toMatch(new RegExp(`^ETCD_LISTEN_PEER_URLS="https://${members()[1]!.address.replace(/\./g, '\\.')}:2380"$`, 'm'));

      // The resolver: the DNS host first, the rest kept, the old file backed up.
      const resolv = await ssh(members()[0]!.address, 'cat /etc/resolv.conf; echo ---; cat /etc/resolv.conf.*.bak');
      const [now, backup] = resolv.stdout.split('---\n');
      expect(now).toBe(`search example.internal\nnameserver ${infra().address}\nnameserver ${lab.LAB.subnetPrefix}.250\noptions ndots:2\n`);
      expect(backup).toBe(`search example.internal\nnameserver ${lab.LAB.subnetPrefix}.250\noptions ndots:2\n`);
    });

    it('a re-run changes nothing', async () => {
      await quietRerun(v);
    });
  });

  describe.runIf(nspawnOnly).each<LabVariant>(['discovery', 'discovery-tls'])('discovery URL (%s)', (v) => {
    beforeAll(async () => {
      await fromScratch(v);
      const r = await provisionJson([inventoryOf(v), '--playbook', DISCOVERY_PLAYBOOK]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
    });

    it('makes a token of the cluster size itself, records it, and converges exactly as --check predicted', async () => {
      const { check } = await convergeExactly(v);
      // The dry run made no token: it said one would be made.
      expect(check.json.tasks.find((t) => t.op === 'etcd_config')!.notes.join('\n')).toMatch(/no discovery token yet/);
      const state = JSON.parse(fs.readFileSync(stateFileOf(v), 'utf8')) as { discoveryUrl: string };
      expect(state.discoveryUrl).toMatch(new RegExp(`^http://${infra().address.replace(/\./g, '\\.')}:2379/v2/keys/discovery/[0-9a-f]{32}$`));
      const conf = (await ssh(members()[0]!.address, 'cat /etc/etcd/etcd.conf')).stdout;
      expect(conf).toContain(`ETCD_DISCOVERY="${state.discoveryUrl}"`);
      expect(conf).not.toMatch(/^ETCD_INITIAL_CLUSTER=/m);
      // The discovery etcd holds the size and the three registrations.
      const size = await fetch(`${state.discoveryUrl}/_config/size`).then((r) => r.json() as Promise<{ node: { value: string } }>);
      expect(size.node.value).toBe('3');
      const dir = await fetch(state.discoveryUrl).then((r) => r.json() as Promise<{ node: { nodes?: { key: string }[] } }>);
      expect((dir.node.nodes ?? []).filter((n) => !n.key.endsWith('/_config'))).toHaveLength(3);
    });

    it('a re-run changes nothing and keeps the token', async () => {
      const state = fs.readFileSync(stateFileOf(v), 'utf8');
      await quietRerun(v);
      expect(fs.readFileSync(stateFileOf(v), 'utf8')).toBe(state);
    });

    it('a used-up token is refused clearly rather than bootstrapping bare members with it', async () => {
      await Promise.all(members().map((n) => lab.resetNode(n.name)));
      const r = await provisionJson([inventoryOf(v)]);
      expect(r.code).toBe(3);
      const failed = r.json.tasks.filter((t) => t.status === 'failed');
      expect(failed.map((t) => t.host).sort()).toEqual(
        members()
          .map((n) => n.name)
          .sort(),
      );
      for (const t of failed) expect(t.message).toMatch(/is used up: .*registered with it already/);
      // Nothing after the failure ran: etcd was never started.
      expect((await ssh(members()[0]!.address, 'systemctl is-active etcd')).stdout.trim()).not.toBe('active');
    });
  });
});
