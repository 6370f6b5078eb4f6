import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect as netConnect, createServer, Socket, type Server as NetServer } from 'node:net';
import { execFileSync } from 'node:child_process';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { connect, SshConnection } from '../../src/connection/ssh.js';
import { FIXED_LOCALE } from '../../src/connection/exec.js';
import type { Connection, ConnectionSettings } from '../../src/connection/types.js';
import { ProvisionError } from '../../src/errors.js';
import { fingerprint } from '../../src/connection/known-hosts.js';
import { generateKey, installFakeSudo, publicKeyBlob, publicKeyLine, startTestServer, type TestServer } from '../helpers/ssh-server.js';

const realSetNoDelay = Socket.prototype.setNoDelay;
const realWrite = Socket.prototype.write;
let root: string;
let remote: string;
let keyFile: string;
let server: TestServer;
const env: NodeJS.ProcessEnv = {};
const open: Connection[] = [];
const me = userInfo().username;
const SUDO_PW = 'S3cr3t-sudo-pw';

function khLine(port: number, s: TestServer, i = 0): string {
  const k = s.hostKeys[i]!;
  return `[127.0.0.1]:${port} ${k.type} ${k.blob.toString('base64')}\n`;
}

function knownHosts(name: string, content: string): string {
  const f = join(root, name);
  writeFileSync(f, content);
  return f;
}

function settings(over: Partial<ConnectionSettings> = {}): ConnectionSettings {
  return {
    name: 'testhost',
    address: '127.0.0.1',
    port: server.port,
    user: 'root',
    keyFiles: [keyFile],
    become: false,
    becomeUser: 'root',
    knownHostsFiles: [knownHosts('kh-default', khLine(server.port, server))],
    hostKeyPolicy: 'strict',
    connectTimeoutMs: 5000,
    commandTimeoutMs: 10_000,
    keepaliveIntervalMs: 5000,
    ...over,
  };
}

async function conn(over: Partial<ConnectionSettings> = {}): Promise<Connection> {
  const c = await connect(settings(over));
  open.push(c);
  return c;
}

async function rejection(p: Promise<unknown>): Promise<ProvisionError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ProvisionError);
    return e as ProvisionError;
  }
  throw new Error('expected a rejection');
}

beforeAll(async () => {
  delete process.env.SSH_AUTH_SOCK;
  root = mkdtempSync(join(tmpdir(), 'ssh-test-'));
  remote = join(root, 'remote');
  mkdirSync(remote);
  const key = generateKey('ed25519');
  keyFile = join(root, 'id_ed25519');
  writeFileSync(keyFile, key.private, { mode: 0o600 });
  const bin = installFakeSudo(join(root, 'bin'));
  env.PATH = `${bin}:${process.env.PATH}`;
  env.FAKE_SUDO_PASSWORD = SUDO_PW;
  server = await startTestServer({
    cwd: remote,
    env,
    users: { root: { publicKey: key.public }, alice: { password: 'alice-pw' } },
  });
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
  delete env.FAKE_SUDO_NOPASSWD;
});

