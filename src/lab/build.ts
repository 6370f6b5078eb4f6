/**
 * Builds and caches the lab's two artefacts outside the git tree:
 *  - the yum repository (etcd, dnsmasq, lab-base RPMs + createrepo metadata),
 *  - the node image (a Debian root filesystem made to look like CentOS to a provisioner).
 * Each lives in a directory named after the hash of its recipe, so a changed recipe
 * rebuilds and an unchanged one is reused. Builds go to a temp dir renamed into place,
 * so an interrupted build leaves nothing that looks finished. Two labs (PROVISION_LAB_INSTANCE)
 * may come up at once: builds of one cache directory take turns (a lock file), and the second
 * one finds the first one's result.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { ProvisionError } from '../errors.js';
import { ETCD35 } from './debs.js';
import { LAB } from './topology.js';
import { RPMS, specFor } from './rpms.js';
import { must, run } from './sh.js';

/** Debian packages of the image. dnsmasq's libraries are here; its binary comes by RPM. */
export const IMAGE_PACKAGES = [
  'systemd',
  'systemd-sysv',
  'dbus',
  'openssh-server',
  'sudo',
  'dnf',
  'rpm',
  'iproute2',
  'procps',
  'bind9-dnsutils',
  'curl',
  'ca-certificates',
  'openssl',
  'less',
  'libdbus-1-3',
  'libgmp10',
  'libhogweed6',
  'libidn2-0',
  'libnetfilter-conntrack3',
  'libnettle8',
  'libnftables1',
];

/** Runs inside the image (chroot) once, after debootstrap. */
export const IMAGE_SCRIPT = `set -eu
# Per-node things are made at lab up: host keys, hostname, resolver, machine id.
rm -f /etc/ssh/ssh_host_* /etc/resolv.conf /etc/hostname
: > /etc/machine-id
# yum as on CentOS Stream 8/9: dnf with an rpm database in the usual place.
mkdir -p /etc/rpm /var/lib/rpm /etc/dnf/vars /etc/yum.repos.d
echo '%_dbpath /var/lib/rpm' > /etc/rpm/macros.dbpath
echo 9 > /etc/dnf/vars/releasever
ln -sf dnf-3 /usr/bin/yum
rpm --initdb
rpm -i --justdb --nodeps /tmp/lab-base.rpm
rm -f /tmp/lab-base.rpm
cat > /etc/yum.repos.d/lab.repo <<'REPO'
[lab]
name=provision lab repository
baseurl=file://${LAB.repoMount}
enabled=1
gpgcheck=0
REPO
# Looks like CentOS Stream 9 to whoever asks.
echo 'CentOS Stream release 9 (provision lab)' > /etc/redhat-release
cat > /etc/os-release <<'OSR'
NAME="CentOS Stream"
VERSION="9 (provision lab)"
ID="centos"
ID_LIKE="rhel fedora"
VERSION_ID="9"
PLATFORM_ID="platform:el9"
PRETTY_NAME="CentOS Stream 9 (provision lab on Debian userland)"
OSR
# A non-root login user with passwordless sudo, to test become.
useradd -m -s /bin/bash ${LAB.adminUser}
echo '${LAB.adminUser} ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/${LAB.adminUser}
chmod 0440 /etc/sudoers.d/${LAB.adminUser}
cat > /etc/ssh/sshd_config.d/lab.conf <<'SSHD'
PermitRootLogin prohibit-password
PasswordAuthentication no
UseDNS no
SSHD
# Nothing in a node should wake up on its own or reach outside.
systemctl mask apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer \\
  e2scrub_reap.service fstrim.timer getty@tty1.service systemd-timesyncd.service >/dev/null 2>&1 || true
systemctl enable ssh >/dev/null
# CentOS's sshd PAM stack prints no dynamic motd; Debian's runs /etc/update-motd.d at each login
# (run-parts, uname: processes on every connection a CentOS node does not start).
sed -i '/pam_motd/d' /etc/pam.d/sshd /etc/pam.d/login
# No dnf cache: a cached copy of the lab repository's metadata goes stale when it is rebuilt.
rm -rf /var/cache/dnf/* /var/cache/apt/archives/*.deb /var/lib/apt/lists/*
`;

const sha = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 12);

function fileStamp(p: string): string {
  // A source not fetched yet (ensureRepo says what to do) still gives a hash.
  if (!fs.existsSync(p)) return `${p}:missing`;
  const st = fs.statSync(p);
  return `${p}:${st.size}:${st.mtimeMs}`;
}

