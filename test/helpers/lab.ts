/**
 * Shared lab access for end-to-end tests: real nodes, real OpenSSH client. The lab is the
 * default engine's (PROVISION_LAB_ENGINE: vitest's "docker" project runs some e2e files on the
 * docker lab, the "nspawn" project all of them on the nspawn lab).
 */
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as labImpl from '../../src/lab/index.js';
import { RUN_MARK } from './run-mark.js';

export { readRunMark, runMarkOf } from './run-mark.js';

/**
 * `ssh()` below keeps one OpenSSH master connection per node and user (ControlMaster), so a
 * check costs a session, not a new process pair and key exchange (these were 15% of an e2e
 * file's CPU). A master must never outlive the node it talks to: a stopped, reset or cut node
 * would leave it hanging, and the next check with it. So every lab call that takes a node
 * away (or the whole lab) first closes that node's masters; masters also end 30 s after their
 * last use, and when this process exits.
 */
const MUX_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-ssh-'));
/** Control socket path -> the address its master talks to. */
const masters = new Map<string, string>();

function controlPath(user: string, address: string): string {
  const f = labImpl.labFiles;
  const id = createHash('sha256').update([user, address, f.privateKey, f.knownHosts].join('\0')).digest('hex').slice(0, 24);
  return path.join(MUX_DIR, id);
}

/** Ends the masters to `address` (every master when none is given). */
export function closeMasters(address?: string) {
  for (const [socket, to] of masters) {
    if (address !== undefined && to !== address) continue;
    masters.delete(socket);
    if (!fs.existsSync(socket)) continue;
    spawnSync('ssh', ['-o', `ControlPath=${socket}`, '-O', 'exit', 'lab-node'], { stdio: 'ignore', timeout: 10_000 });
    fs.rmSync(socket, { force: true });
  }
}
function closeAll() {
  closeMasters();
  fs.rmSync(MUX_DIR, { recursive: true, force: true });
}
// A test file's end (vitest ends its workers with a signal, so 'exit' alone is not enough). The
// bench uses these helpers too (test/helpers/scale.ts), outside vitest: there, only 'exit'.
if (process.env.VITEST) (await import('vitest')).afterAll(closeAll);
process.on('exit', closeAll);

const addressOf = (name: string) => labImpl.status().nodes.find((n) => n.name === name)?.address;
/** `f`, after closing the masters to the node it takes away. */
const closingFirst =
  <A extends [string, ...unknown[]], R>(f: (...a: A) => Promise<R>) =>
  (...a: A): Promise<R> => {
    const address = addressOf(a[0]);
    if (address) closeMasters(address);
    return f(...a);
  };
const closingAll =
  <A extends unknown[], R>(f: (...a: A) => Promise<R>) =>
  (...a: A): Promise<R> => {
    closeMasters();
    return f(...a);
  };

/** The lab library, with the calls that take nodes away closing their SSH masters first. */
export const lab: typeof labImpl = {
  ...labImpl,
  up: closingAll(labImpl.up),
  down: closingAll(labImpl.down),
  stopNode: closingFirst(labImpl.stopNode),
  restartNode: closingFirst(labImpl.restartNode),
  resetNode: closingFirst(labImpl.resetNode),
  cutNetwork: closingFirst(labImpl.cutNetwork),
};

/**
 * lab.up, recording this test run as the one that brought it up when it was down. A lab of
 * another size (left by scale.test.ts or membership.test.ts, which need more nodes) is taken
 * down first: each file gets the lab it asks for, whatever ran before it on this lab instance.
 */
export async function labUp(nodes: number) {
  const st = lab.status();
  if (st.up && st.etcdNodes !== nodes) await lab.down();
  const was = st.up && st.etcdNodes === nodes;
  const info = await lab.up({ nodes });
  if (!was && process.env.PROVISION_TEST_RUN) fs.writeFileSync(RUN_MARK, process.env.PROVISION_TEST_RUN);
  return info;
}

/** Brings up the default lab (idempotent, about 1 s when it is already built). */
export async function ensureLab() {
  return labUp(3);
}

export interface SshResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command on a node with the OpenSSH client, strict host key checking on. */
export function ssh(address: string, command: string, user = 'root', timeoutMs = 60_000): Promise<SshResult> {
  const socket = controlPath(user, address);
  masters.set(socket, address);
  return new Promise((resolve) => {
    execFile(
      'ssh',
      [
        '-i',
        lab.labFiles.privateKey,
        '-o',
        'StrictHostKeyChecking=yes',
        '-o',
        `UserKnownHostsFile=${lab.labFiles.knownHosts}`,
        '-o',
        'BatchMode=yes',
        '-o',
        'ConnectTimeout=5',
        '-o',
        'ControlMaster=auto',
        '-o',
        `ControlPath=${socket}`,
        '-o',
        'ControlPersist=30',
        // A master whose node went away by other means than the calls above ends within 2 min.
        '-o',
        'ServerAliveInterval=15',
        '-o',
        'ServerAliveCountMax=8',
        `${user}@${address}`,
        command,
      ],
      { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 255) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

export const etcdNodes = () => lab.topology(3).filter((n) => n.role === 'etcd');
