/**
 * The local lab as a library: up, down, status and per-node controls for fault tests.
 * `provision lab ...` (src/cli/lab.ts) is a thin wrapper over these.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ProvisionError } from '../errors.js';
import { ensureImage, ensureRepo, repoDir } from './build.js';
import { LAB_VARIANTS, labInventoryYaml, variantCluster, variantFile, type LabVariant } from './inventory.js';
import { createNodeNetwork, ensureBridge, leftoverNetwork, removeBridge, removeNodeNetwork, setNodeLink } from './network.js';
import {
  alive,
  boot,
  mountOverlay,
  nodeDir,
  nodeExec,
  personalise,
  shutdown,
  strayNspawnPids,
  unmountOverlay,
  waitForSsh,
  isMounted,
  mergedDir,
} from './node.js';
import { preflight } from './preflight.js';
import { LAB, type LabNode, labFiles, labFilesDir, projectRoot, topology } from './topology.js';

export { LAB, labFiles, topology, type LabNode } from './topology.js';

interface NodeState extends LabNode {
  pid?: number;
}
interface LabState {
  etcdNodes: number;
  nodes: NodeState[];
  createdAt: string;
}

const stateFile = path.join(LAB.stateDir, 'state.json');
const readState = (): LabState | undefined => {
  try {
    return JSON.parse(fs.readFileSync(stateFile, 'utf8')) as LabState;
  } catch {
    return undefined;
  }
};
const writeState = (s: LabState) => {
  fs.mkdirSync(LAB.stateDir, { recursive: true });
  fs.writeFileSync(stateFile + '.tmp', JSON.stringify(s, null, 2));
  fs.renameSync(stateFile + '.tmp', stateFile);
};

/** One lab command at a time on this machine. */
async function withLock<T>(fn: () => Promise<T>): Promise<T> {
  const lock = LAB.lockFile;
  for (let i = 0; ; i++) {
    try {
      fs.writeFileSync(lock, String(process.pid), { flag: 'wx' });
      break;
    } catch {
      const holder = Number(fs.readFileSync(lock, 'utf8') || 0);
      if (!alive(holder)) {
        fs.rmSync(lock, { force: true });
        continue;
      }
      if (i > 600) throw new ProvisionError('LAB', `another lab command (pid ${holder}) is running`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

export interface UpOptions {
  nodes?: number;
  log?: (line: string) => void;
}

export interface LabInfo {
  nodes: (LabNode & { running: boolean })[];
  inventory: string;
  privateKey: string;
  knownHosts: string;
}

/** Brings the lab up (idempotent: a running lab of the same size is checked and kept). */
export async function up(opts: UpOptions = {}): Promise<LabInfo> {
  const count = opts.nodes ?? LAB.defaultNodes;
  const log = opts.log ?? (() => {});
  if (!Number.isInteger(count) || count < 1 || count > LAB.maxNodes) {
    throw new ProvisionError('USAGE', `--nodes must be a whole number from 1 to ${LAB.maxNodes}`);
  }
  await preflight(log);
  return withLock(async () => {
    const existing = readState();
    if (existing && existing.etcdNodes !== count) {
      throw new ProvisionError('LAB', `a lab with ${existing.etcdNodes} etcd nodes is already up`, {
        hint: 'run `provision lab down` first, or `provision lab up` with the same --nodes',
      });
    }
    fs.mkdirSync(LAB.cacheDir, { recursive: true });
    raiseInotifyLimit(count + 1, log);
    const rootfs = await ensureImage(log);
    const repo = await ensureRepo(log);
    ensureLabKey();
    const pub = fs.readFileSync(labFiles.publicKey, 'utf8');
    const nodes: NodeState[] = topology(count).map((n) => ({ ...n, pid: existing?.nodes.find((e) => e.name === n.name)?.pid }));
    const state: LabState = { etcdNodes: count, nodes, createdAt: existing?.createdAt ?? new Date().toISOString() };
    writeState(state);
    await ensureBridge();
    const infra = nodes.find((n) => n.role === 'infra')!;
    const hostKeys = new Map<string, string[]>();
    await Promise.all(
      nodes.map(async (n) => {
        await createNodeNetwork(n.name, n.address);
        await mountOverlay(n.name, rootfs);
        hostKeys.set(n.name, await personalise(n, infra.address, pub));
        if (!alive(n.pid)) n.pid = boot(n, repo);
      }),
    );
    writeState(state);
    writeKnownHosts(nodes, hostKeys);
    for (const v of Object.keys(LAB_VARIANTS) as LabVariant[])
      fs.writeFileSync(path.join(labFilesDir, variantFile(v, 'inventory')), labInventoryYaml(nodes, '', v));
    await Promise.all(nodes.map((n) => waitForSsh(n, 60_000, n.pid!)));
    log(`lab up: ${nodes.length} nodes (${nodes.map((n) => `${n.name} ${n.address}`).join(', ')})`);
    return info(state);
  });
}

function info(state: LabState): LabInfo {
  return {
    nodes: state.nodes.map(({ pid, ...n }) => ({ ...n, running: alive(pid) })),
    inventory: labFiles.inventory,
    privateKey: labFiles.privateKey,
    knownHosts: labFiles.knownHosts,
  };
}

function ensureLabKey(): void {
  fs.mkdirSync(labFilesDir, { recursive: true, mode: 0o700 });
  if (fs.existsSync(labFiles.privateKey) && fs.existsSync(labFiles.publicKey)) return;
  fs.rmSync(labFiles.privateKey, { force: true });
  fs.rmSync(labFiles.publicKey, { force: true });
  // ssh-keygen writes the private key with mode 0600.
  const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'provision-lab', '-f', labFiles.privateKey]);
  if (r.status !== 0) throw new ProvisionError('LAB', `ssh-keygen failed: ${r.stderr}`);
}

function writeKnownHosts(nodes: LabNode[], keys: Map<string, string[]>): void {
  const lines = nodes.flatMap((n) => (keys.get(n.name) ?? []).map((k) => `${n.address},${n.name} ${k}`));
  const tmp = `${labFiles.knownHosts}.tmp`;
  fs.writeFileSync(tmp, lines.join('\n') + '\n', { mode: 0o600 });
  fs.renameSync(tmp, labFiles.knownHosts);
}

/**
 * systemd in every node needs several inotify instances, all counted against root on the
 * host; at Debian's default of 128 in all, booting about 20 nodes at once fails (systemd
 * exits at start). Raised, never lowered, with a line saying so.
 */
function raiseInotifyLimit(nodes: number, log: (line: string) => void): void {
  const file = '/proc/sys/fs/inotify/max_user_instances';
  const want = 512 + 32 * nodes;
  try {
    const now = Number(fs.readFileSync(file, 'utf8').trim());
    if (now >= want) return;
    fs.writeFileSync(file, String(want));
    log(`raised fs.inotify.max_user_instances from ${now} to ${want} (each node's systemd needs several)`);
  } catch {
    // Not writable here: a large lab may then fail to boot, and says which node.
  }
}

/** Removes every trace of the lab: processes, mounts, namespaces, links, node files. */
export async function down(opts: { log?: (line: string) => void } = {}): Promise<void> {
  if (process.getuid?.() !== 0) throw new ProvisionError('LAB', 'the lab needs root', { hint: 'run it with sudo' });
  await withLock(async () => {
    const state = readState();
    const pids = new Set<number>([...(state?.nodes.map((n) => n.pid ?? 0) ?? []), ...strayNspawnPids()].filter((p) => p > 0));
    await Promise.all([...pids].map((p) => shutdown(p)));
    const nodesRoot = path.join(LAB.stateDir, 'nodes');
    const names = new Set<string>([...(state?.nodes.map((n) => n.name) ?? []), ...(fs.existsSync(nodesRoot) ? fs.readdirSync(nodesRoot) : [])]);
    const left = await leftoverNetwork();
    for (const ns of left.namespaces) names.add(ns.slice(LAB.netnsPrefix.length));
    for (const l of left.links) names.add(l.slice(LAB.vethPrefix.length));
    await Promise.all(
      [...names].map(async (name) => {
        await unmountOverlay(name);
        await removeNodeNetwork(name);
        if (!(await isMounted(mergedDir(name)))) fs.rmSync(nodeDir(name), { recursive: true, force: true });
      }),
    );
    await removeBridge();
    fs.rmSync(stateFile, { force: true });
    for (const v of Object.keys(LAB_VARIANTS) as LabVariant[]) fs.rmSync(path.join(labFilesDir, variantFile(v, 'inventory')), { force: true });
    // The discovery etcd went with the infra node: the tokens recorded for lab clusters are gone.
    forgetLabTokens();
    opts.log?.(`lab down: removed ${names.size} nodes`);
  });
}

/** Removes the discovery tokens recorded for the lab's clusters (beside .lab/ and inventories/ lab files). */
export function forgetLabTokens(): void {
  // inventories/lab*.yaml point at the default lab (instance 0) only.
  for (const dir of LAB.instance === 0 ? [labFilesDir, path.join(projectRoot, 'inventories')] : [labFilesDir]) {
    for (const v of Object.keys(LAB_VARIANTS) as LabVariant[]) fs.rmSync(path.join(dir, '.provision-state', `${variantCluster(v)}.json`), { force: true });
  }
}

export interface NodeStatus extends LabNode {
  running: boolean;
  pid?: number;
}

export function status(): { up: boolean; etcdNodes: number; nodes: NodeStatus[] } {
  const s = readState();
  if (!s) return { up: false, etcdNodes: 0, nodes: [] };
  return { up: true, etcdNodes: s.etcdNodes, nodes: s.nodes.map((n) => ({ ...n, running: alive(n.pid) })) };
}

function findNode(name: string): { state: LabState; node: NodeState } {
  const state = readState();
  const node = state?.nodes.find((n) => n.name === name);
  if (!state || !node) throw new ProvisionError('USAGE', `no lab node named ${name}`, { hint: 'see `provision lab status`' });
  return { state, node };
}

/** Controls for fault tests. */
export async function stopNode(name: string): Promise<void> {
  await withLock(async () => {
    const { state, node } = findNode(name);
    await shutdown(node.pid);
    node.pid = undefined;
    writeState(state);
  });
}

export async function startNode(name: string): Promise<void> {
  await withLock(async () => {
    const { state, node } = findNode(name);
    if (!alive(node.pid)) node.pid = boot(node, repoDir());
    writeState(state);
    await waitForSsh(node, 60_000, node.pid!);
  });
}

export async function restartNode(name: string): Promise<void> {
  await stopNode(name);
  await startNode(name);
}

export const cutNetwork = (name: string) => setNodeLink(findNode(name).node.name, false);
export const restoreNetwork = (name: string) => setNodeLink(findNode(name).node.name, true);

/** Runs argv as root inside a running node, without SSH. */
export async function exec(name: string, argv: string[]) {
  const { node } = findNode(name);
  if (!alive(node.pid)) throw new ProvisionError('LAB', `node ${name} is not running`);
  return nodeExec(node.pid!, argv);
}

/**
 * Takes a node back to the bare image (same name, address and host keys): for tests that
 * start from bare nodes without a whole lab down/up.
 */
export async function resetNode(name: string): Promise<void> {
  await withLock(async () => {
    const { state, node } = findNode(name);
    await shutdown(node.pid);
    node.pid = undefined;
    writeState(state);
    const upper = path.join(nodeDir(name), 'upper');
    const keep = path.join(nodeDir(name), 'hostkeys');
    fs.rmSync(keep, { recursive: true, force: true });
    fs.mkdirSync(keep);
    for (const f of fs.readdirSync(path.join(upper, 'etc/ssh')).filter((f) => f.startsWith('ssh_host_'))) {
      fs.copyFileSync(path.join(upper, 'etc/ssh', f), path.join(keep, f));
    }
    await unmountOverlay(name);
    fs.rmSync(upper, { recursive: true, force: true });
    fs.rmSync(path.join(nodeDir(name), 'work'), { recursive: true, force: true });
    await mountOverlay(name, await ensureImage());
    for (const f of fs.readdirSync(keep)) {
      fs.copyFileSync(path.join(keep, f), path.join(mergedDir(name), 'etc/ssh', f));
      fs.chmodSync(path.join(mergedDir(name), 'etc/ssh', f), f.endsWith('.pub') ? 0o644 : 0o600);
    }
    fs.rmSync(keep, { recursive: true, force: true });
    const infra = state.nodes.find((n) => n.role === 'infra')!;
    await personalise(node, infra.address, fs.readFileSync(labFiles.publicKey, 'utf8'));
    node.pid = boot(node, repoDir());
    writeState(state);
    await waitForSsh(node, 60_000, node.pid);
  });
}