afterAll(async () => {
  await server?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('host keys', () => {
  it('connects when known_hosts has the key ([host]:port form)', async () => {
    const c = await conn();
    expect((await c.exec('echo hi')).stdout).toBe('hi\n');
  });

  it('accepts a hashed known_hosts entry', async () => {
    const salt = randomBytes(20);
    const h = createHmac('sha1', salt).update(`[127.0.0.1]:${server.port}`).digest();
    const k = server.hostKeys[0]!;
    const f = knownHosts('kh-hashed', `|1|${salt.toString('base64')}|${h.toString('base64')} ${k.type} ${k.blob.toString('base64')}\n`);
    const c = await conn({ knownHostsFiles: [f] });
    expect((await c.exec('true')).exitCode).toBe(0);
  });

  it('refuses a changed key under every policy, showing both fingerprints and file:line', async () => {
    const other = generateKey('ed25519');
    const otherBlob = publicKeyBlob(other.public);
    const f = knownHosts('kh-changed', `# first line\n[127.0.0.1]:${server.port} ssh-ed25519 ${otherBlob.toString('base64')}\n`);
    for (const policy of ['strict', 'accept-new'] as const) {
      const e = await rejection(conn({ knownHostsFiles: [f], hostKeyPolicy: policy }));
      expect(e.code).toBe('HOSTKEY');
      expect(e.message).toContain('REMOTE HOST IDENTIFICATION HAS CHANGED');
      expect(e.message).toContain(server.hostKeys[0]!.fingerprint);
      expect(e.message).toContain(fingerprint(otherBlob));
      expect(e.message).toContain(`${f}:2`);
    }
    expect(readFileSync(f, 'utf8').split('\n')).toHaveLength(3);
  });

  it('refuses an unknown host under strict with its fingerprint', async () => {
    const f = join(root, 'kh-missing');
    const e = await rejection(conn({ knownHostsFiles: [f] }));
    expect(e.code).toBe('HOSTKEY');
    expect(e.message).toBe(`host key for testhost (127.0.0.1:${server.port}) is not known; fingerprint ED25519 ${server.hostKeys[0]!.fingerprint}`);
    expect(e.hint).toMatch(/accept-new/);
  });

  it('accept-new records the key exactly once with 10 concurrent connects', async () => {
    const f = join(root, 'new-ssh-dir', 'known_hosts');
    const before = server.connections;
    const cs = await Promise.all(Array.from({ length: 10 }, () => conn({ knownHostsFiles: [f], hostKeyPolicy: 'accept-new' })));
    expect(server.connections - before).toBe(10);
    expect(readFileSync(f, 'utf8')).toBe(khLine(server.port, server));
    expect(statSync(f).mode & 0o777).toBe(0o600);
    await Promise.all(cs.map((c) => c.exec('true')));
    // now known: strict works
    const c = await conn({ knownHostsFiles: [f] });
    expect((await c.exec('echo ok')).stdout).toBe('ok\n');
  });

  it('negotiates the host key type that known_hosts has (rsa known, ed25519 also offered)', async () => {
    const rsa = generateKey('rsa');
    const ed = generateKey('ed25519');
    const s2 = await startTestServer({
      cwd: remote,
      users: { root: { publicKey: publicKeyLine(readFileSync(keyFile)) } },
      hostKeys: [ed.private, rsa.private],
    });
    try {
      const rsaKey = s2.hostKeys[1]!;
      expect(rsaKey.type).toBe('ssh-rsa');
      const f = knownHosts('kh-rsa', `[127.0.0.1]:${s2.port} ssh-rsa ${rsaKey.blob.toString('base64')}\n`);
      const c = await conn({ port: s2.port, knownHostsFiles: [f] });
      expect((await c.exec('echo rsa')).stdout).toBe('rsa\n');
    } finally {
      await s2.close();
    }
  });
});

describe('authentication and connect errors', () => {
  it('reports what was tried when authentication fails', async () => {
    const e = await rejection(conn({ user: 'alice', keyFiles: [keyFile], password: 'wrong' }));
    expect(e.code).toBe('AUTH');
    expect(e.message).toMatch(new RegExp(`^authentication failed for alice@127\\.0\\.0\\.1:${server.port} \\(tried: publickey .*id_ed25519, password`));
    expect(e.message).not.toContain('wrong');
  });

  it('logs in with a password', async () => {
    const c = await conn({ user: 'alice', keyFiles: [], password: 'alice-pw' });
    expect((await c.exec('echo pw')).stdout).toBe('pw\n');
  });

  it('explains a key protected by a passphrase', async () => {
    const enc = generateKey('ed25519', 'pass');
    const f = join(root, 'id_enc');
    writeFileSync(f, enc.private, { mode: 0o600 });
    const e = await rejection(conn({ keyFiles: [f] }));
    expect(e.code).toBe('AUTH');
    expect(e.hint).toContain(`key ${f} is protected by a passphrase`);
  });

  it('connection refused is a plain CONNECT error', async () => {
    const tmp = createServer();
    await new Promise<void>((r) => tmp.listen(0, '127.0.0.1', () => r()));
    const port = (tmp.address() as { port: number }).port;
    await new Promise<void>((r) => tmp.close(() => r()));
    const e = await rejection(conn({ port }));
    expect(e.code).toBe('CONNECT');
    expect(e.message).toBe(`cannot connect to testhost (127.0.0.1:${port}): connection refused`);
  });

  it('a silent server times out with the host name', async () => {
    const silent: NetServer = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const port = (silent.address() as { port: number }).port;
    try {
      const e = await rejection(conn({ port, connectTimeoutMs: 300 }));
      expect(e.code).toBe('TIMEOUT');
      expect(e.message).toContain(`testhost (127.0.0.1:${port})`);
    } finally {
      silent.close();
    }
  });
});

describe('TCP', () => {
  it('the socket has TCP_NODELAY before the handshake starts, not only after login (Nagle against delayed ACKs: ~40 ms on two of its round trips)', async () => {
    const order: string[] = [];
    const nodelay = vi.spyOn(Socket.prototype, 'setNoDelay').mockImplementation(function (this: Socket, ...a) {
      order.push(`setNoDelay(${a[0]})`);
      return realSetNoDelay.apply(this, a);
    });
    const write = vi.spyOn(Socket.prototype, 'write').mockImplementation(function (this: Socket, ...a: unknown[]) {
      if (order.at(-1) !== 'write') order.push('write');
      return (realWrite as (...x: unknown[]) => boolean).apply(this, a);
    });
    try {
      const c = await conn();
      expect((await c.exec('echo ok')).stdout).toBe('ok\n');
    } finally {
      nodelay.mockRestore();
      write.mockRestore();
    }
    // The first write is the client's identification line: the handshake has not begun.
    expect(order.indexOf('setNoDelay(true)')).toBeGreaterThanOrEqual(0);
    expect(order.indexOf('setNoDelay(true)')).toBeLessThan(order.indexOf('write'));
  });
});

describe('exec', () => {
  it('returns exit codes without throwing; stdout untrimmed; stderr is not failure', async () => {
    const c = await conn();
    const r = await c.exec('echo out; echo err >&2; exit 3');
    expect(r).toMatchObject({ command: 'echo out; echo err >&2; exit 3', exitCode: 3, stdout: 'out\n', stderr: 'err\n' });
    expect(r.durationMs).toBeGreaterThanOrEqual(0);
    const r2 = await c.exec("printf '  spaced  \\n\\n'; echo warning >&2");
    expect(r2).toMatchObject({ exitCode: 0, stdout: '  spaced  \n\n', stderr: 'warning\n' });
  });

  it('decodes multi-byte output split across chunks', async () => {
    const c = await conn();
    const r = await c.exec("i=0; while [ $i -lt 20000 ]; do printf '€ü'; i=$((i+1)); done");
    expect(r.stdout).toBe('€ü'.repeat(20000));
  });

  it('passes stdin (string and binary)', async () => {
    const c = await conn();
    expect((await c.exec('cat', { stdin: 'hello\nworld' })).stdout).toBe('hello\nworld');
    const bin = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    expect((await c.exec('od -An -v -tx1 | tr -d " \\n"', { stdin: bin })).stdout).toBe(bin.toString('hex'));
    // no stdin: EOF right away
    expect((await c.exec('cat; echo done')).stdout).toBe('done\n');
  });

  it('times out, kills the command, and the connection stays usable', async () => {
    const c = await conn();
    const e = await rejection(c.exec('sleep 10', { timeoutMs: 300 }));
    expect(e.code).toBe('TIMEOUT');
    expect(e.message).toBe('command timed out after 0.3s on testhost: sleep 10');
    expect((await c.exec('echo still')).stdout).toBe('still\n');
  });

  it('uses commandTimeoutMs by default', async () => {
    const c = await conn({ commandTimeoutMs: 200 });
    const e = await rejection(c.exec('sleep 5'));
    expect(e.message).toMatch(/timed out after 0.2s/);
  });

  it('reports a lost connection for running and later commands', async () => {
    const c = await conn();
    const p = c.exec('sleep 10');
    await new Promise((r) => setTimeout(r, 200));
    server.dropConnections();
    const e = await rejection(p);
    expect(e.code).toBe('CONNECT');
    expect(e.message).toMatch(/^connection to testhost lost/);
    const e2 = await rejection(c.exec('true'));
    expect(e2.code).toBe('CONNECT');
  });

  it('uses one TCP connection for many commands', async () => {
    const before = server.connections;
    const c = await conn();
    for (let i = 0; i < 5; i++) await c.exec('true');
    await Promise.all(Array.from({ length: 20 }, (_, i) => c.exec(`echo ${i}`)));
    await c.readFile(join(remote, 'nothing'));
    await c.writeFile(join(remote, 'reuse.txt'), 'x');
    expect(server.connections - before).toBe(1);
  });

  it('never has more than 4 channels open at once', async () => {
    const c = await conn();
    server.sessions.max = server.sessions.current;
    const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => c.exec(`sleep 0.1; echo ${i}`)));
    expect(rs.map((r) => r.stdout)).toEqual(Array.from({ length: 20 }, (_, i) => `${i}\n`));
    expect(server.sessions.max).toBe(4);
  });

  it('retries a refused channel open once', async () => {
    const c = (await conn()) as SshConnection;
    server.rejectSessions = 1;
    expect((await c.exec('echo again')).stdout).toBe('again\n');
    expect(c.channelRetries).toBe(1);
    server.rejectSessions = 2;
    const e = await rejection(c.exec('true'));
    expect(e.code).toBe('CONNECT');
    expect(e.message).toMatch(/Channel open failure/);
    server.rejectSessions = 0;
  });

  it('close() is idempotent', async () => {
    const c = await connect(settings());
    await Promise.all([c.close(), c.close()]);
    await c.close();
    const e = await rejection(c.exec('true'));
    expect(e.code).toBe('CONNECT');
  });
});

