/**
 * Credentials asked for on a terminal, through the real CLI (`node bin/provision.js`) in a
 * pseudo-terminal made by script(1), against ssh2's in-process server (a fake sudo on its
 * PATH): -k asks for the SSH password, -K for the sudo password, a key with a passphrase asks
 * for it; nothing typed is echoed, and no password appears in any output. The answer is typed
 * only once the prompt is on the terminal, as a person would.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path, { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/lab/topology.js';
import { ensureBuilt, provision } from '../helpers/cli.js';
import { generateKey, installFakeSudo, startTestServer, type TestServer } from '../helpers/ssh-server.js';

const LOGIN = 'SENTINEL-login-7c1e';
const SUDO = 'SENTINEL-sudo-2b9d';
const PASSPHRASE = 'SENTINEL-phrase-44aa';

let root: string;
let server: TestServer;
let knownHosts: string;
let lockedKey: string;

beforeAll(async () => {
  ensureBuilt();
  root = mkdtempSync(join(tmpdir(), 'provision-prompts-'));
  const remote = join(root, 'remote');
  const bin = installFakeSudo(join(root, 'bin'));
  const key = generateKey('ed25519', PASSPHRASE);
  lockedKey = join(root, 'locked_key');
  writeFileSync(lockedKey, key.private, { mode: 0o600 });
  const { mkdirSync } = await import('node:fs');
  mkdirSync(remote);
  server = await startTestServer({
    cwd: remote,
    env: { PATH: `${bin}:${process.env.PATH}`, FAKE_SUDO_PASSWORD: SUDO },
    users: { alice: { password: LOGIN }, bob: { publicKey: key.public } },
  });
  knownHosts = join(root, 'known_hosts');
  const k = server.hostKeys[0]!;
  writeFileSync(knownHosts, `[127.0.0.1]:${server.port} ${k.type} ${k.blob.toString('base64')}\n`);
}, 120_000);

afterAll(async () => {
  await server?.close();
  rmSync(root, { recursive: true, force: true });
});

/** An Ansible-style inventory for the test server. */
function inventory(name: string, vars: string): string {
  const f = join(root, `${name}.yaml`);
  writeFileSync(
    f,
    `all:\n  hosts:\n    box:\n      ansible_host: 127.0.0.1\n      ansible_port: ${server.port}\n  vars:\n    known_hosts: ${knownHosts}\n    connect_timeout: 20\n${vars}`,
    { mode: 0o600 },
  );
  return f;
}

interface TermResult {
  code: number;
  /** Everything the terminal showed (the program's output and any echo of what was typed). */
  screen: string;
  prompts: string[];
}

/**
 * Runs the CLI in a pseudo-terminal; each time `answers[i].prompt` appears on the screen, types
 * `answers[i].text` and Enter.
 */
function inTerminal(args: string[], answers: { prompt: RegExp; text: string }[], env: NodeJS.ProcessEnv = {}): Promise<TermResult> {
  const cmd = [process.execPath, path.join(projectRoot, 'bin', 'provision.js'), ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qefc', cmd, '/dev/null'], {
      env: { ...process.env, FORCE_COLOR: '0', SSH_AUTH_SOCK: '', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let screen = '';
    const prompts: string[] = [];
    let next = 0;
    const onData = (d: Buffer) => {
      screen += d.toString();
      const a = answers[next];
      if (a && a.prompt.test(screen.slice(screen.lastIndexOf('\n', screen.length - 2) + 1))) {
        prompts.push(a.prompt.source);
        next++;
        // Typed a moment later, as a person would, once the prompt is shown.
        setTimeout(() => child.stdin.write(`${a.text}\r`), 200);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      child.stdin.end();
      resolve({ code: code ?? -1, screen, prompts });
    });
  });
}

const noSecrets = (s: string) => {
  for (const secret of [LOGIN, SUDO, PASSPHRASE]) expect(s).not.toContain(secret);
};

