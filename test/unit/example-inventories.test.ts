/**
 * The README's example inventories are the guide's three setups (its names, addresses, ports
 * 2379 and 4001, token, plain-http DNS SRV): each loads with no warning, passes the CLI's checks
 * with the default playbook (--syntax-check, --list-tasks: no connection), and renders for
 * every member the etcd.conf lines the guide writes, where provision does not differ on purpose.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadInventory } from '../../src/inventory/index.js';
import { projectRoot } from '../../src/lab/topology.js';
import { clusterMembers, renderEtcdConf } from '../../src/operations/etcd-conf.js';
import { renderDnsmasqConf } from '../../src/operations/dnsmasq-srv.js';
import { ensureBuilt, provision } from '../helpers/cli.js';

const dir = path.join(projectRoot, 'inventories');
const examples = fs.readdirSync(dir).filter((f) => /^example-.*\.yaml$/.test(f));
const ADDRESSES = ['192.168.1.154', '192.168.1.156', '192.168.1.249'];

beforeAll(() => ensureBuilt());

describe('every example inventory loads and plans', () => {
  it('there are the three of the guide', () => {
    expect(examples.sort()).toEqual(['example-discovery.yaml', 'example-dns.yaml', 'example-static.yaml']);
  });

  it.each(examples)('%s: loads without a warning; --syntax-check and --list-tasks pass with the default playbook', async (f) => {
    const inv = loadInventory(path.join(dir, f));
    expect(inv.warnings).toEqual([]);
    for (const flag of ['--syntax-check', '--list-tasks']) {
      const r = await provision([path.join(dir, f), flag]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
    }
  });

  it.each(examples)("%s: each member's etcd.conf has the guide's token and both client ports", (f) => {
    const inv = loadInventory(path.join(dir, f));
    const c = inv.cluster!;
    const members = clusterMembers(inv, c);
    expect(members.map((m) => m.address)).toEqual(ADDRESSES);
    for (const m of members) {
      const conf = renderEtcdConf(c, members, m.name, 'new', c.bootstrap === 'discovery' ? 'http://192.168.1.106:2379/v2/keys/discovery/x' : undefined);
      const host = c.bootstrap === 'dns' ? `${m.name}.mritd.me` : m.address;
      expect(conf).toContain(`ETCD_NAME="${m.name}"\n`);
      expect(conf).toContain('ETCD_INITIAL_CLUSTER_TOKEN="mritd-etcd-cluster"\n');
      expect(conf).toContain(`ETCD_LISTEN_CLIENT_URLS="http://${m.address}:2379,http://${m.address}:4001,http://127.0.0.1:2379"\n`);
      expect(conf).toContain(`ETCD_ADVERTISE_CLIENT_URLS="http://${host}:2379,http://${host}:4001"\n`);
      expect(conf).toContain(`ETCD_INITIAL_ADVERTISE_PEER_URLS="http://${host}:2380"\n`);
    }
  });

  it("example-static: the guide's ETCD_INITIAL_CLUSTER", () => {
    const inv = loadInventory(path.join(dir, 'example-static.yaml'));
    const conf = renderEtcdConf(inv.cluster!, clusterMembers(inv, inv.cluster!), 'etcd0', 'new');
    expect(conf).toContain('ETCD_INITIAL_CLUSTER="etcd0=http://192.168.1.154:2380,etcd1=http://192.168.1.156:2380,etcd2=http://192.168.1.249:2380"\n');
  });

  it("example-dns: plain http with etcd 3.5, the guide's SRV and A records on 192.168.1.106, ETCD_DISCOVERY_SRV, no ETCD_INITIAL_CLUSTER", () => {
    const inv = loadInventory(path.join(dir, 'example-dns.yaml'));
    const c = inv.cluster!;
    expect(c.tls).toBeUndefined();
    expect(c.package.version).toBe('3.5.16');
    const conf = renderEtcdConf(c, clusterMembers(inv, c), 'etcd1', 'new');
    expect(conf).toContain('ETCD_DISCOVERY_SRV="mritd.me"\n');
    expect(conf).not.toContain('ETCD_INITIAL_CLUSTER=');
    const dns = renderDnsmasqConf(c, clusterMembers(inv, c), '192.168.1.106');
    for (const [i, a] of ADDRESSES.entries()) {
      expect(dns).toContain(`srv-host=_etcd-server._tcp.mritd.me,etcd${i + 1}.mritd.me,2380,0,100\n`);
      expect(dns).toContain(`host-record=etcd${i + 1}.mritd.me,${a}\n`);
    }
  });

  it('example-dns with etcd 3.4 pinned instead is refused before any connection, with the reason', async () => {
    const text = fs.readFileSync(path.join(dir, 'example-dns.yaml'), 'utf8').replace(/version: ["']3\.5\.16["']/, 'version: "3.4.23"');
    const tmp = fs.mkdtempSync(path.join(projectRoot, '.tmp-example-'));
    try {
      fs.writeFileSync(path.join(tmp, 'dns-34.yaml'), text);
      const r = await provision([path.join(tmp, 'dns-34.yaml'), '--syntax-check']);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/etcd-io\/etcd#11321\), and cluster\.package\.version is 3\.4\.23/);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