describe('become (sudo)', () => {
  const alice = (over: Partial<ConnectionSettings> = {}) =>
    conn({ user: 'alice', keyFiles: [], password: 'alice-pw', become: true, becomePassword: SUDO_PW, ...over });

  it('runs a batch of commands in one exec through sudo, each result its own (execMany)', async () => {
    const c = (await alice()) as Connection & { execMany: NonNullable<Connection['execMany']> };
    const before = server.execs.length;
    const rs = await c.execMany(['echo "$FAKE_SUDO_TARGET"', 'echo e >&2; exit 4', "printf 'no newline'"]);
    expect(server.execs.length - before).toBe(1);
    expect(rs.map((r) => [r.exitCode, r.stdout, r.stderr])).toEqual([
      [0, 'root\n', ''],
      [4, '', 'e\n'],
      [0, 'no newline', ''],
    ]);
    expect(rs[1]!.command).toBe('echo e >&2; exit 4');
  });

  it('wraps the command; the password goes to stdin after the prompt, never in the command', async () => {
    const c = await alice();
    const r = await c.exec('echo "$FAKE_SUDO_TARGET"; echo e >&2');
    expect(r).toMatchObject({ exitCode: 0, stdout: 'root\n', stderr: 'e\n', command: 'echo "$FAKE_SUDO_TARGET"; echo e >&2' });
    const rec = server.execs.at(-1)!;
    expect(rec.command).toMatch(
      /^export LANG=C LC_ALL=C LC_MESSAGES=C; unset LANGUAGE\nsudo -H -S -p '\[sudo via provision, key=[0-9a-f]+\] password:' -u root -- sh -c /,
    );
    expect(rec.command).not.toContain(SUDO_PW);
    expect(rec.stdin.toString()).toBe(`${SUDO_PW}\n`);
  });

  it('passes the user stdin after the password', async () => {
    const c = await alice();
    const r = await c.exec('cat', { stdin: 'payload' });
    expect(r.stdout).toBe('payload');
    expect(server.execs.at(-1)!.stdin.toString()).toBe(`${SUDO_PW}\npayload`);
  });

  it('does not send the password when sudo does not ask', async () => {
    env.FAKE_SUDO_NOPASSWD = '1';
    const c = await alice();
    const r = await c.exec('cat', { stdin: 'only-this' });
    expect(r.stdout).toBe('only-this');
    expect(server.execs.at(-1)!.stdin.toString()).toBe('only-this');
  });

  it('wrong password -> AUTH, password nowhere', async () => {
    const c = await alice({ becomePassword: 'nope-wrong' });
    const e = await rejection(c.exec('true'));
    expect(e.code).toBe('AUTH');
    expect(e.message).toBe('wrong sudo password on testhost');
    expect(e.format()).not.toContain('nope-wrong');
    expect(server.execs.at(-1)!.command).not.toContain('nope-wrong');
  });

  it('no password -> sudo -n; a needed password -> AUTH', async () => {
    const c = await alice({ becomePassword: undefined });
    const e = await rejection(c.exec('true'));
    expect(e.code).toBe('AUTH');
    expect(e.message).toBe('sudo on testhost needs a password; set become_password');
    expect(server.execs.at(-1)!.command).toMatch(/^export LANG=C LC_ALL=C LC_MESSAGES=C; unset LANGUAGE\nsudo -H -n -u root -- sh -c /);
    env.FAKE_SUDO_NOPASSWD = '1';
    expect((await c.exec('echo fine')).stdout).toBe('fine\n');
  });

  it('become: false per command skips sudo; root login skips sudo', async () => {
    const c = await alice();
    await c.exec('echo plain', { become: false });
    expect(server.execs.at(-1)!.command).toBe(FIXED_LOCALE + 'echo plain');
    const r = await conn({ become: true, becomePassword: SUDO_PW });
    await r.exec('echo asroot');
    expect(server.execs.at(-1)!.command).toBe(FIXED_LOCALE + 'echo asroot');
  });

  it('a password with a line break is refused before anything is sent (defence in depth behind the inventory check)', async () => {
    const before = server.execs.length;
    const connections = server.connections;
    for (const over of [{ becomePassword: `${SUDO_PW}\n` }, { becomePassword: `${SUDO_PW}\r\nrm -rf /` }, { password: 'alice-pw\n' }]) {
      const e = await rejection(alice(over));
      expect(e.code).toBe('AUTH');
      expect(e.message).toMatch(/(become_password|password) of testhost contains a line break/);
      expect(e.format()).not.toContain(SUDO_PW);
    }
    expect(server.execs.length).toBe(before);
    expect(server.connections).toBe(connections);
  });

  it("runs with LANG=C even where the login and sudo's PAM set another language; the user's own commands keep it", async () => {
    // As on a Chinese-language CentOS: the login shell has LANG set; sudo's PAM session may set it again.
    env.LANG = 'zh_CN.UTF-8';
    env.LANGUAGE = 'zh_CN:zh';
    env.FAKE_SUDO_SETS_LANG = 'zh_CN.UTF-8';
    try {
      const show = 'echo "${LANG-}|${LC_ALL-}|${LC_MESSAGES-}|${LANGUAGE-unset}"';
      const c = await alice({ becomePassword: undefined });
      env.FAKE_SUDO_NOPASSWD = '1';
      expect((await c.exec(show, { become: false })).stdout).toBe('C|C|C|unset\n');
      expect((await c.exec(show)).stdout).toBe('C|C|C|unset\n');
      expect((await c.exec(show, { nodeLocale: true })).stdout).toBe('zh_CN.UTF-8|||zh_CN:zh\n');
      expect((await c.exec(show, { become: false, nodeLocale: true })).stdout).toBe('zh_CN.UTF-8|||zh_CN:zh\n');
    } finally {
      delete env.LANG;
      delete env.LANGUAGE;
      delete env.FAKE_SUDO_SETS_LANG;
    }
  });

  it('readFile and writeFile through sudo', async () => {
    const c = await alice();
    const p = join(remote, 'sudo-written.conf');
    await c.writeFile(p, 'a=1\n', { mode: 0o600 });
    expect(readFileSync(p, 'utf8')).toBe('a=1\n');
    expect(statSync(p).mode & 0o777).toBe(0o600);
    expect(server.execs.at(-1)!.stdin.toString()).toBe(`${SUDO_PW}\na=1\n`);
    expect((await c.readFile(p))!.toString()).toBe('a=1\n');
    expect(await c.readFile(join(remote, 'absent'))).toBeNull();
    const bin = randomBytes(3000);
    await c.writeFile(p, bin);
    expect((await c.readFile(p))!.equals(bin)).toBe(true);
    expect(readdirSync(remote).filter((n) => n.includes('provision'))).toEqual([]);
  });
});

