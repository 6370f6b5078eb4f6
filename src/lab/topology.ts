/**
 * The one place that says what the lab looks like: names, addresses, paths, sizes.
 * Everything else (lab up, the generated inventory, tests, bench) reads from here.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * How the lab runs its nodes: systemd-nspawn containers (the default, needs root on a Linux
 * host with systemd-nspawn) or Docker containers (docker-compose.test.yml). Both give the same
 * topology from the same node image; each engine's lab has its own subnet, state and files, so
 * both can be up at once.
 */
export const ENGINES = ['nspawn', 'docker'] as const;
export type EngineName = (typeof ENGINES)[number];

export function parseEngine(raw: string, what = '--engine'): EngineName {
  if (!(ENGINES as readonly string[]).includes(raw)) throw new Error(`${what} must be one of ${ENGINES.join(', ')}, not "${raw}"`);
  return raw as EngineName;
}

/** The engine lab commands and tests use when none is named: PROVISION_LAB_ENGINE, else nspawn. */
export const defaultEngine = (): EngineName => parseEngine(process.env.PROVISION_LAB_ENGINE ?? 'nspawn', 'PROVISION_LAB_ENGINE');

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

/** Project root (the folder with package.json), where `.lab/` holds keys and known_hosts. */
export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The lab of an engine; another instance than this process's own is named only to find its state (test runs that use two). */
export function labConfig(engine: EngineName, inst: number = instance) {
  const docker = engine === 'docker';
  const sfx = inst === 0 ? '' : String(inst);
  const filesRoot = process.env.PROVISION_LAB_DIR ?? path.join(projectRoot, `.lab${sfx}`);
  // The docker lab's default subnet is the one docker-compose.test.yml names by default.
  const subnet = docker ? (inst === 0 ? '10.213.8' : `10.216.${inst}`) : inst === 0 ? '10.213.7' : `10.214.${inst}`;
  const esfx = docker ? `${sfx}-docker` : sfx;
  return {
    engine,
    instance: inst,
    /** Host bridge and the lab subnet (a /24 used only inside this machine). */
    bridge: docker ? `provdock${inst}` : `provlab${inst}`,
    subnetPrefix: subnet,
    bridgeAddress: `${subnet}.1`,
    prefixLength: 24,
    /** nspawn: node name prefixes for network namespaces and host-side veth ends (<= 15 chars). */
    netnsPrefix: `provlab${sfx}-`,
    vethPrefix: `pl${sfx}-`,
    /** docker: the compose project. */
    project: `provision-lab${sfx}`,
    /** Built once, reused, rebuilt when the recipe changes. Outside the git tree. */
    cacheDir: process.env.PROVISION_LAB_CACHE ?? '/var/cache/provision-lab',
    /** Per-lab runtime state: overlays, state file. */
    stateDir: `/var/lib/provision-lab${esfx}`,
    lockFile: `/run/provision-lab${esfx}.lock`,
    /** Keys, known_hosts, inventories for the user: .lab/ (nspawn), .lab/docker/ (docker). */
    filesDir: docker ? path.join(filesRoot, 'docker') : filesRoot,
    /** Where each node sees the yum repository (read-only bind mount). */
    repoMount: '/srv/lab-repo',
    defaultNodes: 3,
    /** nspawn: 200 etcd nodes fit the /24 (.11-.210); docker: what was tried. */
    maxNodes: docker ? 60 : 200,
    /** Non-root login user with passwordless sudo on every node. */
    adminUser: 'admin',
    /** Debian suite and mirror the image is bootstrapped from. */
    suite: 'bookworm',
    mirror: process.env.PROVISION_LAB_MIRROR ?? 'http://deb.debian.org/debian',
  } as const;
}
export type LabConfig = ReturnType<typeof labConfig>;

/** The lab of the default engine (what tests and `provision lab` without --engine use). */
export const LAB = labConfig(defaultEngine());
/** The nspawn engine's lab, whatever the default. */
export const NSPAWN = labConfig('nspawn');

export interface LabNode {
  name: string;
  address: string;
  role: 'etcd' | 'infra';
}

/** Default topology: N etcd nodes (etcd0..) plus one infrastructure node (DNS, discovery). */
export function topologyOf(cfg: LabConfig, etcdNodes: number = cfg.defaultNodes): LabNode[] {
  const nodes: LabNode[] = [{ name: 'infra', address: `${cfg.subnetPrefix}.10`, role: 'infra' }];
  for (let i = 0; i < etcdNodes; i++) {
    nodes.push({ name: `etcd${i}`, address: `${cfg.subnetPrefix}.${11 + i}`, role: 'etcd' });
  }
  return nodes;
}
export const topology = (etcdNodes?: number): LabNode[] => topologyOf(LAB, etcdNodes);

export interface LabFiles {
  privateKey: string;
  publicKey: string;
  knownHosts: string;
  inventory: string;
}
export const filesOf = (cfg: LabConfig): LabFiles => ({
  privateKey: path.join(cfg.filesDir, 'id_ed25519'),
  publicKey: path.join(cfg.filesDir, 'id_ed25519.pub'),
  knownHosts: path.join(cfg.filesDir, 'known_hosts'),
  inventory: path.join(cfg.filesDir, 'inventory.yaml'),
});

export const labFilesDir = LAB.filesDir;
export const labFiles = filesOf(LAB);

export const netnsName = (node: string) => NSPAWN.netnsPrefix + node;
export const vethName = (node: string) => NSPAWN.vethPrefix + node;
