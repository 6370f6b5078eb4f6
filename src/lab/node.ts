/**
 * One lab node: an overlay on the shared image, its own files (host keys, hostname,
 * resolver, authorized keys), and a systemd-nspawn container booting systemd in the
 * node's network namespace.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ProvisionError } from '../errors.js';
import { NSPAWN, type LabNode, netnsName } from './topology.js';
import { must, run, sleep, startDetached } from './sh.js';
import { alive, waitForSsh as waitForBanner, type NodeOptions } from './engine.js';
import { IMAGE_LOCALES } from './build.js';

export { alive };

export const nodeDir = (name: string) => path.join(NSPAWN.stateDir, 'nodes', name);
export const mergedDir = (name: string) => path.join(nodeDir(name), 'merged');

export async function isMounted(dir: string): Promise<boolean> {
  return (await run(['mountpoint', '-q', dir])).code === 0;
}

export async function mountOverlay(name: string, lower: string): Promise<void> {
  const d = nodeDir(name);
  for (const sub of ['upper', 'work', 'merged']) fs.mkdirSync(path.join(d, sub), { recursive: true });
  if (await isMounted(mergedDir(name))) return;
  await must(
    ['mount', '-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${path.join(d, 'upper')},workdir=${path.join(d, 'work')}`, mergedDir(name)],
    { what: `overlay mount for ${name}` },
  );
}

export async function unmountOverlay(name: string): Promise<void> {
  const m = mergedDir(name);
  for (let i = 0; i < 50 && (await isMounted(m)); i++) {
    // The bind mounts nspawn made inside go with the container; wait for them.
    if ((await run(['umount', m])).code === 0) break;
    await sleep(100);
  }
  if (await isMounted(m)) await run(['umount', '-l', m]);
}

function passwdIds(root: string, user: string): { uid: number; gid: number } {
  const line = fs
    .readFileSync(path.join(root, 'etc/passwd'), 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${user}:`));
  if (!line) throw new ProvisionError('LAB', `image has no user ${user}`);
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

/** The line a login locale adds at the top of root's and the admin's ~/.bashrc. */
const localeLine = (locale: string) => `export LANG=${locale} # provision lab --locale\n`;

/**
 * `--locale`: LANG for every login, as a Chinese-language CentOS install has it. sshd's and
 * sudo's PAM sessions read /etc/default/locale (pam_env) and the login shells set it too (bash
 * reads ~/.bashrc for commands run over SSH), so every command sent over SSH, with or without
 * sudo, starts with LANG set: stat, systemctl, dnf and rpm then print Chinese.
 */
