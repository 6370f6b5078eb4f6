/**
 * The connection layer against ssh2's in-process server: no error it raises (login refused,
 * wrong sudo password, unknown host key, refused, timed out, a failed write) shows a
 * password or the content of a file being written, whatever the error's path; the sudo
 * password never reaches the command or its output; private keys are created 0600 from the
 * start (never world-readable for a moment), by SFTP and through sudo.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/connection/ssh.js';
import type { Connection, ConnectionSettings } from '../../src/connection/types.js';
import { ProvisionError } from '../../src/errors.js';
import { generateKey, installFakeSudo, startTestServer, type TestServer } from '../helpers/ssh-server.js';

const LOGIN = 'SENTINEL-login-pw-61c0de';
const SUDO = 'SENTINEL-sudo-pw-e5a7f2';
const KEY = '-----BEGIN PRIVATE KEY-----\nSENTINEL-key-material-93b1\n-----END PRIVATE KEY-----\n';

let root: string;
let remote: string;
let keyFile: string;
let server: TestServer;
const env: NodeJS.ProcessEnv = {};
const open: Connection[] = [];

function settings(over: Partial<ConnectionSettings> = {}): ConnectionSettings {
  const kh = join(root, 'known_hosts');
  const k = server.hostKeys[0]!;
  writeFileSync(kh, `[127.0.0.1]:${server.port} ${k.type} ${k.blob.toString('base64')}\n`);
  return {
    name: 'secrethost',
    address: '127.0.0.1',
    port: server.port,
    user: 'alice',
    keyFiles: [],
    password: LOGIN,
    become: true,
    becomeUser: 'root',
    becomePassword: SUDO,
    knownHostsFiles: [kh],
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

/** Everything the user could be shown of an error. */
const shown = (e: ProvisionError) => [e.format(), e.message, e.hint ?? '', String((e.cause as Error | undefined)?.message ?? '')].join('\n');

function expectClean(what: string, text: string): void {
  expect(text, what).not.toContain('SENTINEL');
}

beforeAll(async () => {
  delete process.env.SSH_AUTH_SOCK;
  root = mkdtempSync(join(tmpdir(), 'ssh-secrets-'));
  remote = join(root, 'remote');
  mkdirSync(remote);
  const key = generateKey('ed25519');
  keyFile = join(root, 'id_ed25519');
  writeFileSync(keyFile, key.private, { mode: 0o600 });
  env.PATH = `${installFakeSudo(join(root, 'bin'))}:${process.env.PATH}`;
  env.FAKE_SUDO_PASSWORD = SUDO;
  server = await startTestServer({ cwd: remote, env, users: { root: { publicKey: key.public }, alice: { password: LOGIN } } });
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  await server?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('connection errors never show a password', () => {
  it('wrong login password', async () => {
    const e = await rejection(conn({ password: `${LOGIN}-wrong` }));
    expect(e.code).toBe('AUTH');
    expectClean('auth error', shown(e));
  });

  it('unknown host key (strict)', async () => {
    const empty = join(root, 'empty_known_hosts');
    writeFileSync(empty, '');
    const e = await rejection(conn({ knownHostsFiles: [empty] }));
    expect(e.code).toBe('HOSTKEY');
    expectClean('host key error', shown(e));
  });

  it('connection refused, and a silent server timing out', async () => {
    const held: Socket[] = [];
    const tmp = createServer((s) => void held.push(s)); // accepts, then says nothing
    await new Promise<void>((r) => tmp.listen(0, '127.0.0.1', () => r()));
    const port = (tmp.address() as { port: number }).port;
    const timeout = await rejection(conn({ port, connectTimeoutMs: 300 }));
    held.forEach((s) => s.destroy());
    await new Promise<void>((r) => tmp.close(() => r()));
    const refused = await rejection(conn({ port }));
    expect([timeout.code, refused.code]).toEqual(['TIMEOUT', 'CONNECT']);
    expectClean('timeout', shown(timeout));
    expectClean('refused', shown(refused));
  });

  it('wrong sudo password', async () => {
    const c = await conn({ becomePassword: `${SUDO}-wrong` });
    const e = await rejection(c.exec('true'));
    expect(e.code).toBe('AUTH');
    expectClean('sudo error', shown(e));
    expectClean('command sent', server.execs.at(-1)!.command);
  });
});

describe('the sudo password stays out of the command and its output', () => {
  it('a command that reads its stdin and fails echoes nothing of the password', async () => {
    const c = await conn();
    const r = await c.exec('cat; cat >&2 </dev/null; echo "args: $*" >&2; exit 3');
    expect(r.exitCode).toBe(3);
    expectClean('stdout', r.stdout);
    expectClean('stderr', r.stderr);
    expectClean('command', r.command);
    expectClean('command sent', server.execs.at(-1)!.command);
  });

  it('a command that times out under sudo', async () => {
    const c = await conn({ commandTimeoutMs: 300 });
    const e = await rejection(c.exec('sleep 5'));
    expect(e.code).toBe('TIMEOUT');
    expectClean('timeout', shown(e));
  });
});

describe('private keys are written 0600 from the start, and their content is never in a message', () => {
  it('through sudo: the temp file is made under umask 077, the content goes on stdin', async () => {
    const c = await conn();
    const p = join(remote, 'etcd0.key');
    await c.writeFile(p, KEY, { mode: 0o600 });
    expect(readFileSync(p, 'utf8')).toBe(KEY);
    expect(statSync(p).mode & 0o777).toBe(0o600);
    const sent = server.execs.at(-1)!;
    expectClean('command sent', sent.command);
    expect(sent.command.indexOf('umask 077')).toBeGreaterThan(-1);
    expect(sent.command.indexOf('umask 077')).toBeLessThan(sent.command.indexOf('mktemp'));
    expect(sent.stdin.toString()).toContain('SENTINEL-key-material'); // it went where it should
  });

  it('by SFTP: the temp file is opened with mode 0600', async () => {
    const c = await conn({ user: 'root', keyFiles: [keyFile], password: undefined, become: false });
    const p = join(remote, 'client.key');
    server.sftpOps.length = 0;
    await c.writeFile(p, KEY, { mode: 0o600 });
    expect(statSync(p).mode & 0o777).toBe(0o600);
    const created = server.sftpOps.find((o) => o.startsWith('open-mode '));
    expect(created).toMatch(new RegExp(`^open-mode 0600 ${remote}/\\.client\\.key\\.provision-[0-9a-f]+\\.tmp$`));
  });

  it('a write that fails (no such directory) says so without the content, both ways', async () => {
    const target = join(remote, 'missing-dir', 'x.key');
    const viaSudo = await rejection((await conn()).writeFile(target, KEY, { mode: 0o600 }));
    const viaSftp = await rejection(
      (await conn({ user: 'root', keyFiles: [keyFile], password: undefined, become: false })).writeFile(target, KEY, { mode: 0o600 }),
    );
    for (const e of [viaSudo, viaSftp]) {
      expect(e.message).toMatch(/^cannot write .*missing-dir\/x\.key on secrethost: /);
      expectClean('write error', shown(e));
    }
  });
});
