/**
 * The fault matrix (issue 5) on the real lab: what a user sees when a node is down or cut
 * off, a host key changed, credentials or sudo are wrong, yum fails, etcd will not start,
 * or the user presses Ctrl-C; and that a re-run converges once the fault is gone.
 *
 * Each case breaks something real on a node (and puts it back), runs the real CLI, and
 * checks what a user would check: the exit code, the message for each host, and the nodes
 * themselves (with etcdctl, systemctl, rpm, journalctl over OpenSSH).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provision, provisionJson, totalChanged, type JsonRun, type JsonTask } from '../helpers/cli.js';
import { writeInventory } from '../helpers/inventory.js';
import { ensureLab, etcdNodes, lab, ssh } from '../helpers/lab.js';
import { startProvision } from '../helpers/stream.js';

/** Cases that reset the nodes and converge again: a bound for hangs, far above a loaded machine's need. */
const SLOW = 900_000;
/** Short timeouts, as a user with a flaky network would set them. */
const CONNECT_TIMEOUT = 5;
const KEEPALIVE = 1;
const COMMAND_TIMEOUT = 60;

const members = () => etcdNodes();
const node = (name: string) => members().find((n) => n.name === name)!;
const [E0, E1, E2] = ['etcd0', 'etcd1', 'etcd2'];

let dir: string;
/** The lab's cluster with the short timeouts above. */
let inv: string;

/**
 * What this machine needs beyond a timer for the CLI to start and print: measured here (the
 * slowest of a few `provision --version`), never assumed, so a slow or loaded machine does not fail
 * the checks below that bound a wait by the timeout a user set.
 */
let slackMs = 0;
const slack = async () => {
  if (!slackMs) {
    let worst = 0;
    for (let i = 0; i < 3; i++) worst = Math.max(worst, (await provision(['--version'])).ms);
    slackMs = Math.max(1500, 3 * worst);
  }
  return slackMs;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitUntil(what: string, fn: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(200);
  }
}

/** Every member back to the bare image. */
async function resetMembers() {
  for (const n of members()) await lab.resetNode(n.name);
}

/** Runs a command on a node and expects it to succeed. */
async function on(name: string, command: string) {
  const r = await ssh(node(name).address, command);
  expect(r.code, `${name}: ${command}\n${r.stdout}${r.stderr}`).toBe(0);
  return r.stdout;
}

/** Inside a node without the network (nsenter): for nodes whose network is cut. */
async function inside(name: string, argv: string[]) {
  return lab.exec(name, argv);
}

/** What a user checks on a member: is etcd running, does it hold data, is its config there. */
async function memberState(name: string) {
  const r = await ssh(
    node(name).address,
    `systemctl is-active etcd; test -d /var/lib/etcd/${name}.etcd/member && echo data || echo no-data; ` +
      'test -f /etc/etcd/etcd.conf && echo conf || echo no-conf; rpm -q etcd >/dev/null && echo installed || echo not-installed',
  );
  const [active, data, conf, pkg] = r.stdout.trim().split('\n');
  return { active, data, conf, pkg };
}

/** `etcdctl member list` through one member: names and client URLs (none: it never came up). */
async function memberList(name: string): Promise<{ name: string; peer: string; client: string }[]> {
  const a = node(name).address;
  const r = await ssh(a, `ETCDCTL_API=3 etcdctl --endpoints=http://${a}:2379 member list -w json`);
  expect(r.code, r.stderr).toBe(0);
  const doc = JSON.parse(r.stdout.replace(/"ID":\s*\d+/g, '"ID":0')) as { members: { name?: string; peerURLs: string[]; clientURLs?: string[] }[] };
  return doc.members
    .map((m) => ({ name: m.name ?? '', peer: m.peerURLs.join(','), client: (m.clientURLs ?? []).join(',') }))
    .sort((x, y) => x.peer.localeCompare(y.peer));
}

/** `etcdctl endpoint health` of the given members, as a user runs it: the healthy endpoints. */
async function healthyEndpoints(names: string[]): Promise<string[]> {
  const eps = names.map((n) => `http://${node(n).address}:2379`).join(',');
  const r = await ssh(node(names[0]!).address, `ETCDCTL_API=3 etcdctl --endpoints=${eps} endpoint health 2>&1`);
  return [...r.stdout.matchAll(/^(\S+) is healthy/gm)].map((m) => m[1]!).sort();
}

