/**
 * The nspawn lab engine: each node an overlay on the shared image, booted by systemd-nspawn
 * in its own network namespace on the lab's host bridge.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ProvisionError } from '../errors.js';
import { ensureImage, ensureNodeLayers, ensureRepo, repoDir } from './build.js';
import {
  bootParallelism,
  checkCount,
  ensureLabKey,
  mapLimit,
  forgetLabTokens,
  removeInventories,
  stateStore,
  withLock,
  writeInventories,
  writeKnownHosts,
  type LabEngine,
  type LabInfo,
  type LabStatus,
  type NodeOptions,
  type UpOptions,
} from './engine.js';
import { allowLabBridge, checkNodesReachEachOther, removeLabBridgeRule } from './forwarding.js';
import { createNodeNetwork, ensureBridge, leftoverNetwork, removeBridge, removeNodeNetwork, setNodeLink } from './network.js';
import {
  alive,
  boot,
  mountOverlay,
  nodeDir,
  nodeExec,
  personalise,
  checkLocale,
  shutdown,
  strayNspawnPids,
  unmountOverlay,
  waitForSsh,
  isMounted,
  mergedDir,
} from './node.js';
import { preflight } from './preflight.js';
import { NSPAWN, filesOf, netnsName, topologyOf, type LabNode } from './topology.js';

const LAB = NSPAWN;
const labFiles = filesOf(LAB);
const topology = (n?: number) => topologyOf(LAB, n);

interface NodeState extends LabNode, NodeOptions {
  pid?: number;
}
interface LabState {
  etcdNodes: number;
  nodes: NodeState[];
  createdAt: string;
}

const store = stateStore<LabState>(LAB);
const stateFile = store.file;
const readState = store.read;
const writeState = store.write;

/** Brings the lab up (idempotent: a running lab of the same size is checked and kept). */
async function up(opts: UpOptions = {}): Promise<LabInfo> {
  const count = opts.nodes ?? LAB.defaultNodes;
  const log = opts.log ?? (() => {});
  checkCount(LAB, count);
  checkLocale(opts.locale);
  await preflight(log);
  return withLock(LAB, async () => {
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
    ensureLabKey(LAB);
    const pub = fs.readFileSync(labFiles.publicKey, 'utf8');
    // --locale and --firewalld set up the etcd nodes; a node already up keeps what it has
    // (a change of them would need a fresh node: `lab reset NODE` with the options).
    const asked: NodeOptions = { ...(opts.locale ? { locale: opts.locale } : {}), ...(opts.firewalld ? { firewalld: true } : {}) };
    const nodes: NodeState[] = topology(count).map((n) => {
      const e = existing?.nodes.find((x) => x.name === n.name);
      if (e && alive(e.pid) && n.role === 'etcd' && Object.keys(asked).length && (e.locale !== asked.locale || !!e.firewalld !== !!asked.firewalld)) {
        throw new ProvisionError('LAB', `lab node ${n.name} is up with ${describeOptions(e)}, not ${describeOptions(asked)}`, {
          hint: `provision lab reset ${n.name}${optionFlags(asked)} (back to a bare node set up so), or provision lab down first`,
        });
      }
      const own: NodeOptions = e ? { locale: e.locale, firewalld: e.firewalld } : n.role === 'etcd' ? asked : {};
      return { ...n, ...own, pid: e?.pid };
    });
    const state: LabState = { etcdNodes: count, nodes, createdAt: existing?.createdAt ?? new Date().toISOString() };
    writeState(state);
    await ensureBridge();
    await allowLabBridge(LAB, log);
    const infra = nodes.find((n) => n.role === 'infra')!;
    const hostKeys = new Map<string, string[]>();
    // Networks, overlays and host keys are cheap: all at once. Booting is not (systemd, sshd
    // and their units in every node): a bounded number of nodes boot at once, each until its
    // sshd answers, so a big lab on a small machine comes up in waves instead of all fighting
    // for the CPU (and its waits stretch with the load; see waitForSsh).
    await Promise.all(
      nodes.map(async (n) => {
        await createNodeNetwork(n.name, n.address);
        await mountOverlay(n.name, await lowerFor(n, rootfs, log));
        hostKeys.set(n.name, await personalise(n, infra.address, pub, n));
      }),
    );
    writeKnownHosts(LAB, nodes, hostKeys);
    writeInventories(LAB, nodes);
    const parallel = bootParallelism();
    if (nodes.length > parallel) log(`booting ${nodes.length} nodes, ${parallel} at a time`);
    let answered = 0;
    await mapLimit(nodes, parallel, async (n) => {
      if (!alive(n.pid)) {
        n.pid = boot(n, repo);
        writeState(state);
      }
      await waitForSsh(n, 60_000, n.pid!);
      if (nodes.length > parallel && ++answered % 10 === 0) log(`${answered} of ${nodes.length} nodes answer`);
    });
    writeState(state);
    if (nodes.length > 1) await checkNodesReachEachOther(LAB, netnsName(nodes[1]!.name), nodes[0]!);
    const shown = nodes.length > 10 ? [...nodes.slice(0, 4), undefined, nodes.at(-1)!] : nodes;
    log(`lab up: ${nodes.length} nodes (${shown.map((n) => (n ? `${n.name} ${n.address}` : '...')).join(', ')})`);
    return info(state);
  });
}

