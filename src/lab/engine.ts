/**
 * What a lab engine is: the node interface `provision lab` and the tests drive, implemented
 * once with systemd-nspawn (nspawn.ts) and once with Docker (docker.ts). The parts both share
 * (state file, lock, the user's key, known_hosts and inventories, waiting for sshd) are here.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ProvisionError } from '../errors.js';
import { LAB_VARIANTS, labInventoryYaml, variantCluster, variantFile, type LabVariant } from './inventory.js';
import { sleep, type RunResult } from './sh.js';
import { filesOf, projectRoot, type EngineName, type LabConfig, type LabFiles, type LabNode } from './topology.js';

/** How a node's system is set up beyond the bare image (`lab up --locale --firewalld`). */
export interface NodeOptions {
  /** Login locale of root and the admin user (LANG in their login environment), e.g. zh_CN.UTF-8. */
  locale?: string;
  /** firewalld enabled and running, with its default zone (public: only ssh allowed in). */
  firewalld?: boolean;
}

export interface UpOptions extends NodeOptions {
  nodes?: number;
  log?: (line: string) => void;
}

export interface LabInfo {
  nodes: (LabNode & { running: boolean })[];
  inventory: string;
  privateKey: string;
  knownHosts: string;
}

export interface NodeStatus extends LabNode {
  running: boolean;
  /** The node's main process on the host (nspawn: systemd-nspawn; docker: the container's init). */
  pid?: number;
}

export interface LabStatus {
  up: boolean;
  etcdNodes: number;
  nodes: NodeStatus[];
}

export interface LabEngine {
  readonly name: EngineName;
  readonly config: LabConfig;
  readonly files: LabFiles;
  topology(etcdNodes?: number): LabNode[];
  /** Brings the lab up (idempotent: a running lab of the same size is checked and kept). */
  up(opts?: UpOptions): Promise<LabInfo>;
  /** Removes every trace of the lab. */
  down(opts?: { log?: (line: string) => void }): Promise<void>;
  status(): LabStatus;
  stopNode(name: string): Promise<void>;
  startNode(name: string): Promise<void>;
  restartNode(name: string): Promise<void>;
  /** Back to the bare image: same name, address and host keys; with `opts`, set up as they say. */
  resetNode(name: string, opts?: NodeOptions): Promise<void>;
  /** Cut or restore one node's network (the host side of its link goes down or up). */
  cutNetwork(name: string): Promise<void>;
  restoreNetwork(name: string): Promise<void>;
  /** Runs argv as root inside a running node, without SSH. */
  exec(name: string, argv: string[]): Promise<RunResult>;
  /** The host processes whose trees make up each running node (for measuring memory). */
  nodeProcessRoots(): number[];
}

export const alive = (pid: number | undefined): boolean => {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** The lab's state file, written atomically. */
export function stateStore<S>(cfg: LabConfig) {
  const file = path.join(cfg.stateDir, 'state.json');
  return {
    file,
    read(): S | undefined {
      try {
        return JSON.parse(fs.readFileSync(file, 'utf8')) as S;
      } catch {
        return undefined;
      }
    },
    write(s: S): void {
      fs.mkdirSync(cfg.stateDir, { recursive: true });
      fs.writeFileSync(file + '.tmp', JSON.stringify(s, null, 2));
      fs.renameSync(file + '.tmp', file);
    },
    remove(): void {
      fs.rmSync(file, { force: true });
    },
  };
}

/** One lab command at a time per lab. */
export async function withLock<T>(cfg: LabConfig, fn: () => Promise<T>): Promise<T> {
  const lock = cfg.lockFile;
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
      await sleep(100);
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

export function checkCount(cfg: LabConfig, count: number): void {
  if (!Number.isInteger(count) || count < 1 || count > cfg.maxNodes) {
    throw new ProvisionError('USAGE', `--nodes must be a whole number from 1 to ${cfg.maxNodes}`);
  }
}

/** The user's SSH key pair for the lab (made once; ssh-keygen writes the private key 0600). */
export function ensureLabKey(cfg: LabConfig): void {
  const files = filesOf(cfg);
  fs.mkdirSync(cfg.filesDir, { recursive: true, mode: 0o700 });
  if (fs.existsSync(files.privateKey) && fs.existsSync(files.publicKey)) return;
  fs.rmSync(files.privateKey, { force: true });
  fs.rmSync(files.publicKey, { force: true });
  const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'provision-lab', '-f', files.privateKey]);
  if (r.status !== 0) throw new ProvisionError('LAB', `ssh-keygen failed: ${r.stderr}`);
}

