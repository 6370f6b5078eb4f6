/**
 * Atomic writes never follow a link they did not plan for: the target (or its directory) is
 * planned as a regular file in a real directory, then swapped for a symlink before the write is
 * applied. The write must fail with a clear message and leave what the link points to alone.
 * Through SFTP (root login) and through sudo (become), against the in-process SSH server.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '../../src/connection/ssh.js';
import type { Connection, ConnectionSettings } from '../../src/connection/types.js';
import { ProvisionError } from '../../src/errors.js';
import { applyStep } from '../../src/executor/apply.js';
import { file as fileFact } from '../../src/facts/file.js';
import type { FileStep } from '../../src/plan/types.js';
import { generateKey, installFakeSudo, startTestServer, type TestServer } from '../helpers/ssh-server.js';

let root: string;
let remote: string;
let keyFile: string;
let server: TestServer;
const env: NodeJS.ProcessEnv = {};
const open: Connection[] = [];
const SUDO_PW = 'S3cr3t-sudo-pw';

function settings(over: Partial<ConnectionSettings>): ConnectionSettings {
  const k = server.hostKeys[0]!;
  const kh = join(root, 'known_hosts');
  writeFileSync(kh, `[127.0.0.1]:${server.port} ${k.type} ${k.blob.toString('base64')}\n`);
  return {
    name: 'testhost',
    address: '127.0.0.1',
    port: server.port,
    user: 'root',
    keyFiles: [keyFile],
    become: false,
    becomeUser: 'root',
    knownHostsFiles: [kh],
    hostKeyPolicy: 'strict',
    connectTimeoutMs: 5000,
    commandTimeoutMs: 10_000,
    keepaliveIntervalMs: 5000,
    ...over,
  };
}

const ways: [string, Partial<ConnectionSettings>][] = [
  ['SFTP', {}],
  ['sudo', { user: 'alice', keyFiles: [], password: 'alice-pw', become: true, becomePassword: SUDO_PW }],
];

beforeAll(async () => {
  delete process.env.SSH_AUTH_SOCK;
  root = mkdtempSync(join(tmpdir(), 'swap-test-'));
  remote = join(root, 'remote');
  mkdirSync(remote);
  const key = generateKey('ed25519');
  keyFile = join(root, 'id_ed25519');
  writeFileSync(keyFile, key.private, { mode: 0o600 });
  env.PATH = `${installFakeSudo(join(root, 'bin'))}:${process.env.PATH}`;
  env.FAKE_SUDO_PASSWORD = SUDO_PW;
  server = await startTestServer({ cwd: remote, env, users: { root: { publicKey: key.public }, alice: { password: 'alice-pw' } } });
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
});
afterAll(async () => {
  await server?.close();
  rmSync(root, { recursive: true, force: true });
});

let n = 0;
/** A directory with app.conf in it, and a victim directory with a file the link will lead to. */
function setup() {
  const base = join(remote, `case${++n}`);
  const dir = join(base, 'etc-app');
  const victimDir = join(base, 'victim');
  mkdirSync(dir, { recursive: true });
  mkdirSync(victimDir);
  writeFileSync(join(dir, 'app.conf'), 'old\n', { mode: 0o644 });
  writeFileSync(join(victimDir, 'secret'), 'do not touch\n', { mode: 0o600 });
  return { base, dir, victimDir, target: join(dir, 'app.conf') };
}

/** Plans the write the way an operation does: the file fact says a regular file is there. */
async function plan(c: Connection, path: string): Promise<FileStep> {
  const r = await c.exec(fileFact.command({ path }) as string);
  const f = fileFact.parse(r.stdout, r.exitCode, { path }, r.stderr);
  expect(f).toMatchObject({ exists: true, type: 'file' });
  const me = (await c.exec('id -un; id -gn', { become: false })).stdout.trim().split('\n');
  return { kind: 'file', description: `write ${path}`, path, before: 'old\n', after: 'new content\n', mode: 0o644, owner: me[0]!, group: me[1]! };
}

async function refused(p: Promise<void>): Promise<ProvisionError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e, 'the write should have been refused').toBeInstanceOf(ProvisionError);
  return e as ProvisionError;
}

const victimUntouched = (victimDir: string) => {
  expect(readdirSync(victimDir)).toEqual(['secret']);
  expect(readFileSync(join(victimDir, 'secret'), 'utf8')).toBe('do not touch\n');
  expect(statSync(join(victimDir, 'secret')).mode & 0o777).toBe(0o600);
};

describe.each(ways)('a symlink swapped in between plan and apply (%s)', (_way, over) => {
  const c = async () => {
    const x = await connect(settings(over));
    open.push(x);
    return x;
  };

  it("the target's directory became a symlink: the write fails and nothing lands where it points", async () => {
    const s = setup();
    const conn = await c();
    const step = await plan(conn, s.target);
    renameSync(s.dir, `${s.dir}.moved`);
    symlinkSync(s.victimDir, s.dir);
    const e = await refused(applyStep(conn, step));
    expect(e.message).toContain(`cannot write ${s.target}`);
    expect(e.message).toMatch(/symbolic link/);
    victimUntouched(s.victimDir);
    expect(readFileSync(join(`${s.dir}.moved`, 'app.conf'), 'utf8')).toBe('old\n');
  });

  it('the target became a symlink to another file: the write fails, the link and its file stay as they were', async () => {
    const s = setup();
    const conn = await c();
    const step = await plan(conn, s.target);
    rmSync(s.target);
    symlinkSync(join(s.victimDir, 'secret'), s.target);
    const e = await refused(applyStep(conn, step));
    expect(e.message).toMatch(/symbolic link/);
    expect(lstatSync(s.target).isSymbolicLink()).toBe(true);
    expect(readlinkSync(s.target)).toBe(join(s.victimDir, 'secret'));
    victimUntouched(s.victimDir);
    expect(readdirSync(s.dir)).toEqual(['app.conf']); // no temp file left
  });

  it('the target became a symlink to a directory: the file is not moved into it', async () => {
    const s = setup();
    const conn = await c();
    const step = await plan(conn, s.target);
    rmSync(s.target);
    symlinkSync(s.victimDir, s.target);
    await refused(applyStep(conn, step));
    victimUntouched(s.victimDir);
    expect(readdirSync(s.dir)).toEqual(['app.conf']);
  });

  it('a link the plan knew about (replacing a symlink by a file) is replaced, not followed', async () => {
    const s = setup();
    const conn = await c();
    rmSync(s.target);
    symlinkSync(join(s.victimDir, 'secret'), s.target);
    const step = { ...(await plan(conn, join(s.victimDir, 'secret'))), path: s.target, replacesLink: true };
    await applyStep(conn, step);
    expect(lstatSync(s.target).isFile()).toBe(true);
    expect(readFileSync(s.target, 'utf8')).toBe('new content\n');
    victimUntouched(s.victimDir);
  });

  it('an ordinary write still works', async () => {
    const s = setup();
    const conn = await c();
    await applyStep(conn, await plan(conn, s.target));
    expect(readFileSync(s.target, 'utf8')).toBe('new content\n');
    expect(readdirSync(s.dir)).toEqual(['app.conf']);
  });
});