describe('files (SFTP)', () => {
  it('readFile returns null for a missing file and binary content byte for byte', async () => {
    const c = await conn();
    expect(await c.readFile(join(remote, 'missing.bin'))).toBeNull();
    const bin = randomBytes(100_000);
    writeFileSync(join(remote, 'data.bin'), bin);
    expect((await c.readFile(join(remote, 'data.bin')))!.equals(bin)).toBe(true);
  });

  it('writes atomically: temp file in the same dir, mode set, posix-rename over the target', async () => {
    const c = await conn();
    const p = join(remote, 'etcd.conf');
    writeFileSync(p, 'old');
    server.sftpOps.length = 0;
    await c.writeFile(p, 'new content\n', { mode: 0o640 });
    expect(readFileSync(p, 'utf8')).toBe('new content\n');
    expect(statSync(p).mode & 0o7777).toBe(0o640);
    const openOp = server.sftpOps.find((o) => o.startsWith('open '))!;
    expect(openOp).toMatch(new RegExp(`^open ${remote}/\\.etcd\\.conf\\.provision-[0-9a-f]+\\.tmp wx$`));
    expect(server.sftpOps.at(-1)).toMatch(/^posix-rename .*\.tmp .*etcd\.conf$/);
    expect(readdirSync(remote).filter((n) => n.includes('provision'))).toEqual([]);
  });

  it('keeps the old mode when no mode is given, 0644 for new files', async () => {
    const c = await conn();
    const p = join(remote, 'keepmode');
    writeFileSync(p, 'x', { mode: 0o600 });
    await c.writeFile(p, 'y');
    expect(statSync(p).mode & 0o777).toBe(0o600);
    const q = join(remote, 'newfile');
    await c.writeFile(q, 'z');
    expect(statSync(q).mode & 0o777).toBe(0o644);
  });

  it('sets owner and group', async () => {
    const c = await conn();
    const p = join(remote, 'owned');
    const group = execFileSync('id', ['-gn']).toString().trim();
    await c.writeFile(p, 'o', { owner: me, group });
    expect(server.execs.at(-1)!.command).toMatch(new RegExp(`^${FIXED_LOCALE}chown -- ${me}:${group} .*\\.owned\\.provision-`));
    expect(readFileSync(p, 'utf8')).toBe('o');
  });

  it('a failing rename leaves the old content and no temp file', async () => {
    const failing = await startTestServer({
      cwd: remote,
      users: { root: { publicKey: publicKeyLine(readFileSync(keyFile)) } },
      hostKeys: undefined,
      failRename: (_from, to) => to.endsWith('precious.conf'),
    });
    try {
      const f = knownHosts('kh-failing', khLine(failing.port, failing));
      const c = await conn({ port: failing.port, knownHostsFiles: [f] });
      const p = join(remote, 'precious.conf');
      writeFileSync(p, 'old content');
      const e = await rejection(c.writeFile(p, 'new content'));
      expect(e.code).toBe('COMMAND');
      expect(e.message).toMatch(/^cannot write .*precious\.conf on testhost: /);
      expect(readFileSync(p, 'utf8')).toBe('old content');
      expect(readdirSync(remote).filter((n) => n.includes('provision'))).toEqual([]);
      expect(failing.sftpOps.some((o) => o.startsWith('remove '))).toBe(true);
    } finally {
      await failing.close();
    }
  });

  it('falls back to mv -f without the posix-rename extension', async () => {
    const plain = await startTestServer({ cwd: remote, users: { root: { publicKey: publicKeyLine(readFileSync(keyFile)) } }, posixRename: false });
    try {
      const f = knownHosts('kh-plain', khLine(plain.port, plain));
      const c = await conn({ port: plain.port, knownHostsFiles: [f] });
      const p = join(remote, 'mv.conf');
      writeFileSync(p, 'old');
      await c.writeFile(p, 'via mv');
      expect(readFileSync(p, 'utf8')).toBe('via mv');
      expect(plain.execs.at(-1)!.command).toMatch(
        /^export LANG=C LC_ALL=C LC_MESSAGES=C; unset LANGUAGE\nmv -fT -- .*\.mv\.conf\.provision-[0-9a-f]+\.tmp .*mv\.conf$/,
      );
    } finally {
      await plain.close();
    }
  });
});

