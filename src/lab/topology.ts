/**
 * The one place that says what the lab looks like: names, addresses, paths, sizes.
 * Everything else (lab up, the generated inventory, tests, bench) reads from here.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Lab instance: 0 is the default lab. Other instances (PROVISION_LAB_INSTANCE=1..9) are
 * wholly separate labs (own bridge, subnet, namespaces, state, lock and .lab files) so that
 * two test runs can share a machine. They share the image cache.
 */
const instance = (() => {
  const raw = process.env.PROVISION_LAB_INSTANCE ?? '0';
  const n = Number(raw);
  if (!/^[0-9]$/.test(raw)) throw new Error(`PROVISION_LAB_INSTANCE must be a digit 0-9, not "${raw}"`);
  return n;
})();
const sfx = instance === 0 ? '' : String(instance);
const subnet = instance === 0 ? '10.213.7' : `10.214.${instance}`;

export const LAB = {
  instance,
  /** Host bridge and the lab subnet (a /24 used only inside this machine's namespaces). */
  bridge: `provlab${instance}`,
  subnetPrefix: subnet,
  bridgeAddress: `${subnet}.1`,
  prefixLength: 24,
  /** Node name prefixes for network namespaces and host-side veth ends (<= 15 chars). */
  netnsPrefix: `provlab${sfx}-`,
  vethPrefix: `pl${sfx}-`,
  /** Built once, reused, rebuilt when the recipe changes. Outside the git tree. */
  cacheDir: process.env.PROVISION_LAB_CACHE ?? '/var/cache/provision-lab',
  /** Per-lab runtime state: overlays, state file. */
  stateDir: `/var/lib/provision-lab${sfx}`,
  lockFile: `/run/provision-lab${sfx}.lock`,
  /** Where each node sees the yum repository (read-only bind mount). */
  repoMount: '/srv/lab-repo',
  defaultNodes: 3,
  maxNodes: 60,
  /** Non-root login user with passwordless sudo on every node. */
  adminUser: 'admin',
  /** Debian suite and mirror the image is bootstrapped from. */
  suite: 'bookworm',
  mirror: process.env.PROVISION_LAB_MIRROR ?? 'http://deb.debian.org/debian',
} as const;

export interface LabNode {
  name: string;
  address: string;
  role: 'etcd' | 'infra';
}

/** Default topology: N etcd nodes (etcd0..) plus one infrastructure node (DNS, discovery). */
export function topology(etcdNodes: number = LAB.defaultNodes): LabNode[] {
  const nodes: LabNode[] = [{ name: 'infra', address: `${LAB.subnetPrefix}.10`, role: 'infra' }];
  for (let i = 0; i < etcdNodes; i++) {
    nodes.push({ name: `etcd${i}`, address: `${LAB.subnetPrefix}.${11 + i}`, role: 'etcd' });
  }
  return nodes;
}

/** Project root (the folder with package.json), where `.lab/` holds keys and known_hosts. */
export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const labFilesDir = process.env.PROVISION_LAB_DIR ?? path.join(projectRoot, `.lab${sfx}`);

export const labFiles = {
  privateKey: path.join(labFilesDir, 'id_ed25519'),
  publicKey: path.join(labFilesDir, 'id_ed25519.pub'),
  knownHosts: path.join(labFilesDir, 'known_hosts'),
  inventory: path.join(labFilesDir, 'inventory.yaml'),
};

export const netnsName = (node: string) => LAB.netnsPrefix + node;
export const vethName = (node: string) => LAB.vethPrefix + node;
