/**
 * Shared lab access for end-to-end tests: real nodes, real OpenSSH client. The lab is the
 * default engine's (PROVISION_LAB_ENGINE: vitest's "docker" project runs some e2e files on the
 * docker lab, the "nspawn" project all of them on the nspawn lab).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as lab from '../../src/lab/index.js';

export { lab };

/**
 * Which test run brought the lab up: global-setup.ts gives each run an id, and takes the lab
 * down at the end only if its own run brought it up (another run, or a user, may be using it).
 */
export const runMarkOf = (engine: lab.EngineName = lab.LAB.engine, instance: number = lab.LAB.instance) =>
  path.join(lab.labConfig(engine, instance).stateDir, 'brought-up-by-test-run');
export const RUN_MARK = runMarkOf();
export const readRunMark = (engine: lab.EngineName = lab.LAB.engine, instance: number = lab.LAB.instance): string | undefined => {
  try {
    return fs.readFileSync(runMarkOf(engine, instance), 'utf8');
  } catch {
    return undefined;
  }
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
