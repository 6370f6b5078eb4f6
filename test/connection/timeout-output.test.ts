/**
 * A command that hangs is killed at its timeout, and the error says what it printed last
 * (yum waiting for a lock says so; the user should not have to guess).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { connect } from '../../src/connection/ssh.js';
import type { Connection } from '../../src/connection/types.js';
import { ProvisionError } from '../../src/errors.js';
import { generateKey, startTestServer, type TestServer } from '../helpers/ssh-server.js';

let root: string;
let server: TestServer;
let conn: Connection;

beforeAll(async () => {
  delete process.env.SSH_AUTH_SOCK;
  root = mkdtempSync(join(tmpdir(), 'ssh-timeout-'));
  const key = generateKey('ed25519');
  writeFileSync(join(root, 'id'), key.private, { mode: 0o600 });
  server = await startTestServer({ cwd: root, users: { root: { publicKey: key.public } } });
  const k = server.hostKeys[0]!;
  writeFileSync(join(root, 'known_hosts'), `[127.0.0.1]:${server.port} ${k.type} ${k.blob.toString('base64')}\n`);
  conn = await connect({
    name: 'testhost',
    address: '127.0.0.1',
    port: server.port,
    user: 'root',
    keyFiles: [join(root, 'id')],
    become: false,
    becomeUser: 'root',
    knownHostsFiles: [join(root, 'known_hosts')],
    hostKeyPolicy: 'strict',
    connectTimeoutMs: 5000,
    commandTimeoutMs: 10_000,
    keepaliveIntervalMs: 5000,
  });
});

afterAll(async () => {
  await conn?.close();
  await server?.close();
  rmSync(root, { recursive: true, force: true });
});

it('a timed-out command: the error ends with its last output lines', async () => {
  const cmd = 'for i in 1 2 3 4 5 6 7; do echo "line $i"; done; echo "Waiting for process with pid 59 to finish." >&2; sleep 10';
  const e = await conn.exec(cmd, { timeoutMs: 500 }).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ProvisionError);
  const lines = (e as ProvisionError).message.split('\n');
  expect(lines[0]).toBe(`command timed out after 0.5s on testhost: ${cmd}`);
  expect(lines[1]).toBe('last output:');
  expect(lines).toContain('Waiting for process with pid 59 to finish.');
  expect(lines).toContain('line 7');
  expect(lines).not.toContain('line 1'); // only the last few lines
});
