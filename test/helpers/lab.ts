/** Shared lab access for end-to-end tests: real nodes, real OpenSSH client. */
import { execFile } from 'node:child_process';
import * as lab from '../../src/lab/index.js';

export { lab };

/** Brings up the default lab (idempotent, about 1 s when it is already built). */
export async function ensureLab() {
  return lab.up({ nodes: 3 });
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
        '-i', lab.labFiles.privateKey,
        '-o', 'StrictHostKeyChecking=yes',
        '-o', `UserKnownHostsFile=${lab.labFiles.knownHosts}`,
        '-o', 'BatchMode=yes',
        '-o', 'ConnectTimeout=5',
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