/** A converge with the base inventory, checked the way a user would: exit 0 and 3 healthy members. */
async function converges(inventory = inv) {
  const r = await provisionJson([inventory]);
  expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
  expect(await healthyEndpoints([E0, E1, E2])).toEqual(
    members()
      .map((n) => `http://${n.address}:2379`)
      .sort(),
  );
  expect((await memberList(E0)).map((m) => m.name)).toEqual([E0, E1, E2]);
  return r;
}

const tasksOf = (run: JsonRun, host: string) => run.tasks.filter((t) => t.host === host);
const taskOf = (run: JsonRun, host: string, task: string): JsonTask => {
  const t = run.tasks.find((x) => x.host === host && x.task === task);
  if (!t)
    throw new Error(
      `no result for ${host}: ${task} in\n${JSON.stringify(
        run.tasks.map((x) => `${x.host}: ${x.task} ${x.status}`),
        null,
        1,
      )}`,
    );
  return t;
};
const START = 'Enable and start etcd';
const VERIFY = 'Wait until every member is started and healthy';
const INSTALL = 'Install etcd';

/** The held-back members of a cluster being bootstrapped: failed at the start, with the reason. */
function expectHeldBack(run: JsonRun, host: string, missing: RegExp) {
  const t = taskOf(run, host, START);
  expect(t.status).toBe('failed');
  expect(t.message).toMatch(/not starting etcd: cluster lab is being bootstrapped/);
  expect(t.message).toMatch(missing);
  expect(t.message).toMatch(/--allow-partial/);
  expect(t.steps).toEqual([]);
  // Nothing after the start ran on it.
  expect(tasksOf(run, host).map((x) => x.task)).not.toContain(VERIFY);
}

/** Holds dnf's metadata lock on a node (as a running yum would), so yum there waits. */
async function holdDnfLock(name: string) {
  await on(
    name,
    'mkdir -p /var/cache/dnf && systemd-run --quiet --unit=provision-test-dnf-hold sleep 600 && ' +
      'printf %s "$(systemctl show -p MainPID --value provision-test-dnf-hold)" > /var/cache/dnf/metadata_lock.pid',
  );
}

/** Ends what the test left on a node without using its network: waiting yums, the lock holder. */
async function releaseDnfLock(name: string) {
  const pids = (await inside(name, ['pgrep', '-f', 'yum install -y -- etcd'])).stdout.split(/\s+/).filter(Boolean);
  for (const pid of pids) await inside(name, ['kill', pid]);
  await inside(name, ['systemctl', 'stop', 'provision-test-dnf-hold']);
  await inside(name, ['rm', '-f', '/var/cache/dnf/metadata_lock.pid']);
}

/** The stderr lines of a command yum ran by hand, as a user would see them. */
const yumErrors = (r: { stderr: string }) => r.stderr.split('\n').filter((l) => /error/i.test(l));

/** SHA256 fingerprint of a known_hosts line, as `ssh-keygen -l` prints it. */
function fingerprintOf(line: string): string {
  const f = path.join(dir, `fp-${Math.random().toString(36).slice(2)}`);
  fs.writeFileSync(f, line + '\n');
  try {
    return execFileSync('ssh-keygen', ['-l', '-f', f]).toString().split(' ')[1]!;
  } finally {
    fs.rmSync(f);
  }
}

/** The lab's known_hosts lines of one node, by key type. */
function labHostKeys(name: string): Record<string, string> {
  const a = node(name).address;
  const lines = fs
    .readFileSync(lab.labFiles.knownHosts, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith(`${a},`));
  return Object.fromEntries(lines.map((l) => [l.split(' ')[1]!, l]));
}