describe('ProxyJump', () => {
  it('connects through a jump host and verifies both host keys', async () => {
    const jump = await startTestServer({ cwd: remote, users: { jumper: { publicKey: publicKeyLine(readFileSync(keyFile)) } }, allowForwarding: true });
    try {
      const both = knownHosts('kh-both', khLine(jump.port, jump) + khLine(server.port, server));
      const before = server.connections;
      const c = await conn({ knownHostsFiles: [both], proxyJump: { address: '127.0.0.1', port: jump.port, user: 'jumper' } });
      expect((await c.exec('echo via jump')).stdout).toBe('via jump\n');
      expect(jump.forwards).toEqual([`127.0.0.1:${server.port}`]);
      expect(jump.connections).toBe(1);
      expect(server.connections - before).toBe(1);

      // jump host key unknown -> refused, naming the jump host
      const targetOnly = knownHosts('kh-target-only', khLine(server.port, server));
      const e = await rejection(conn({ knownHostsFiles: [targetOnly], proxyJump: { address: '127.0.0.1', port: jump.port, user: 'jumper' } }));
      expect(e.code).toBe('HOSTKEY');
      expect(e.message).toContain(`jump host jumper@127.0.0.1:${jump.port}`);

      // target key unknown -> refused, naming the target
      const jumpOnly = knownHosts('kh-jump-only', khLine(jump.port, jump));
      const e2 = await rejection(conn({ knownHostsFiles: [jumpOnly], proxyJump: { address: '127.0.0.1', port: jump.port, user: 'jumper' } }));
      expect(e2.code).toBe('HOSTKEY');
      expect(e2.message).toContain('host key for testhost');
    } finally {
      await jump.close();
    }
  });
});

