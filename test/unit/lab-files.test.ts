/** The committed lab and docker inventories agree with the lab's topology and the compose file. */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadInventory } from '../../src/inventory/index.js';
import { LAB_VARIANTS, labInventoryYaml, variantFile, type LabVariant } from '../../src/lab/inventory.js';
import { labConfig, projectRoot, topologyOf } from '../../src/lab/topology.js';
import { specFor, RPMS } from '../../src/lab/rpms.js';

const root = projectRoot;
/** The default (instance 0) docker lab, which the committed compose file and inventory describe. */
const dockerDefault = { ...labConfig('docker'), subnetPrefix: '10.213.8' };
/** The default nspawn lab, which inventories/lab*.yaml point at (whatever PROVISION_LAB_INSTANCE this run has). */
const nspawnDefault = { ...labConfig('nspawn'), subnetPrefix: '10.213.7' };

describe('lab files', () => {
  it.each(Object.keys(LAB_VARIANTS) as LabVariant[])('the committed inventory of the %s variant is what the lab topology generates, and loads', (v) => {
    const file = path.join(root, 'inventories', variantFile(v, 'lab'));
    expect(fs.readFileSync(file, 'utf8')).toBe(labInventoryYaml(topologyOf(nspawnDefault, 3), '../.lab/', v));
    const inv = loadInventory(file);
    expect(inv.cluster).toMatchObject({ bootstrap: LAB_VARIANTS[v].bootstrap });
    expect(!!inv.cluster!.tls).toBe(LAB_VARIANTS[v].tls);
  });

  it('inventories/lab.yaml loads and its hosts are the lab nodes', () => {
    const inv = loadInventory(path.join(root, 'inventories/lab.yaml'));
    for (const n of topologyOf(nspawnDefault, 3)) expect(inv.hosts.get(n.name)?.connection.address).toBe(n.address);
    expect(inv.cluster?.members).toEqual(['etcd0', 'etcd1', 'etcd2']);
  });

  it.each([
    ['example-static.yaml', 'static', false, ['etcd0', 'etcd1', 'etcd2']],
    ['example-dns.yaml', 'dns', false, ['etcd1', 'etcd2', 'etcd3']],
    ['example-discovery.yaml', 'discovery', false, ['etcd1', 'etcd2', 'etcd3']],
  ] as const)("%s loads: the guide's three machines 192.168.1.154/.156/.249, bootstrap %s", (file, bootstrap, tls, names) => {
    const inv = loadInventory(path.join(root, 'inventories', file));
    expect(inv.cluster).toMatchObject({ bootstrap, members: names });
    expect(!!inv.cluster!.tls).toBe(tls);
    expect(names.map((h) => inv.hosts.get(h)!.connection.address)).toEqual(['192.168.1.154', '192.168.1.156', '192.168.1.249']);
  });

  it('inventories/docker.yaml is what the docker lab generates, and loads', () => {
    const file = path.join(root, 'inventories/docker.yaml');
    expect(fs.readFileSync(file, 'utf8')).toBe(labInventoryYaml(topologyOf(dockerDefault, 3), '../.lab/docker/', 'static', 'docker'));
    expect(loadInventory(file).cluster).toMatchObject({ bootstrap: 'static', members: ['etcd0', 'etcd1', 'etcd2'] });
  });

  it('docker-compose.test.yml (with its default variables) describes the docker lab: names, hostnames, addresses, host keys', () => {
    // Compose's ${VAR:-default}, as a user running it by hand without variables gets it.
    const text = fs.readFileSync(path.join(root, 'docker-compose.test.yml'), 'utf8').replace(/\$\{(\w+):-([^}]*)\}/g, (_m, _v, d: string) => d);
    expect(text).not.toMatch(/\$\{/);
    const compose = parse(text, { merge: true }) as {
      services: Record<
        string,
        { hostname: string; image: string; volumes: string[]; cap_add: string[]; privileged?: boolean; networks: { lab: { ipv4_address: string } } }
      >;
      networks: { lab: { internal: boolean; ipam: { config: { subnet: string }[] } } };
    };
    const inv = loadInventory(path.join(root, 'inventories/docker.yaml'));
    const fromCompose = Object.entries(compose.services).map(([name, s]) => [name, s.hostname, s.networks.lab.ipv4_address]);
    const fromInventory = [...inv.hosts.values()].map((h) => [h.name, h.name, h.connection.address]);
    expect(new Set(fromCompose.map((x) => JSON.stringify(x)))).toEqual(new Set(fromInventory.map((x) => JSON.stringify(x))));
    expect(fromCompose.map(([n, , a]) => `${n} ${a}`).sort()).toEqual(
      topologyOf(dockerDefault, 3)
        .map((n) => `${n.name} ${n.address}`)
        .sort(),
    );
    expect(compose.networks.lab.ipam.config[0]!.subnet).toBe(`${dockerDefault.subnetPrefix}.0/24`);
    expect(compose.networks.lab.internal).toBe(true);
    for (const [name, s] of Object.entries(compose.services)) {
      expect(s.volumes).toContain(`./.lab/docker/hostkeys/${name}:/etc/lab-hostkeys:ro`);
      expect(s.volumes.some((v) => v.endsWith(':/srv/lab-repo:ro'))).toBe(true);
      expect(s.privileged).toBeUndefined();
      expect(s.image).toBe('provision-lab-node:latest');
    }
  });

  it('the etcd RPM spec has CentOS layout: config noreplace, data dir 0700 etcd, user made in %pre', () => {
    const spec = specFor(RPMS.find((r) => r.name === 'etcd')!);
    expect(spec).toMatch(/^%config\(noreplace\) %attr\(0644,root,root\) \/etc\/etcd\/etcd\.conf$/m);
    expect(spec).toMatch(/^%dir %attr\(0700,etcd,etcd\) \/var\/lib\/etcd$/m);
    expect(spec).toMatch(/%pre\n[^%]*useradd -r -g etcd/);
    expect(spec).toMatch(/\/usr\/lib\/systemd\/system\/etcd\.service/);
  });

  it('the repository has etcd 3.4.23 (epoch 1, what a plain install picks) and 3.5.16 (no epoch) with the same layout', () => {
    const etcds = RPMS.filter((r) => r.name === 'etcd');
    expect(etcds.map((r) => [r.epoch, r.version])).toEqual([
      [1, '3.4.23'],
      [undefined, '3.5.16'],
    ]);
    const [old, next] = etcds.map((r) => specFor(r));
    expect(old).toMatch(/^Epoch: 1$/m);
    expect(next).not.toMatch(/^Epoch:/m);
    const layout = (spec: string) => spec.split('%files')[1]!.replace(/.*\/usr\/bin\/etcdutl\n/, '');
    expect(layout(next!)).toBe(layout(old!));
  });
});