describe('fault matrix on the lab', () => {
  beforeAll(async () => {
    await ensureLab();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'provision-faults-'));
    inv = writeInventory(dir, 'inventory', {
      vars: { connect_timeout: CONNECT_TIMEOUT, keepalive_interval: KEEPALIVE, command_timeout: COMMAND_TIMEOUT },
    });
    await resetMembers();
  });

  afterAll(async () => {
    // Leave a lab that later files can use: every node running and reachable.
    for (const n of members()) {
      await lab.restoreNetwork(n.name).catch(() => undefined);
      if (!lab.status().nodes.find((s) => s.name === n.name)?.running) await lab.startNode(n.name);
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('Ctrl-C: a second Ctrl-C exits at once even while a command is still running', async () => {
    // etcd2's yum waits for a lock, so the run cannot finish its steps in flight.
    await holdDnfLock(E2);
    try {
      const live = startProvision([inv]);
      await live.waitForLine(/^changed: \[etcd[01]\] Write \/etc\/etcd\/etcd\.conf/);
      await waitUntil('yum waits on etcd2', async () => (await inside(E2, ['pgrep', '-f', 'yum install -y -- etcd'])).stdout.trim() !== '');
      live.signal('SIGINT');
      await sleep(1500);
      expect(live.lines.some((l) => /PLAY RECAP/.test(l.text))).toBe(false); // still finishing etcd2's yum
      const second = live.elapsed();
      live.signal('SIGINT');
      const r = await live.done;
      expect(r.code).toBe(130);
      expect(r.ms - second).toBeLessThan(await slack()); // not the yum it was waiting for
      expect(r.stderr).toMatch(/interrupt: finishing the steps in flight \(Ctrl-C again to exit at once\)/);
      expect(r.stderr).toMatch(/second interrupt: exiting now/);
    } finally {
      await releaseDnfLock(E2);
    }
  });

  it(
    'Ctrl-C during a run: steps in flight finish, the recap says where each host stood, exit 130; a re-run converges',
    async () => {
      const live = startProvision([inv]);
      await live.waitForLine(/^changed: \[etcd\d\] /);
      live.signal('SIGINT');
      const r = await live.done;
      expect(r.code, r.stdout + r.stderr).toBe(130);
      expect(r.stdout).toMatch(/^interrupted: stopped after the steps in flight$/m);
      const recap = r.stdout.slice(r.stdout.indexOf('PLAY RECAP'));
      for (const n of members())
        expect(recap).toMatch(new RegExp(`^${n.name} +: ok=\\d+ +changed=\\d+ +unreachable=0 +failed=0 +skipped=\\d+ +interrupted (at|before) .+$`, 'm'));
      // No temporary file of an atomic write is left behind, and no etcd was started.
      for (const n of members()) {
        expect(await on(n.name, "find /etc /var/lib/etcd -xdev -name '.*.provision-*' 2>/dev/null; true")).toBe('');
        expect((await memberState(n.name)).active).not.toBe('active');
      }
      await converges();
    },
    SLOW,
  );

  it('a re-run on a healthy cluster: zero changes, no restart, data directories untouched', async () => {
    const a0 = node(E0).address;
    await on(E0, `ETCDCTL_API=3 etcdctl --endpoints=http://${a0}:2379 put provision-faults still-here`);
    const look = async () =>
      Promise.all(
        members().map(async (n) => ({
          unit: await on(n.name, 'systemctl show -p MainPID -p ActiveEnterTimestamp -p NRestarts etcd'),
          data: await on(n.name, `find /var/lib/etcd -printf '%p %i %y %m %u %g\\n' | sort`),
          revision: JSON.parse(await on(n.name, `ETCDCTL_API=3 etcdctl --endpoints=http://${n.address}:2379 endpoint status -w json`))[0].Status.header
            .revision,
        })),
      );
    const before = await look();
    expect(before.every((b) => b.data.includes('/member/wal'))).toBe(true);
    const r = await provisionJson([inv]);
    expect(r.code, r.stdout).toBe(0);
    expect(totalChanged(r.json)).toBe(0);
    expect(r.json.tasks.filter((t) => t.status !== 'ok' && t.status !== 'skipped')).toEqual([]);
    expect(await look()).toEqual(before);
    expect((await on(E2, `ETCDCTL_API=3 etcdctl --endpoints=http://${node(E2).address}:2379 get --print-value-only provision-faults`)).trim()).toBe(
      'still-here',
    );
  });

  describe('host keys', () => {
    it('a changed host key: that host is refused with both fingerprints, the others are unaffected', async () => {
      const real = labHostKeys(E1);
      const fake: Record<string, string> = {};
      for (const [type, keygen] of [
        ['ssh-ed25519', 'ed25519'],
        ['ecdsa-sha2-nistp256', 'ecdsa'],
      ] as const) {
        const f = path.join(dir, `other_${keygen}`);
        execFileSync('ssh-keygen', ['-q', '-t', keygen, '-N', '', '-f', f]);
        fake[type] = `${node(E1).address},${E1} ${fs.readFileSync(`${f}.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}`;
      }
      const kh = path.join(dir, 'known_hosts.changed');
      fs.writeFileSync(
        kh,
        fs
          .readFileSync(lab.labFiles.knownHosts, 'utf8')
          .split('\n')
          .map((l) => (l.startsWith(`${node(E1).address},`) ? fake[l.split(' ')[1]!]! : l))
          .join('\n'),
      );
      const r = await provisionJson([writeInventory(dir, 'changed-key', { vars: { known_hosts: kh } })]);
      expect(r.code, r.stdout).toBe(4);
      const msg = r.json.unreachable[E1]!;
      expect(msg).toMatch(/REMOTE HOST IDENTIFICATION HAS CHANGED for etcd1/);
      // What the host offered (its real key) and what known_hosts expects (the other key).
      expect(msg).toContain(fingerprintOf(real['ssh-ed25519']!));
      expect(msg).toContain(fingerprintOf(fake['ssh-ed25519']!));
      expect(msg).toContain(kh);
      expect(tasksOf(r.json, E1)).toEqual([]);
      for (const h of [E0, E2]) {
        expect(r.json.recap[h]).toMatchObject({ failed: 0, unreachable: 0, changed: 0 });
        expect(taskOf(r.json, h, VERIFY).status).toBe('ok');
      }
      // The known_hosts given was not changed by the refusal.
      expect(fs.readFileSync(kh, 'utf8')).toContain(fake['ssh-ed25519']!);
    });

    it('an unknown host under strict: refused with its fingerprint and how to accept it', async () => {
      const kh = path.join(dir, 'known_hosts.without-etcd0');
      fs.writeFileSync(
        kh,
        fs
          .readFileSync(lab.labFiles.knownHosts, 'utf8')
          .split('\n')
          .filter((l) => !l.startsWith(`${node(E0).address},`))
          .join('\n'),
      );
      const r = await provision([writeInventory(dir, 'unknown-host', { vars: { known_hosts: kh } })]);
      expect(r.code, r.stdout).toBe(4);
      const line = r.stdout.split('\n').find((l) => l.startsWith('unreachable: [etcd0]'))!;
      expect(line).toMatch(/host key for etcd0 \(10\.\d+\.\d+\.\d+:22\) is not known; fingerprint ED25519 /);
      expect(line).toContain(fingerprintOf(labHostKeys(E0)['ssh-ed25519']!));
      expect(r.stdout).toMatch(new RegExp(`hint: .*ssh-keyscan ${node(E0).address.replace(/\./g, '\\.')} >> ${kh}.*host_key_checking: accept-new`));
      expect(fs.readFileSync(kh, 'utf8')).not.toContain(node(E0).address);
    });

    it('accept-new records each host once, and concurrent runs do not corrupt known_hosts', async () => {
      const check = async (kh: string) => {
        const lines = fs.readFileSync(kh, 'utf8').split('\n').filter(Boolean);
        expect(lines).toHaveLength(3);
        for (const n of members()) {
          const mine = lines.filter((l) => l.split(' ')[0] === n.address);
          expect(mine).toHaveLength(1);
          expect(Object.values(labHostKeys(n.name)).map((l) => l.split(' ').slice(1).join(' '))).toContain(mine[0]!.split(' ').slice(1).join(' '));
          // OpenSSH itself accepts the file.
          const ok = execFileSync('ssh', [
            '-i',
            lab.labFiles.privateKey,
            '-o',
            'StrictHostKeyChecking=yes',
            '-o',
            `UserKnownHostsFile=${kh}`,
            '-o',
            'BatchMode=yes',
            `root@${n.address}`,
            'hostname',
          ]);
          expect(ok.toString().trim()).toBe(n.name);
        }
      };
      const kh = path.join(dir, 'accept-new', 'known_hosts');
      const one = writeInventory(dir, 'accept-new', { vars: { known_hosts: kh, host_key_checking: 'accept-new' } });
      expect((await provision([one])).code).toBe(0);
      await check(kh);
      const before = fs.readFileSync(kh, 'utf8');
      expect((await provision([one])).code).toBe(0);
      expect(fs.readFileSync(kh, 'utf8')).toBe(before);

      const kh2 = path.join(dir, 'concurrent', 'known_hosts');
      const many = writeInventory(dir, 'concurrent', { vars: { known_hosts: kh2, host_key_checking: 'accept-new' } });
      const runs = await Promise.all([1, 2, 3, 4].map(() => provision([many])));
      for (const r of runs) expect(r.code, r.stdout + r.stderr).toBe(0);
      await check(kh2);
    });
  });

  describe('credentials and sudo', () => {
    const WRONG_SUDO_PW = 'wrong-sudo-pw-3f7a9c';
    const RIGHT_PW = 'right-login-pw-81bd2e';

    beforeAll(async () => {
      // On etcd0: one user who may sudo with a password, one who may not sudo at all.
      await on(
        E0,
        [
          'for u in provtest-sudo provtest-nosudo; do',
          '  id $u >/dev/null 2>&1 || useradd -m $u',
          `  echo "$u:${RIGHT_PW}" | chpasswd`,
          '  install -d -m 700 -o $u -g $u /home/$u/.ssh',
          '  install -m 600 -o $u -g $u /root/.ssh/authorized_keys /home/$u/.ssh/authorized_keys',
          'done',
          "echo 'provtest-sudo ALL=(ALL) ALL' > /etc/sudoers.d/provtest-sudo && chmod 440 /etc/sudoers.d/provtest-sudo",
        ].join('\n'),
      );
    });
    afterAll(async () => {
      await ssh(node(E0).address, 'rm -f /etc/sudoers.d/provtest-sudo; userdel -r provtest-sudo; userdel -r provtest-nosudo; true');
    });

    it('a wrong key file: each host reports the failed authentication, nothing of the key is shown', async () => {
      const key = path.join(dir, 'not_the_lab_key');
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
      const r = await provisionJson([writeInventory(dir, 'wrong-key', { vars: { key_file: key } })], { env: { SSH_AUTH_SOCK: '' } });
      expect(r.code).toBe(4);
      for (const n of members())
        expect(r.json.unreachable[n.name]).toMatch(
          new RegExp(`authentication failed for root@${n.address.replace(/\./g, '\\.')}:22 \\(tried: publickey ${key}\\)`),
        );
      const body = fs.readFileSync(key, 'utf8').split('\n')[1]!;
      expect(r.stdout + r.stderr).not.toContain(body);
    });

    /** Runs an inventory where etcd0 logs in as `user`, in the terminal (-vvv) and as JSON. */
    async function asUser(name: string, hostVars: Record<string, unknown>) {
      const file = writeInventory(dir, name, { hosts: { [E0]: { become: true, ...hostVars } } });
      const term = await provision([file, '-vvv']);
      const json = await provisionJson([file]);
      for (const r of [term, json]) {
        expect(r.code, r.stdout + r.stderr).toBe(3);
        for (const secret of [WRONG_SUDO_PW, RIGHT_PW]) expect(r.stdout + r.stderr).not.toContain(secret);
      }
      // The others are unaffected; etcd0 stops at its first task.
      for (const h of [E1, E2]) expect(json.json.recap[h]).toMatchObject({ failed: 0, unreachable: 0 });
      const mine = tasksOf(json.json, E0);
      expect(mine.filter((t) => t.status === 'failed')).toHaveLength(1);
      expect(mine[mine.length - 1]!.task).toBe(INSTALL);
      return { term, message: mine[mine.length - 1]!.message! };
    }

    it('a wrong sudo password: a clear error for that host, the password in no output', async () => {
      const { term, message } = await asUser('wrong-sudo-password', { user: 'provtest-sudo', become_password: WRONG_SUDO_PW });
      expect(message).toMatch(/wrong sudo password on etcd0/);
      expect(term.stdout).toMatch(/^failed: \[etcd0\] Install etcd/m);
    });

    it('sudo asks for a password and none is given: says so', async () => {
      const { message } = await asUser('sudo-no-password', { user: 'provtest-sudo' });
      expect(message).toMatch(/sudo on etcd0 needs a password; set become_password/);
    });

    it("no sudo rights: sudo's refusal for that host, the password in no output", async () => {
      const { message } = await asUser('no-sudo-rights', { user: 'provtest-nosudo', become_password: RIGHT_PW });
      expect(message).toMatch(/sudo to root refused on etcd0: .*provtest-nosudo is not in the sudoers file/);
    });
  });

  it(
    'a member whose network is cut before the run: unreachable within the connect timeout, exit 4, the others stop before starting etcd; a re-run converges once it is back',
    async () => {
      await resetMembers();
      await lab.cutNetwork(E2);
      try {
        const live = startProvision([inv]);
        const line = await live.waitForLine(/^unreachable: \[etcd2\]/);
        const r = await live.done;
        expect(r.code, r.stdout).toBe(4);
        // Within the connect timeout (the time includes starting the CLI).
        expect(line.text).toMatch(
          new RegExp(`cannot connect to etcd2 \\(${node(E2).address.replace(/\./g, '\\.')}:22\\): (host unreachable|timed out after ${CONNECT_TIMEOUT}s)`),
        );
        expect(line.at).toBeLessThan(CONNECT_TIMEOUT * 1000 + (await slack()));
        for (const h of [E0, E1]) {
          expect(r.stdout).toMatch(
            new RegExp(`^failed: \\[${h}\\] ${START} .*\\n +not starting etcd: cluster lab is being bootstrapped .*etcd2 is unreachable`, 'm'),
          );
          expect(r.stdout).not.toMatch(new RegExp(`\\[${h}\\] ${VERIFY}`));
          // Provisioned as far as is safe: installed and configured, not started.
          expect(await memberState(h)).toEqual({ active: 'inactive', data: 'no-data', conf: 'conf', pkg: 'installed' });
        }
        expect(r.stdout).toMatch(/^ +hint: everything before this step is done; bring etcd2 back and run again, or pass --allow-partial/m);
      } finally {
        await lab.restoreNetwork(E2);
      }
      await converges();
    },
    SLOW,
  );

  it(
    'a member stopped before the run: reported at once, the others stop before starting etcd; --allow-partial bootstraps without it; it joins when back',
    async () => {
      await resetMembers();
      await lab.stopNode(E2);
      try {
        // --check says beforehand what the run will do: hold the others back.
        const check = await provisionJson([inv, '--check']);
        expect(check.code).toBe(4);
        for (const h of [E0, E1]) expectHeldBack(check.json, h, /etcd2 is unreachable/);
        const live = startProvision([inv]);
        const line = await live.waitForLine(/^unreachable: \[etcd2\]/);
        const r = await live.done;
        expect(r.code).toBe(4);
        expect(line.text).toMatch(/cannot connect to etcd2 .*: connection refused/);
        expect(line.at).toBeLessThan(CONNECT_TIMEOUT * 1000 + (await slack())); // refused at once, no connect timeout waited out
        expect(r.stdout).toMatch(/^failed: \[etcd0\] Enable and start etcd/m);
        expect(r.stdout).toMatch(/^ +not starting etcd: cluster lab is being bootstrapped \(no member has data yet\) and etcd2 is unreachable/m);
        expect(r.stdout).toMatch(/^etcd2 +: ok=0 +changed=0 +unreachable=1 +failed=0/m);
        for (const h of [E0, E1]) expect((await memberState(h)).active).toBe('inactive');

        // The user asks for the partial cluster: the two reachable members form it (a quorum).
        const p = await provisionJson([inv, '--allow-partial']);
        expect(p.code, p.stdout).toBe(4);
        expect(p.json.warnings.join('\n')).toMatch(/bootstrapping etcd cluster lab without etcd2 \(--allow-partial\)/);
        for (const h of [E0, E1]) {
          expect(taskOf(p.json, h, START).status).toBe('changed');
          expect(taskOf(p.json, h, VERIFY)).toMatchObject({ status: 'failed', message: expect.stringMatching(/etcd2 is unreachable/) });
        }
        await waitUntil('etcd0 and etcd1 are healthy', async () => (await healthyEndpoints([E0, E1])).length === 2);
        // etcd2 is a member of the cluster that has never come up: no client URLs published.
        expect((await memberList(E0)).map((m) => [m.name || '?', m.client !== ''])).toEqual([
          [E0, true],
          [E1, true],
          [E2, false],
        ]);
      } finally {
        await lab.startNode(E2);
      }
      await converges();
    },
    SLOW,
  );

  it(
    'a member cut off in the middle of a run: no hang (keepalive), reported unreachable, nothing half-written; a re-run converges',
    async () => {
      await resetMembers();
      // etcd2's yum waits for a lock: the cut comes while a command runs there.
      await holdDnfLock(E2);
      try {
        const live = startProvision([inv, '--json']);
        await waitUntil('yum waits on etcd2', async () => (await inside(E2, ['pgrep', '-f', 'yum install -y -- etcd'])).stdout.trim() !== '');
        await lab.cutNetwork(E2);
        const cutAt = live.elapsed();
        const r = await live.done;
        // keepalive_interval 1 s: three missed replies end the connection.
        expect(r.ms - cutAt).toBeLessThan(KEEPALIVE * 1000 * 4 + 6000 + (await slack()));
        expect(r.code, r.stdout).toBe(4);
        const run = JSON.parse(r.stdout) as JsonRun;
        expect(run.unreachable[E2]).toMatch(/connection lost during the run/);
        expect(taskOf(run, E2, INSTALL)).toMatchObject({ status: 'failed', message: expect.stringMatching(/connection to etcd2 lost/) });
        for (const h of [E0, E1]) expectHeldBack(run, h, /etcd2 became unreachable/);
        // Nothing half-written on etcd2: no temporary files, no config.
        expect((await inside(E2, ['sh', '-c', "find /etc /var/lib -xdev -name '.*.provision-*'; test -e /etc/etcd/etcd.conf && echo conf; true"])).stdout).toBe(
          '',
        );
      } finally {
        await releaseDnfLock(E2);
        await lab.restoreNetwork(E2);
      }
      await converges();
    },
    SLOW,
  );

  it(
    "yum fails (repository missing, rpm lock held, package absent): yum's own message for that host, nothing after it there",
    async () => {
      await resetMembers();
      await on(E2, 'mkdir -p /root/provision-test-repos && mv /etc/yum.repos.d/*.repo /root/provision-test-repos/');
      await on(
        E1,
        `systemd-run --quiet --unit=provision-test-rpmlock python3 -c "import fcntl, time; f = open('/var/lib/rpm/.rpm.lock', 'a'); fcntl.lockf(f, fcntl.LOCK_EX); time.sleep(600)"`,
      );
      try {
        // What yum says by hand in these states.
        const tryLock = `python3 -c "import fcntl; fcntl.lockf(open('/var/lib/rpm/.rpm.lock', 'a'), fcntl.LOCK_EX | fcntl.LOCK_NB)"`;
        await waitUntil('the rpm lock is held on etcd1', async () => (await ssh(node(E1).address, tryLock)).code !== 0);
        const noRepo = yumErrors(await ssh(node(E2).address, 'yum install -y -- etcd'));
        const locked = yumErrors(await ssh(node(E1).address, 'yum install -y -- etcd'));
        expect(noRepo.length).toBeGreaterThan(0);
        expect(locked.length).toBeGreaterThan(0);

        const r = await provisionJson([inv]);
        expect(r.code, r.stdout).toBe(3);
        for (const [h, said] of [
          [E2, noRepo],
          [E1, locked],
        ] as const) {
          const t = taskOf(r.json, h, INSTALL);
          expect(t.status).toBe('failed');
          expect(t.message).toMatch(/install etcd failed \(exit \d+\): yum install -y -- etcd/);
          for (const l of said) expect(t.message).toContain(l);
          // Nothing after it ran there (tasks before it were skipped by their conditions).
          const ts = tasksOf(r.json, h);
          const at = ts.findIndex((x) => x.task === INSTALL);
          expect(ts.slice(at + 1).map((x) => x.task)).toEqual([]);
          expect(ts.slice(0, at).filter((x) => x.status !== 'skipped')).toEqual([]);
          expect(await memberState(h)).toMatchObject({ pkg: 'not-installed', conf: 'no-conf', active: 'inactive' });
        }
        expectHeldBack(r.json, E0, /etcd1 failed \(at "Install etcd"\).*etcd2 failed \(at "Install etcd"\)/);
      } finally {
        await ssh(node(E2).address, 'mv /root/provision-test-repos/*.repo /etc/yum.repos.d/');
        await ssh(node(E1).address, 'systemctl stop provision-test-rpmlock');
      }

      // A package that does not exist: every member says so, with yum's words.
      const absent = 'etcd-no-such-package';
      const said = yumErrors(await ssh(node(E0).address, `yum install -y -- ${absent}`));
      expect(said.length).toBeGreaterThan(0);
      const bad = await provisionJson([writeInventory(dir, 'absent-package', { packageName: absent })]);
      expect(bad.code).toBe(3);
      for (const n of members()) {
        const t = taskOf(bad.json, n.name, INSTALL);
        expect(t.status).toBe('failed');
        for (const l of said) expect(t.message).toContain(l);
        const ts = tasksOf(bad.json, n.name);
        const at = ts.findIndex((x) => x.task === INSTALL);
        expect(ts.slice(at + 1).map((x) => x.task)).toEqual([]);
        expect(ts.slice(0, at).filter((x) => x.status !== 'skipped')).toEqual([]);
      }
      await converges();
    },
    SLOW,
  );

  it(
    "etcd fails to start (port taken, bad setting): no hang, the error shows the unit's last journal lines; a re-run converges once fixed",
    async () => {
      await resetMembers();
      // etcd2: something else listens on its client port. etcd1: a drop-in gives etcd a bad setting.
      await on(E2, `systemd-run --quiet --unit=provision-test-squatter python3 -m http.server 2379 --bind ${node(E2).address}`);
      await on(
        E1,
        "mkdir -p /etc/systemd/system/etcd.service.d && printf '[Service]\\nEnvironment=ETCD_SNAPSHOT_COUNT=not-a-number\\n' > /etc/systemd/system/etcd.service.d/zz-provision-test.conf",
      );
      try {
        const probe = `python3 -c "import socket; socket.create_connection(('${node(E2).address}', 2379), 1)"`;
        await waitUntil('port 2379 is taken on etcd2', async () => (await ssh(node(E2).address, probe)).code === 0);
        const r = await provisionJson([inv]);
        expect(r.code, r.stdout).toBe(3);
        // The verification's timeout is 90 s: it did not wait it out (its own message would say it timed out).
        expect(taskOf(r.json, E2, VERIFY).message).not.toMatch(/not healthy after/);
        for (const [h, cause] of [
          [E2, /address already in use/],
          [E1, /not-a-number/],
        ] as const) {
          const t = taskOf(r.json, h, VERIFY);
          expect(t.status).toBe('failed');
          expect(t.message).toMatch(/etcd failed to start on this member/);
          expect(t.message).toContain('journalctl -u etcd.service -n 20 --no-pager');
          // The lines a user gets from the journal are in the error.
          const journal = (await on(h, 'journalctl -u etcd -n 20 --no-pager')).split('\n');
          const why = journal.filter((l) => cause.test(l));
          expect(why.length, journal.join('\n')).toBeGreaterThan(0);
          expect(t.message).toContain(why[why.length - 1]);
        }
        expect(taskOf(r.json, E0, VERIFY).message).toMatch(/stopped waiting for etcd cluster lab: etcd[12] failed/);
      } finally {
        await ssh(node(E2).address, 'systemctl stop provision-test-squatter');
        await ssh(node(E1).address, 'rm -f /etc/systemd/system/etcd.service.d/zz-provision-test.conf && systemctl daemon-reload');
      }
      await converges();
    },
    SLOW,
  );
});