/** A node's lower layers: the image, with the optional layer over it when its options need it. */
const lowerFor = (o: NodeOptions, rootfs: string, log?: (l: string) => void): Promise<string> | string =>
  o.locale || o.firewalld ? ensureNodeLayers(log) : rootfs;

const describeOptions = (o: NodeOptions) => [o.locale ? `locale ${o.locale}` : 'no login locale', o.firewalld ? 'firewalld' : 'no firewalld'].join(' and ');
const optionFlags = (o: NodeOptions) => `${o.locale ? ` --locale ${o.locale}` : ''}${o.firewalld ? ' --firewalld' : ''}`;

function info(state: LabState): LabInfo {
  return {
    nodes: state.nodes.map(({ pid, locale: _l, firewalld: _f, ...n }) => ({ ...n, running: alive(pid) })),
    inventory: labFiles.inventory,
    privateKey: labFiles.privateKey,
    knownHosts: labFiles.knownHosts,
  };
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
async function down(opts: { log?: (line: string) => void } = {}): Promise<void> {
  if (process.getuid?.() !== 0) throw new ProvisionError('LAB', 'the lab needs root', { hint: 'run it with sudo' });
  await withLock(LAB, async () => {
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
    await removeLabBridgeRule(LAB);
    fs.rmSync(stateFile, { force: true });
    removeInventories(LAB);
    // The discovery etcd went with the infra node: the tokens recorded for lab clusters are gone.
    forgetLabTokens(LAB);
    opts.log?.(`lab down: removed ${names.size} nodes`);
  });
}

function status(): LabStatus {
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
async function stopNode(name: string): Promise<void> {
  await withLock(LAB, async () => {
    const { state, node } = findNode(name);
    await shutdown(node.pid);
    node.pid = undefined;
    writeState(state);
  });
}

async function startNode(name: string): Promise<void> {
  await withLock(LAB, async () => {
    const { state, node } = findNode(name);
    if (!alive(node.pid)) node.pid = boot(node, repoDir());
    writeState(state);
    await waitForSsh(node, 60_000, node.pid!);
  });
}

async function restartNode(name: string): Promise<void> {
  await stopNode(name);
  await startNode(name);
}

const cutNetwork = (name: string) => setNodeLink(findNode(name).node.name, false);
const restoreNetwork = (name: string) => setNodeLink(findNode(name).node.name, true);

/** Runs argv as root inside a running node, without SSH. */
async function exec(name: string, argv: string[]) {
  const { node } = findNode(name);
  if (!alive(node.pid)) throw new ProvisionError('LAB', `node ${name} is not running`);
  return nodeExec(node.pid!, argv);
}

/**
 * Takes a node back to the bare image (same name, address and host keys): for tests that
 * start from bare nodes without a whole lab down/up.
 */
async function resetNode(name: string, opts: NodeOptions = {}): Promise<void> {
  checkLocale(opts.locale);
  await withLock(LAB, async () => {
    const { state, node } = findNode(name);
    node.locale = opts.locale;
    node.firewalld = opts.firewalld || undefined;
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
    await mountOverlay(name, await lowerFor(node, await ensureImage()));
    for (const f of fs.readdirSync(keep)) {
      fs.copyFileSync(path.join(keep, f), path.join(mergedDir(name), 'etc/ssh', f));
      fs.chmodSync(path.join(mergedDir(name), 'etc/ssh', f), f.endsWith('.pub') ? 0o644 : 0o600);
    }
    fs.rmSync(keep, { recursive: true, force: true });
    const infra = state.nodes.find((n) => n.role === 'infra')!;
    await personalise(node, infra.address, fs.readFileSync(labFiles.publicKey, 'utf8'), node);
    node.pid = boot(node, repoDir());
    writeState(state);
    await waitForSsh(node, 60_000, node.pid);
  });
}

export const nspawnEngine: LabEngine = {
  name: 'nspawn',
  config: LAB,
  files: labFiles,
  topology,
  up,
  down,
  status,
  stopNode,
  startNode,
  restartNode,
  resetNode,
  cutNetwork,
  restoreNetwork,
  exec,
  nodeProcessRoots: () =>
    status()
      .nodes.map((n) => n.pid)
      .filter((p): p is number => !!p && alive(p)),
};