function setLocale(root: string, locale: string | undefined): void {
  for (const f of ['etc/default/locale', 'etc/locale.conf']) {
    if (locale) fs.writeFileSync(path.join(root, f), `LANG=${locale}\n`);
    else fs.rmSync(path.join(root, f), { force: true });
  }
  for (const home of ['root', path.join('home', NSPAWN.adminUser)]) {
    const rc = path.join(root, home, '.bashrc');
    const old = fs.existsSync(rc) ? fs.readFileSync(rc, 'utf8') : '';
    const rest = old.replace(/^export LANG=\S+ # provision lab --locale\n/, '');
    const want = (locale ? localeLine(locale) : '') + rest;
    if (want !== old) fs.writeFileSync(rc, want);
  }
}

/** `--firewalld`: enabled at boot (the image has it installed and disabled), default zone as shipped. */
function setFirewalld(root: string, on: boolean): void {
  const link = path.join(root, 'etc/systemd/system/multi-user.target.wants/firewalld.service');
  fs.rmSync(link, { force: true });
  if (on) fs.symlinkSync('/lib/systemd/system/firewalld.service', link);
}

/** The login locales the image has (IMAGE_LOCALES); any other is refused with what to do. */
export function checkLocale(locale: string | undefined): void {
  if (locale === undefined || IMAGE_LOCALES.includes(locale)) return;
  throw new ProvisionError('USAGE', `the lab image has no locale ${JSON.stringify(locale)}; it has ${IMAGE_LOCALES.join(', ')}`, {
    hint: 'add it to IMAGE_LOCALES in src/lab/build.ts (the image is then built again)',
  });
}

/** Writes the node's own files into its overlay; returns its public host keys. */
export async function personalise(node: LabNode, infraAddress: string, authorizedKey: string, opts: NodeOptions = {}): Promise<string[]> {
  const root = mergedDir(node.name);
  fs.writeFileSync(path.join(root, 'etc/hostname'), `${node.name}\n`);
  fs.writeFileSync(path.join(root, 'etc/hosts'), `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n${node.address}\t${node.name}\n`);
  // Only inside the lab: the infra node (which will serve DNS); never the host's resolver.
  fs.writeFileSync(path.join(root, 'etc/resolv.conf'), `nameserver ${infraAddress}\noptions timeout:1 attempts:1\n`);
  const keys: string[] = [];
  for (const type of ['ed25519', 'ecdsa']) {
    const file = path.join(root, `etc/ssh/ssh_host_${type}_key`);
    if (!fs.existsSync(file)) await must(['ssh-keygen', '-q', '-t', type, '-N', '', '-C', `root@${node.name}`, '-f', file]);
    keys.push(fs.readFileSync(`${file}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' '));
  }
  for (const user of ['root', NSPAWN.adminUser]) {
    const { uid, gid } = passwdIds(root, user);
    const home = user === 'root' ? path.join(root, 'root') : path.join(root, 'home', user);
    const sshDir = path.join(home, '.ssh');
    fs.mkdirSync(sshDir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(sshDir, 'authorized_keys'), authorizedKey.trim() + '\n', { mode: 0o600 });
    fs.chownSync(sshDir, uid, gid);
    fs.chownSync(path.join(sshDir, 'authorized_keys'), uid, gid);
  }
  setLocale(root, opts.locale);
  setFirewalld(root, opts.firewalld === true);
  return keys;
}

/** Boots the node's container; returns the pid of its systemd-nspawn process. */
export function boot(node: LabNode & NodeOptions, repo: string): number {
  // nspawn refuses to start when a container of the same name that did not exit cleanly left
  // its propagation directory behind and /run is not a tmpfs (as in a container): clear it.
  fs.rmSync(path.join('/run/systemd/nspawn/propagate', netnsName(node.name)), { recursive: true, force: true });
  const log = fs.openSync(path.join(nodeDir(node.name), 'console.log'), 'a');
  try {
    return startDetached(
      [
        'systemd-nspawn',
        '--quiet',
        '--boot',
        '--register=no',
        '--keep-unit',
        // The machine name keys nspawn's host-side state (/run/systemd/nspawn/propagate/<name>):
        // it is unique per lab instance, or two labs' etcd1 would collide; the hostname stays.
        `--directory=${mergedDir(node.name)}`,
        `--machine=${netnsName(node.name)}`,
        `--hostname=${node.name}`,
        `--network-namespace-path=/run/netns/${netnsName(node.name)}`,
        '--resolv-conf=off',
        '--timezone=off',
        '--link-journal=no',
        '--console=pipe',
        `--bind-ro=${repo}:${NSPAWN.repoMount}`,
        // firewalld sets nftables rules in the node's own network namespace: nspawn keeps
        // CAP_NET_ADMIN only with --private-network, not with --network-namespace-path.
        ...(node.firewalld ? ['--capability=CAP_NET_ADMIN'] : []),
      ],
      log,
    );
  } finally {
    fs.closeSync(log);
  }
}

/** The container's PID 1 (child of systemd-nspawn), for nsenter. */
export function leaderPid(nspawnPid: number): number | undefined {
  try {
    const children = fs.readFileSync(`/proc/${nspawnPid}/task/${nspawnPid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    return children.length ? Number(children[0]) : undefined;
  } catch {
    return undefined;
  }
}

/** Resolves when the node's sshd answers with its banner; throws after timeoutMs or when nspawn exits. */
export async function waitForSsh(node: LabNode, timeoutMs: number, pid: number): Promise<void> {
  const consoleLog = path.join(nodeDir(node.name), 'console.log');
  await waitForBanner(
    node,
    timeoutMs,
    async () => (alive(pid) ? undefined : `last console lines:\n${fs.readFileSync(consoleLog, 'utf8').split('\n').slice(-15).join('\n')}`),
    `see ${consoleLog}`,
  );
}

/** Powers the container off (SIGTERM to nspawn = clean shutdown), killing it if it hangs. */
export async function shutdown(pid: number | undefined, graceMs = 15_000): Promise<void> {
  if (!alive(pid)) return;
  const leader = leaderPid(pid!);
  process.kill(pid!, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) await sleep(50);
  if (alive(pid)) {
    // Killing PID 1 of the container ends its whole PID namespace.
    if (leader && alive(leader)) process.kill(leader, 'SIGKILL');
    process.kill(pid!, 'SIGKILL');
    for (let i = 0; i < 100 && alive(pid); i++) await sleep(50);
  }
}

/** systemd-nspawn processes serving any lab node, found by their pid and command line. */
export function strayNspawnPids(): number[] {
  const pids: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0');
      if (cmd[0]?.endsWith('systemd-nspawn') && cmd.some((a) => a.startsWith(`--directory=${path.join(NSPAWN.stateDir, 'nodes')}/`))) {
        pids.push(Number(e));
      }
    } catch {
      // process went away
    }
  }
  return pids;
}

/** Run a command inside a running node as root (no SSH), e.g. for test setup. */
export async function nodeExec(nspawnPid: number, argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const leader = leaderPid(nspawnPid);
  if (!leader) throw new ProvisionError('LAB', 'node is not running');
  return run(['nsenter', '-t', String(leader), '-m', '-u', '-i', '-n', '-p', '--', ...argv]);
}