describe('prompts on a terminal (real CLI in a pty)', () => {
  it('-k asks for the SSH password without echo and logs in with it', async () => {
    const inv = inventory('ask-pass', '    ansible_user: alice\n');
    const r = await inTerminal([inv, 'exec', '-k', '--', 'echo logged-in-as-$(id -un >/dev/null && echo ok)'], [{ prompt: /SSH password: $/, text: LOGIN }]);
    expect(r.prompts).toHaveLength(1);
    expect(r.screen).toMatch(/box \| SUCCESS \| rc=0 >>\r?\nlogged-in-as-ok/);
    expect(r.code).toBe(0);
    noSecrets(r.screen);
  });

  it('-K asks for the sudo password without echo; sudo gets it', async () => {
    const inv = inventory('ask-become', `    ansible_user: alice\n    ansible_password: "${LOGIN}"\n`);
    const r = await inTerminal([inv, 'exec', '--become', '-K', '--', 'echo "as:$FAKE_SUDO_TARGET"'], [{ prompt: /BECOME password: $/, text: SUDO }]);
    expect(r.screen).toMatch(/box \| SUCCESS \| rc=0 >>\r?\nas:root/);
    expect(r.code).toBe(0);
    noSecrets(r.screen);
  });

  it("-K with a wrong password: that host fails, with sudo's reason, and the password is not shown", async () => {
    const inv = inventory('ask-become-wrong', `    ansible_user: alice\n    ansible_password: "${LOGIN}"\n`);
    const r = await inTerminal([inv, 'exec', '--become', '-K', '--', 'true'], [{ prompt: /BECOME password: $/, text: `${SUDO}-wrong` }]);
    expect(r.code).toBe(3);
    expect(r.screen).toMatch(/box \| FAILED! => .*(wrong sudo password|incorrect)/i);
    noSecrets(r.screen);
  });

  it('a key with a passphrase: asked for as ssh(1) does, then used', async () => {
    const inv = inventory('locked-key', `    ansible_user: bob\n    ansible_ssh_private_key_file: ${lockedKey}\n`);
    const r = await inTerminal([inv, 'exec', '--', 'echo key-ok'], [{ prompt: /Enter passphrase for key '.*locked_key': $/, text: PASSPHRASE }]);
    expect(r.screen).toMatch(/box \| SUCCESS \| rc=0 >>\r?\nkey-ok/);
    expect(r.code).toBe(0);
    noSecrets(r.screen);
  });

  it('a wrong passphrase is asked for again (3 tries), then refused', async () => {
    const inv = inventory('locked-key-wrong', `    ansible_user: bob\n    ansible_ssh_private_key_file: ${lockedKey}\n`);
    const wrong = { prompt: /Enter passphrase for key .*: $/, text: 'SENTINEL-nope' };
    const r = await inTerminal([inv, 'exec', '--', 'true'], [wrong, wrong, wrong]);
    expect(r.prompts).toHaveLength(3);
    expect(r.screen).toMatch(/error: wrong passphrase for key .*locked_key \(3 tries\)/);
    expect(r.screen).not.toContain('SENTINEL');
    expect(r.code).not.toBe(0);
  });
});

describe('without a terminal', () => {
  it('--become-password-file gives sudo its password', async () => {
    const pw = join(root, 'become-pw');
    writeFileSync(pw, `${SUDO}\n`, { mode: 0o600 });
    const inv = inventory('pw-file', `    ansible_user: alice\n    ansible_password: "${LOGIN}"\n`);
    const r = await provision([inv, 'exec', '--become', '--become-password-file', pw, '--', 'echo "as:$FAKE_SUDO_TARGET"'], { env: { SSH_AUTH_SOCK: '' } });
    expect(r.stdout).toMatch(/box \| SUCCESS \| rc=0 >>\nas:root/);
    expect(r.code).toBe(0);
    noSecrets(r.stdout + r.stderr);
  });

  it('--connection-password-file logs in with its first line', async () => {
    const pw = join(root, 'login-pw');
    writeFileSync(pw, `${LOGIN}\nignored second line\n`, { mode: 0o600 });
    const inv = inventory('conn-pw-file', '    ansible_user: alice\n');
    const r = await provision([inv, 'exec', '--connection-password-file', pw, '--', 'echo in'], { env: { SSH_AUTH_SOCK: '' } });
    expect(r.stdout).toMatch(/box \| SUCCESS \| rc=0 >>\nin/);
    noSecrets(r.stdout + r.stderr);
  });

  it('-K with no terminal at all: says so and what to use instead, connects to nothing', async () => {
    const inv = inventory('no-tty', '    ansible_user: alice\n');
    const before = server.connections;
    const r = await new Promise<{ code: number; out: string }>((resolve) => {
      // setsid: no controlling terminal, as under cron or CI.
      const c = spawn('setsid', ['-w', process.execPath, path.join(projectRoot, 'bin', 'provision.js'), inv, 'exec', '-K', '--', 'true'], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, FORCE_COLOR: '0' },
      });
      let out = '';
      c.stdout.on('data', (d) => (out += d));
      c.stderr.on('data', (d) => (out += d));
      c.on('close', (code) => resolve({ code: code ?? -1, out }));
    });
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/error: cannot ask "BECOME password": there is no terminal\n {2}hint: in scripts, give --become-password-file FILE/);
    expect(server.connections).toBe(before);
  });
});
