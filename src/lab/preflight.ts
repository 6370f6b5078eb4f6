/** Checks before the lab touches anything, each failure saying what to do. */
import fs from 'node:fs';
import { ProvisionError } from '../errors.js';
import { underBuildLock } from './build.js';
import { ensureEtcd35, haveEtcd35 } from './debs.js';
import { LAB } from './topology.js';
import { run } from './sh.js';

/** Debian package -> a command it provides. */
export const HOST_PACKAGES: Record<string, string> = {
  'systemd-container': 'systemd-nspawn',
  debootstrap: 'debootstrap',
  rpm: 'rpmbuild',
  'createrepo-c': 'createrepo_c',
  'etcd-server': 'etcd',
  'etcd-client': 'etcdctl',
  'dnsmasq-base': 'dnsmasq',
  iproute2: 'ip',
  'openssh-client': 'ssh-keygen',
  'util-linux': 'nsenter',
};

async function have(cmd: string): Promise<boolean> {
  return (await run(['sh', '-c', 'command -v "$1"', 'sh', cmd])).code === 0;
}

export async function missingPackages(): Promise<string[]> {
  const missing: string[] = [];
  for (const [pkg, cmd] of Object.entries(HOST_PACKAGES)) if (!(await have(cmd))) missing.push(pkg);
  return missing;
}

export async function preflight(log: (s: string) => void): Promise<void> {
  if (process.platform !== 'linux') {
    throw new ProvisionError('LAB', 'the local lab needs Linux (systemd-nspawn and network namespaces)', {
      hint: 'on other systems use docker-compose.test.yml with Docker, and its inventory',
    });
  }
  if (process.getuid?.() !== 0) {
    throw new ProvisionError('LAB', 'the local lab needs root (it mounts overlays and creates network namespaces)', {
      hint: 'run it as root, e.g. `sudo npx provision lab up`',
    });
  }
  const missing = await missingPackages();
  if (missing.length) {
    const isDebian = fs.existsSync('/etc/debian_version');
    if (!isDebian) {
      throw new ProvisionError('LAB', `missing host packages: ${missing.join(', ')}`, { hint: 'install their equivalents with your package manager' });
    }
    log(`installing host packages: ${missing.join(' ')}`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const upd = await run(['apt-get', 'update', '-qq'], { env, timeoutMs: 600_000 });
    const inst = await run(['apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...missing], { env, timeoutMs: 1_200_000 });
    if (upd.code !== 0 || inst.code !== 0) {
      throw new ProvisionError('LAB', `could not install ${missing.join(' ')}:\n${(inst.stderr || upd.stderr).trim().split('\n').slice(-5).join('\n')}`, {
        hint: `run: apt-get update && apt-get install -y ${missing.join(' ')}`,
      });
    }
  }
  fs.mkdirSync(LAB.cacheDir, { recursive: true });
  const st = fs.statfsSync(LAB.cacheDir);
  const freeMb = (st.bavail * st.bsize) / 1024 / 1024;
  if (freeMb < 1500) {
    throw new ProvisionError('LAB', `only ${Math.round(freeMb)} MB free under ${LAB.cacheDir}; the lab needs about 1.5 GB`, {
      hint: 'free some disk space, or remove old images in ' + LAB.cacheDir,
    });
  }
  // The repository's second etcd (3.5.16) comes from Debian 13's packages, fetched once (under
  // the build lock: two labs coming up at once on a fresh machine fetch it once, not twice).
  if (fs.existsSync('/etc/debian_version') && !haveEtcd35()) await underBuildLock(log, () => ensureEtcd35(log));
}
