/**
 * The lab's second etcd version: Debian 13 (trixie) packages etcd 3.5.16, whose binaries are
 * plain Go programs that run on the bookworm host and nodes. Its two .debs are downloaded once
 * through apt with a private source list and private lists directory (the machine's own apt
 * setup is not touched), kept under the lab cache with their extracted files, and made into
 * the lab repository's etcd-3.5.16 RPM (src/lab/rpms.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { ProvisionError } from '../errors.js';
import { LAB } from './topology.js';
import { must, run } from './sh.js';

const dir = path.join(LAB.cacheDir, 'debs', 'etcd-3.5.16');

export const ETCD35 = {
  version: '3.5.16',
  suite: 'trixie',
  packages: ['etcd-server', 'etcd-client'],
  /** The cached .debs and, under root/, their extracted files (root/usr/bin/etcd ...). */
  dir,
  root: path.join(dir, 'root'),
} as const;

const complete = () => path.join(ETCD35.dir, 'complete');

export const haveEtcd35 = (): boolean => fs.existsSync(complete());

/** Downloads and extracts the trixie etcd .debs into the cache, once. */
export async function ensureEtcd35(log: (s: string) => void = () => {}): Promise<void> {
  if (haveEtcd35()) return;
  log(`downloading etcd ${ETCD35.version} (${ETCD35.packages.join(', ')}) from Debian ${ETCD35.suite}, once`);
  const tmp = `${ETCD35.dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  const lists = path.join(tmp, 'lists');
  fs.mkdirSync(path.join(lists, 'partial'), { recursive: true });
  const sourceList = path.join(tmp, 'sources.list');
  fs.writeFileSync(sourceList, `deb ${LAB.mirror} ${ETCD35.suite} main\n`);
  const apt = [
    '-o',
    `Dir::Etc::sourcelist=${sourceList}`,
    '-o',
    'Dir::Etc::sourceparts=-',
    '-o',
    `Dir::State::Lists=${lists}`,
    '-o',
    'APT::Sandbox::User=root',
  ];
  try {
    await must(['apt-get', ...apt, 'update', '-qq'], { what: `apt-get update (Debian ${ETCD35.suite})`, timeoutMs: 600_000 });
    const debs = path.join(tmp, 'debs');
    fs.mkdirSync(debs);
    const specs: string[] = [];
    for (const p of ETCD35.packages) {
      // The suite may move on; take the build of the wanted upstream version.
      const madison = await must(['apt-cache', ...apt, 'madison', p], { what: `apt-cache madison ${p}` });
      const v = madison
        .split('\n')
        .map((l) => l.split('|').map((f) => f.trim()))
        .find((f) => f[0] === p && f[1]?.startsWith(`${ETCD35.version}-`))?.[1];
      if (!v) throw new ProvisionError('LAB', `Debian ${ETCD35.suite} has no ${p} ${ETCD35.version} (it has: ${madison.trim() || 'none'})`);
      specs.push(`${p}=${v}`);
    }
    await must(['sh', '-c', 'cd "$1" && shift && exec "$@"', 'sh', debs, 'apt-get', ...apt, 'download', ...specs], {
      what: `apt-get download ${specs.join(' ')}`,
      timeoutMs: 600_000,
    });
    const root = path.join(tmp, 'root');
    for (const f of fs.readdirSync(debs).filter((f) => f.endsWith('.deb'))) await must(['dpkg-deb', '-x', path.join(debs, f), root]);
    const out = (await run([path.join(root, 'usr', 'bin', 'etcd'), '--version'])).stdout;
    if (!out.includes(`etcd Version: ${ETCD35.version}`)) throw new ProvisionError('LAB', `the downloaded etcd is not ${ETCD35.version}: ${out.trim()}`);
    fs.rmSync(lists, { recursive: true, force: true });
    fs.writeFileSync(path.join(tmp, 'complete'), new Date().toISOString() + '\n');
    fs.mkdirSync(path.dirname(ETCD35.dir), { recursive: true });
    fs.rmSync(ETCD35.dir, { recursive: true, force: true });
    fs.renameSync(tmp, ETCD35.dir);
  } catch (e) {
    if (e instanceof ProvisionError) {
      throw new ProvisionError('LAB', `could not get etcd ${ETCD35.version} for the lab repository: ${e.message}`, {
        hint: `the lab needs Debian's ${ETCD35.suite} archive at ${LAB.mirror} (PROVISION_LAB_MIRROR names another mirror)`,
      });
    }
    throw e;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
