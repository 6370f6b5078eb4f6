/**
 * The Docker engine on this host, for the docker lab: its Debian packages, and a daemon to
 * talk to. Where no daemon answers (a host without systemd as PID 1, or one where the docker
 * service is off), `startDockerd` starts one in the background and returns its pid, for
 * whoever started it to stop by that pid.
 */
import fs from 'node:fs';
import { ProvisionError } from '../errors.js';
import { run, sleep, startDetached } from './sh.js';
import { alive } from './engine.js';

async function have(cmd: string): Promise<boolean> {
  return (await run(['sh', '-c', 'command -v "$1"', 'sh', cmd])).code === 0;
}

/** The compose command: the `docker compose` plugin when there is one, else `docker-compose` (Debian 12's 1.29). */
export async function composeCommand(): Promise<string[] | undefined> {
  if ((await run(['docker', 'compose', 'version'])).code === 0) return ['docker', 'compose'];
  if (await have('docker-compose')) return ['docker-compose'];
  return undefined;
}

/** Debian packages missing for the docker lab: the engine (docker.io) and compose. */
export async function missingDockerPackages(): Promise<string[]> {
  const missing: string[] = [];
  if (!(await have('dockerd')) || !(await have('docker'))) missing.push('docker.io');
  if (!(await composeCommand())) missing.push('docker-compose');
  return missing;
}

/** Installs Debian's docker.io and docker-compose where they are missing (Debian, as root). */
export async function ensureDockerPackages(log: (s: string) => void): Promise<void> {
  const missing = await missingDockerPackages();
  if (!missing.length) return;
  if (!fs.existsSync('/etc/debian_version') || process.getuid?.() !== 0) {
    throw new ProvisionError('LAB', `the docker lab needs Docker and compose; missing: ${missing.join(', ')}`, {
      hint: 'install Docker Engine with the compose plugin, or use the nspawn lab',
    });
  }
  log(`installing Debian packages for the docker lab: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const upd = await run(['apt-get', 'update', '-qq'], { env, timeoutMs: 600_000 });
  const inst = await run(['apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...missing], { env, timeoutMs: 1_200_000 });
  if (upd.code !== 0 || inst.code !== 0) {
    throw new ProvisionError('LAB', `could not install ${missing.join(' ')}:\n${(inst.stderr || upd.stderr).trim().split('\n').slice(-5).join('\n')}`, {
      hint: `run: apt-get update && apt-get install -y ${missing.join(' ')}`,
    });
  }
}

/** Whether a Docker daemon answers the docker CLI. */
export async function daemonAnswers(): Promise<boolean> {
  return (await run(['docker', 'info', '--format', '{{.ServerVersion}}'], { timeoutMs: 30_000 })).code === 0;
}

/** Starts dockerd in the background (its output appended to logFile) and waits until it answers. */
export async function startDockerd(logFile: string): Promise<number> {
  if (!(await have('dockerd'))) throw new ProvisionError('LAB', 'no Docker daemon answers and dockerd is not installed', { hint: 'install docker.io' });
  const fd = fs.openSync(logFile, 'a');
  let pid: number;
  try {
    pid = startDetached(['dockerd'], fd);
  } finally {
    fs.closeSync(fd);
  }
  for (let i = 0; i < 1200; i++) {
    if (!alive(pid)) {
      const tail = fs.readFileSync(logFile, 'utf8').trim().split('\n').slice(-10).join('\n');
      throw new ProvisionError('LAB', `dockerd exited at start:\n${tail}`, { hint: `see ${logFile}` });
    }
    if (await daemonAnswers()) return pid;
    await sleep(100);
  }
  throw new ProvisionError('LAB', 'dockerd did not answer within 120 s', { hint: `see ${logFile}` });
}

/** Stops a dockerd by its pid (SIGTERM: it stops its containers and its containerd), killing it if it hangs. */
export async function stopDockerd(pid: number, graceMs = 60_000): Promise<void> {
  if (!alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) await sleep(100);
  if (alive(pid)) process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 100 && alive(pid); i++) await sleep(50);
}
