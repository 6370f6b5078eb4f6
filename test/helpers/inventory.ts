/**
 * Inventories for fault tests: the lab's cluster (same name, token and settings as the lab's
 * own inventory, so switching between them changes nothing on the nodes) with connection
 * settings and per-host overrides of the test's choosing, written to a temp directory.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { lab } from './lab.js';

export interface InventoryOptions {
  /** Added to (or replacing) all.vars: connect_timeout, known_hosts, key_file, ... */
  vars?: Record<string, unknown>;
  /** Per-host settings, e.g. { etcd0: { user: 'someone', become: true } }. */
  hosts?: Record<string, Record<string, unknown>>;
  /** Package name of the cluster (default etcd). */
  packageName?: string;
  /** More keys of the cluster section (etcd_settings, extra_client_ports, members, retired, ...). */
  cluster?: Record<string, unknown>;
  /** The running lab's nodes to list in the etcd group (default: the 3-node lab's etcd nodes). */
  nodes?: string[];
}

const missing = (name: string): never => {
  throw new Error(`writeInventory: the running lab has no etcd node ${name}`);
};

export function writeInventory(dir: string, name: string, o: InventoryOptions = {}): string {
  const etcd = lab.topology(o.nodes ? lab.status().etcdNodes : 3).filter((n) => n.role === 'etcd');
  const members = o.nodes ? o.nodes.map((name) => etcd.find((n) => n.name === name) ?? missing(name)) : etcd;
  const doc = {
    all: {
      vars: {
        user: 'root',
        key_file: lab.labFiles.privateKey,
        known_hosts: lab.labFiles.knownHosts,
        host_key_checking: 'strict',
        ...o.vars,
      },
      children: {
        etcd: { hosts: Object.fromEntries(members.map((n) => [n.name, { address: n.address, ...o.hosts?.[n.name] }])) },
      },
    },
    cluster: {
      name: 'lab',
      members: 'etcd',
      bootstrap: 'static',
      token: 'lab-etcd-cluster',
      data_dir: '/var/lib/etcd',
      client_port: 2379,
      peer_port: 2380,
      listen: 'address',
      package: { name: o.packageName ?? 'etcd' },
      ...o.cluster,
    },
  };
  const file = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(file, YAML.stringify(doc));
  return file;
}