describe('handshakes dropped by the server (MaxStartups)', () => {
  /** A TCP front that closes the first `drop` connections at once, as sshd over MaxStartups does, then forwards. */
  async function dropFront(drop: number): Promise<{ port: number; accepted: () => number; close: () => Promise<void> }> {
    let accepted = 0;
    const front: NetServer = createServer((sock) => {
      accepted++;
      if (accepted <= drop) return sock.destroy();
      const back = netConnect(server.port, '127.0.0.1');
      sock.pipe(back).pipe(sock);
      back.on('error', () => sock.destroy());
      sock.on('error', () => back.destroy());
    });
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
    const port = (front.address() as { port: number }).port;
    return { port, accepted: () => accepted, close: () => new Promise((r) => front.close(() => r())) };
  }

  it('retries with backoff and connects; the attempts are counted', async () => {
    const f = await dropFront(2);
    try {
      const c = (await conn({ port: f.port, knownHostsFiles: [knownHosts('kh-front', khLine(f.port, server))] })) as SshConnection;
      expect((await c.exec('echo ok')).stdout).toBe('ok\n');
      expect(c.connectAttempts).toBe(3);
      expect(f.accepted()).toBe(3);
      await c.close();
    } finally {
      await f.close();
    }
  });

  it('gives up after a bounded number of attempts with a clear error', async () => {
    const f = await dropFront(100);
    try {
      const e = await rejection(conn({ port: f.port, knownHostsFiles: [knownHosts('kh-front2', khLine(f.port, server))] }));
      expect(e.code).toBe('CONNECT');
      expect(e.message).toMatch(/closed before login|connection reset|lost before handshake/i);
      expect(f.accepted()).toBe(4);
    } finally {
      await f.close();
    }
  });
});