/** known_hosts with each node's real host keys (`address,name keytype key`). */
export function writeKnownHosts(cfg: LabConfig, nodes: LabNode[], keys: Map<string, string[]>): void {
  const file = filesOf(cfg).knownHosts;
  const lines = nodes.flatMap((n) => (keys.get(n.name) ?? []).map((k) => `${n.address},${n.name} ${k}`));
  fs.writeFileSync(`${file}.tmp`, lines.join('\n') + '\n', { mode: 0o600 });
  fs.renameSync(`${file}.tmp`, file);
}

/** The lab's inventories (one per bootstrap variant) beside its key. */
export function writeInventories(cfg: LabConfig, nodes: LabNode[]): void {
  for (const v of Object.keys(LAB_VARIANTS) as LabVariant[]) {
    fs.writeFileSync(path.join(cfg.filesDir, variantFile(v, 'inventory')), labInventoryYaml(nodes, '', v, cfg.engine));
  }
}
export function removeInventories(cfg: LabConfig): void {
  for (const v of Object.keys(LAB_VARIANTS) as LabVariant[]) fs.rmSync(path.join(cfg.filesDir, variantFile(v, 'inventory')), { force: true });
}

/**
 * How busy the machine is: the 1-minute load average per CPU, at least 1. A wait for a node
 * is stretched by it, so that a machine that other work keeps busy gets more time, never a
 * failure (60 nodes booting at once on 2 cores drove the load to 85).
 */
export function loadFactor(): number {
  return Math.max(1, os.loadavg()[0]! / Math.max(1, os.availableParallelism()));
}

/** At most this many nodes boot at once (PROVISION_LAB_BOOT_PARALLEL, default 3 per CPU). */
export function bootParallelism(): number {
  const raw = process.env.PROVISION_LAB_BOOT_PARALLEL;
  const n = raw ? Number(raw) : 3 * os.availableParallelism();
  if (!Number.isInteger(n) || n < 1) throw new ProvisionError('USAGE', `PROVISION_LAB_BOOT_PARALLEL must be a whole number from 1, not "${raw}"`);
  return n;
}

/** `fn` over `items`, at most `limit` at once; rejects with the first failure once all settled. */
export async function mapLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++]!;
      await fn(item).catch((e: unknown) => errors.push(e));
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (errors.length) throw errors[0];
}

/**
 * Resolves when the node's sshd answers with its banner. `gone` says why the node can no
 * longer answer (it exited, with its last console lines), or undefined while it may. The wait
 * is `timeoutMs` on an idle machine, stretched by the load (loadFactor, up to 10 times).
 */
export async function waitForSsh(node: LabNode, timeoutMs: number, gone: () => Promise<string | undefined>, hint: string): Promise<void> {
  const start = Date.now();
  let allowed = timeoutMs;
  while (Date.now() - start < allowed) {
    const why = await gone();
    if (why) throw new ProvisionError('LAB', `node ${node.name} exited while booting; ${why}`);
    if (await sshBanner(node.address)) return;
    await sleep(100);
    allowed = Math.max(allowed, timeoutMs * Math.min(10, loadFactor()));
  }
  throw new ProvisionError(
    'LAB',
    `node ${node.name} (${node.address}) did not answer on port 22 within ${Math.round(allowed / 1000)}s (load average ${os.loadavg()[0]!.toFixed(1)})`,
    { hint },
  );
}

function sshBanner(address: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: address, port: 22, timeout: 500 });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.once('data', (d) => done(d.toString().startsWith('SSH-')));
    sock.once('error', () => done(false));
    sock.once('timeout', () => done(false));
  });
}

/** Removes the discovery tokens recorded for the lab's clusters (beside its inventories). */
export function forgetLabTokens(cfg: LabConfig): void {
  // inventories/lab*.yaml point at the default nspawn lab (instance 0) only.
  const dirs = cfg.instance === 0 && cfg.engine === 'nspawn' ? [cfg.filesDir, path.join(projectRoot, 'inventories')] : [cfg.filesDir];
  for (const dir of dirs) {
    for (const v of Object.keys(LAB_VARIANTS) as LabVariant[]) fs.rmSync(path.join(dir, '.provision-state', `${variantCluster(v)}.json`), { force: true });
  }
}