export function repoHash(): string {
  const sources = RPMS.flatMap((r) => r.files.filter((f) => f.from).map((f) => fileStamp(f.from!)));
  return sha(JSON.stringify({ RPMS, spec: RPMS.map(specFor), sources }));
}

export function imageHash(): string {
  return sha(JSON.stringify({ IMAGE_PACKAGES, IMAGE_SCRIPT, suite: LAB.suite, base: specFor(RPMS[0]!) }));
}

export const repoDir = () => path.join(LAB.cacheDir, `repo-${repoHash()}`);
export const imageDir = () => path.join(LAB.cacheDir, `image-${imageHash()}`);

/** Build one RPM into outDir; returns the .rpm path. */
async function buildRpm(recipe: (typeof RPMS)[number], outDir: string, work: string): Promise<string> {
  const top = path.join(work, `${recipe.name}-${recipe.version}`);
  for (const d of ['SOURCES', 'SPECS', 'BUILD', 'RPMS', 'SRPMS', 'BUILDROOT']) fs.mkdirSync(path.join(top, d), { recursive: true });
  recipe.files.forEach((f, i) => {
    const dest = path.join(top, 'SOURCES', `src${i}`);
    if (f.from) fs.copyFileSync(f.from, dest);
    else fs.writeFileSync(dest, f.content ?? '');
  });
  const spec = path.join(top, 'SPECS', `${recipe.name}.spec`);
  fs.writeFileSync(spec, specFor(recipe));
  await must(['rpmbuild', '--quiet', '-bb', '--define', `_topdir ${top}`, '--define', '_build_id_links none', spec], { what: `rpmbuild ${recipe.name}` });
  const file = `${recipe.name}-${recipe.version}-${recipe.release}.x86_64.rpm`;
  const built = path.join(top, 'RPMS', 'x86_64', file);
  fs.copyFileSync(built, path.join(outDir, file));
  return path.join(outDir, file);
}

/**
 * Runs a build while holding the cache directory's lock, so that concurrent `lab up`s never
 * build into each other's directories (and a finished build never removes one in progress).
 * proper-lockfile: an atomic mkdir lock with a heartbeat, taken over when its holder died.
 */
export async function underBuildLock<T>(log: (s: string) => void, build: () => Promise<T>): Promise<T> {
  fs.mkdirSync(LAB.cacheDir, { recursive: true });
  const target = path.join(LAB.cacheDir, 'build');
  let release: (() => Promise<void>) | undefined;
  let told = false;
  while (!release) {
    try {
      release = await lockfile.lock(target, { realpath: false, stale: 30_000, update: 5_000 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ELOCKED') throw e;
      if (!told) log(`another provision process is building the lab's image or repository in ${LAB.cacheDir}; waiting for it`);
      told = true;
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
  try {
    return await build();
  } finally {
    await release().catch(() => {});
  }
}

const repoReady = (dir: string) => fs.existsSync(path.join(dir, 'repodata', 'repomd.xml'));

/** The repository directory, building it when missing. */
export async function ensureRepo(log: (s: string) => void = () => {}): Promise<string> {
  const dir = repoDir();
  if (repoReady(dir)) return dir;
  const missing = RPMS.flatMap((r) => r.files.filter((f) => f.from && !fs.existsSync(f.from)).map((f) => `${r.name}-${r.version}: ${f.from}`));
  if (missing.length) {
    throw new ProvisionError('LAB', `the lab repository's RPMs need files that are not there:\n${missing.join('\n')}`, {
      hint: `run \`provision lab up\` as root on Debian (it installs the host packages and fetches etcd ${ETCD35.version}), or install them yourself`,
    });
  }
  return underBuildLock(log, () => buildRepo(log));
}

async function buildRepo(log: (s: string) => void): Promise<string> {
  const dir = repoDir();
  if (repoReady(dir)) return dir;
  log('building the lab yum repository (etcd 3.4.23 and 3.5.16, dnsmasq RPMs)');
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  const work = fs.mkdtempSync(path.join(LAB.cacheDir, 'rpmbuild-'));
  try {
    for (const [i, r] of RPMS.entries()) {
      log(`repository: RPM ${i + 1} of ${RPMS.length}: ${r.name}`);
      await buildRpm(r, tmp, work);
    }
    await must(['createrepo_c', '--quiet', tmp], { what: 'createrepo_c' });
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(tmp, dir);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return dir;
}

/** The image's root filesystem, building it when missing (debootstrap: about 1-2 minutes). */
export async function ensureImage(log: (s: string) => void = () => {}): Promise<string> {
  const dir = imageDir();
  if (fs.existsSync(path.join(dir, 'complete'))) return path.join(dir, 'rootfs');
  return underBuildLock(log, () => buildImage(log));
}

async function buildImage(log: (s: string) => void): Promise<string> {
  const dir = imageDir();
  const rootfs = path.join(dir, 'rootfs');
  if (fs.existsSync(path.join(dir, 'complete'))) return rootfs;
  const repo = await buildRepo(log);
  log(`building the lab node image (debootstrap ${LAB.suite}); this takes a minute or two, once`);
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  try {
    const tmpRoot = path.join(tmp, 'rootfs');
    await must(['debootstrap', '--variant=minbase', `--include=${IMAGE_PACKAGES.join(',')}`, LAB.suite, tmpRoot, LAB.mirror], {
      what: 'debootstrap',
      timeoutMs: 20 * 60_000,
      onLine: debootstrapProgress(log),
    });
    log('image: customising (rpm database, users, sshd)');
    const base = RPMS[0]!;
    fs.copyFileSync(path.join(repo, `${base.name}-${base.version}-${base.release}.x86_64.rpm`), path.join(tmpRoot, 'tmp', 'lab-base.rpm'));
    await must(['chroot', tmpRoot, '/bin/sh', '-c', IMAGE_SCRIPT], { what: 'image customisation' });
    fs.writeFileSync(path.join(tmp, 'complete'), new Date().toISOString() + '\n');
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(tmp, dir);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  // Older images of other recipes are dead weight.
  for (const e of fs.readdirSync(LAB.cacheDir)) {
    const p = path.join(LAB.cacheDir, e);
    // (Builds in progress leave .tmp- directories too; under the build lock, those are of builds that died.)
    if ((e.startsWith('image-') && p !== dir) || e.startsWith('exp')) {
      if (!(await isMountedUnder(p))) fs.rmSync(p, { recursive: true, force: true });
    }
  }
  return rootfs;
}

async function isMountedUnder(p: string): Promise<boolean> {
  const r = await run(['findmnt', '-rn', '-o', 'OPTIONS']);
  return r.stdout.includes(p);
}

/**
 * debootstrap's "I: Retrieving/Validating/Extracting/Unpacking/Configuring <package>" lines as
 * progress: a line when the stage changes, and every 10 s within one (with packages done);
 * retrieving and validating a package count as one stage, downloading.
 */
export function debootstrapProgress(log: (s: string) => void, now: () => number = Date.now): (line: string) => void {
  const t0 = now();
  let stage = '';
  let count = 0;
  let last = 0;
  return (line) => {
    const m = /^I: (Retrieving|Validating|Extracting|Unpacking|Configuring|Installing|Resolving|Checking|Base system installed)\b/.exec(line);
    if (!m) return;
    // debootstrap alternates "Retrieving X" and "Validating X" for each package: one stage, not
    // two lines per package (about 480 lines for this image).
    const s = m[1] === 'Validating' || m[1] === 'Retrieving' ? 'Downloading' : m[1]!;
    if (s === stage && m[1] === 'Validating') return;
    count = s === stage ? count + 1 : 1;
    const secs = Math.round((now() - t0) / 1000);
    if (s !== stage || now() - last >= 10_000) {
      stage = s;
      last = now();
      log(`image: debootstrap: ${s.toLowerCase()}${count > 1 ? ` (${count} packages)` : ''} (${secs} s)`);
    }
  };
}

/**
 * Optional parts of a node (`lab up --locale`, `--firewalld`), in a layer of their own over the
 * image: the image (and its hash, shared with the docker lab) stays as it is, and the layer,
 * a few dozen packages installed with dpkg, takes far less than a second debootstrap. Nodes
 * mount the layer over the image (overlayfs lowerdir=layer:image); what the options do not
 * enable stays off (firewalld installed but disabled, the locale unused).
 * Translations: coreutils, systemd and dnf ship theirs; rpm's are in rpm-i18n.
 */
// netbase: /etc/protocols, without which firewalld refuses its own stock services ("INVALID_PROTOCOL: esp").
export const LAYER_PACKAGES = ['locales', 'rpm-i18n', 'firewalld', 'netbase'];

/** Login locales the layer has compiled (`lab up --locale`); any other needs a new layer. */
export const IMAGE_LOCALES = ['zh_CN.UTF-8'];

/** Runs inside the image with the layer on top (chroot), after the layer's .debs are unpacked in /tmp/layer-debs. */
export const LAYER_SCRIPT = `set -eu
dpkg -i --force-confdef --force-confold /tmp/layer-debs/*.deb >/dev/null
rm -rf /tmp/layer-debs
# firewalld is installed but off; lab up --firewalld enables it per node.
systemctl disable firewalld >/dev/null 2>&1 || true
for l in ${IMAGE_LOCALES.join(' ')}; do localedef -i "\${l%%.*}" -c -f UTF-8 "$l"; done
rm -rf /var/cache/apt/archives/*.deb /var/cache/debconf/*-old /var/lib/dpkg/*-old
`;

export const layerDir = () => path.join(LAB.cacheDir, `layer-${sha(JSON.stringify({ image: imageHash(), LAYER_PACKAGES, LAYER_SCRIPT }))}`);

/**
 * The node's lower layers for overlayfs (`layer:image`), building the layer when missing.
 * The .debs (with the dependencies the image lacks) are fetched by the host's apt against the
 * image's dpkg status, then installed by dpkg inside a chroot of image + layer.
 */
export function ensureNodeLayers(log: (s: string) => void = () => {}): Promise<string> {
  // Nodes come up together: one build for all of them.
  const key = layerDir();
  let p = building.get(key);
  if (!p) {
    p = buildNodeLayers(log);
    building.set(key, p);
    p.catch(() => building.delete(key));
  }
  return p;
}

const building = new Map<string, Promise<string>>();

async function buildNodeLayers(log: (s: string) => void): Promise<string> {
  const rootfs = await ensureImage(log);
  const dir = layerDir();
  const upper = path.join(dir, 'upper');
  if (fs.existsSync(path.join(dir, 'complete'))) return `${upper}:${rootfs}`;
  return underBuildLock(log, async () => {
    if (!fs.existsSync(path.join(dir, 'complete'))) await buildLayer(rootfs, dir, upper, log);
    return `${upper}:${rootfs}`;
  });
}

async function buildLayer(rootfs: string, dir: string, upper: string, log: (s: string) => void): Promise<void> {
  const t0 = Date.now();
  log(`building the lab's optional layer (${LAYER_PACKAGES.join(', ')}); once`);
  const tmp = `${dir}.tmp-${process.pid}`;
  const merged = path.join(tmp, 'merged');
  fs.rmSync(tmp, { recursive: true, force: true });
  for (const d of ['upper', 'work', 'merged', 'debs/partial', 'lists/partial']) fs.mkdirSync(path.join(tmp, d), { recursive: true });
  try {
    const apt = [
      '-o',
      `Dir::State::status=${path.join(rootfs, 'var/lib/dpkg/status')}`,
      '-o',
      `Dir::Cache::archives=${path.join(tmp, 'debs')}`,
      '-o',
      'Debug::NoLocking=1',
      '-o',
      'APT::Install-Recommends=0',
    ];
    await must(['apt-get', '-q', '-y', ...apt, 'install', '--download-only', ...LAYER_PACKAGES], {
      what: 'apt-get download (lab layer)',
      timeoutMs: 20 * 60_000,
    });
    await must(
      ['mount', '-t', 'overlay', 'overlay', '-o', `lowerdir=${rootfs},upperdir=${path.join(tmp, 'upper')},workdir=${path.join(tmp, 'work')}`, merged],
      {
        what: 'overlay mount (lab layer)',
      },
    );
    try {
      const debs = fs.readdirSync(path.join(tmp, 'debs')).filter((f) => f.endsWith('.deb'));
      log(`layer: installing ${debs.length} packages (${Math.round((Date.now() - t0) / 1000)} s)`);
      fs.mkdirSync(path.join(merged, 'tmp/layer-debs'), { recursive: true });
      for (const f of debs) fs.copyFileSync(path.join(tmp, 'debs', f), path.join(merged, 'tmp/layer-debs', f));
      await must(['chroot', merged, '/bin/sh', '-c', LAYER_SCRIPT], { what: 'lab layer customisation', timeoutMs: 20 * 60_000 });
    } finally {
      await run(['umount', merged]);
    }
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir);
    fs.renameSync(path.join(tmp, 'upper'), upper);
    fs.writeFileSync(path.join(dir, 'complete'), new Date().toISOString() + '\n');
    log(`layer: built in ${Math.round((Date.now() - t0) / 1000)} s`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
