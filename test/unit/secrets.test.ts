/**
 * Secrets never reach the output (as Ansible tests no_log): unique sentinel strings are put
 * where secrets live (login and sudo passwords in the inventory, TLS keys from the
 * controller, a file written with secret: true, a secret inventory variable rendered into
 * one), a run goes through the real executor and operations on fake hosts (one of which
 * fails every command and echoes back whatever it was sent, stdin included), and every
 * output is searched: the terminal reporter at -vvv with --diff, the JSON reporter, both in
 * --check and for real, and the CLI's main(). A positive control checks that the secrets
 * did reach the hosts, so the search is not vacuous.
 *
 * Also here: no host-key checking is ever switched off by default, and private keys are
 * written 0600.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { FakeConnection } from '../helpers/fake-connection.js';
import type { Connection, ConnectionSettings, ExecOptions } from '../../src/connection/types.js';
import { ProvisionError, isProvisionError } from '../../src/errors.js';
import type { RunEvent } from '../../src/executor/events.js';
import { runPlaybook } from '../../src/executor/run.js';
import { file as fileFact, sha256 } from '../../src/facts/file.js';
import { parseInventory, type Inventory } from '../../src/inventory/index.js';
import { projectRoot } from '../../src/lab/topology.js';
import { operations } from '../../src/operations/index.js';
import type { ClusterRuntime } from '../../src/operations/runtime.js';
import { parsePlaybook } from '../../src/playbook/index.js';
import { jsonReporter } from '../../src/report/json.js';
import { terminalReporter } from '../../src/report/terminal.js';
import type { ClusterCerts, PemFiles } from '../../src/tls/ca.js';

const S = {
  login: 'SENTINEL-login-password-3f9a1c',
  sudo: 'SENTINEL-sudo-password-b27e44',
  tlsKey: 'SENTINEL-tls-private-key-0d5c9e',
  secretFile: 'SENTINEL-secret-file-content-7a61f0',
  oldSecret: 'SENTINEL-old-secret-content-c4d2aa',
  secretVar: 'SENTINEL-secret-variable-19be03',
};
const ALL = Object.values(S);

function expectNoSentinel(what: string, text: string): void {
  for (const s of ALL) expect(text.includes(s), `${what} shows ${s}:\n${text}`).toBe(false);
  // Nor a recognisable piece of one (a secret cut short is still a leak).
  expect(/SENTINEL/.test(text), `${what} shows part of a sentinel:\n${text}`).toBe(false);
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'provision-secrets-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const INVENTORY = `
all:
  vars:
    user: deploy
    password: ${S.login}
    become: true
    become_password: ${S.sudo}
    db_password: ${S.secretVar}
  hosts:
    a: { address: 192.0.2.1 }
    b: { address: 192.0.2.2 }
    c: { address: 192.0.2.3 }
cluster:
  name: s
  members: [a]
  tls: { dir: ${dir}/tls }
`;

const PLAYBOOK = `
- name: secrets
  hosts: all
  tasks:
    # No name, and the content first: the default task name must not be the content.
    - file: { content: "${S.secretFile}", path: /etc/provision/secret.conf, secret: true, mode: "0600" }
    - name: Database password from an inventory variable
      file: { path: /etc/provision/db.conf, content: "password={{ db_password }}\\n", secret: true, mode: "0600" }
    - name: A command that fails on some hosts
      command: { cmd: [systemctl, restart, app] }
- name: keys
  hosts: etcd_members
  tasks:
    - etcd_tls: {}
`;

const pem = (name: string): PemFiles => ({
  certPath: `${dir}/tls/${name}.crt`,
  keyPath: `${dir}/tls/${name}.key`,
  cert: `-----BEGIN CERTIFICATE-----\ncert of ${name}\n-----END CERTIFICATE-----\n`,
  key: `-----BEGIN PRIVATE KEY-----\n${S.tlsKey}-${name}\n-----END PRIVATE KEY-----\n`,
});
const certs: ClusterCerts = { dir: `${dir}/tls`, ca: pem('ca'), members: { a: pem('a') }, client: pem('client'), generated: [] };
const runtime: ClusterRuntime = {
  certs: async () => ({ certs }),
  discoveryUrl: async () => {
    throw new Error('not used');
  },
  dispose: () => {},
};

/** What the `file` fact prints for `f` (see SCRIPT in src/facts/file.ts). */
function fileFactOutput(f: { content: Buffer; mode?: number; owner?: string; group?: string } | undefined): string {
  if (!f) return 'absent\n';
  const mode = (f.mode ?? 0o644).toString(8);
  return `regular file|${mode}|${f.owner ?? 'root'}|${f.group ?? 'root'}|${f.content.length}\n${sha256(f.content.toString('utf8'))}\n--provision-content--\n${f.content.toString('utf8')}`;
}

/**
 * A fake host. `fail` decides which commands fail; a failing command echoes back the whole
 * command line and its stdin on stderr, as a careless remote tool might.
 */
function host(name: string, fail: (cmd: string) => boolean, files: Record<string, string> = {}): FakeConnection {
  const paths = [
    '/etc/provision/secret.conf',
    '/etc/provision/db.conf',
    '/etc/etcd/pki/ca.crt',
    '/etc/etcd/pki/a.crt',
    '/etc/etcd/pki/a.key',
    '/etc/etcd/pki/client.crt',
    '/etc/etcd/pki/client.key',
  ];
  const factOf = new Map(paths.map((p) => [fileFact.command({ path: p }), p]));
  const conn = new FakeConnection(
    name,
    (cmd: string, opts: ExecOptions, self: FakeConnection) => {
      if (fail(cmd)) return { exitCode: 1, stderr: `error running: ${cmd}\nstdin was: ${String(opts.stdin ?? '')}\n` };
      const p = factOf.get(cmd);
      if (p !== undefined) return { stdout: fileFactOutput(self.files.get(p)) };
      return undefined;
    },
    files,
  );
  for (const f of conn.files.values()) Object.assign(f, { mode: 0o600, owner: 'root', group: 'root' });
  return conn;
}

async function runWith(check: boolean, verbose: number, diff: boolean) {
  const inv: Inventory = parseInventory(INVENTORY, path.join(dir, 'inventory.yaml'), { home: dir, user: 'u', sshConfigFile: path.join(dir, 'none') });
  const pb = parsePlaybook(PLAYBOOK, path.join(dir, 'playbook.yaml'), operations, inv);
  const conns: Record<string, FakeConnection> = {
    a: host('a', () => false, { '/etc/provision/secret.conf': `${S.oldSecret}\n` }),
    b: host('b', () => true),
    // c: writes of new files fail (a real run), and so does reading the second file (--check too).
    c: host('c', (cmd) => /^(mkdir|systemctl)/.test(cmd) || cmd === fileFact.command({ path: '/etc/provision/db.conf' })),
  };
  const settingsSeen: ConnectionSettings[] = [];
  let terminal = '';
  let json = '';
  const term = terminalReporter({ diff, verbose, write: (s) => void (terminal += s) });
  const js = jsonReporter((s) => void (json += s));
  const events: RunEvent[] = [];
  await runPlaybook(inv, pb, {
    check,
    forks: 3,
    operations,
    runtime,
    emit: (e) => {
      events.push(e);
      term(e);
      js(e);
    },
    connect: async (s): Promise<Connection> => {
      settingsSeen.push(s);
      return conns[s.name]!;
    },
  });
  return { terminal, json, events, conns, settingsSeen };
}

describe('no secret in any output of a run', () => {
  it.each([
    ['real run, -vvv --diff', false, 3, true],
    ['real run, no flags', false, 0, false],
    ['--check -vvv --diff', true, 3, true],
    ['--check', true, 0, false],
  ] as const)('%s', async (_name, check, verbose, diff) => {
    const r = await runWith(check, verbose, diff);
    expectNoSentinel('terminal output', r.terminal);
    expectNoSentinel('JSON output', r.json);

    // The search is not vacuous: the secrets were there to leak.
    expect(r.settingsSeen.find((s) => s.name === 'a')).toMatchObject({ password: S.login, becomePassword: S.sudo });
    const failures = r.events.flatMap((e) => (e.type === 'task' && e.result.status === 'failed' ? [`${e.result.host}: ${e.result.message}`] : []));
    expect(
      failures.some((m) => m.startsWith('b: ') && m.includes('stdin was:')),
      failures.join('\n'),
    ).toBe(true);
    expect(
      failures.some((m) => m.startsWith('c: ') && m.includes('stdin was:')),
      failures.join('\n'),
    ).toBe(true);
    expect(r.json).toContain('(secret content of /etc/provision/secret.conf changed; not shown)');
    if (diff) expect(r.terminal).toContain('(secret content of /etc/etcd/pki/a.key changed; not shown)');
    expect(r.terminal).toMatch(/\[a\] file \/etc\/provision\/secret\.conf/); // the default name is the path
    if (!check) {
      const a = r.conns.a!;
      expect(a.text('/etc/provision/secret.conf')).toContain(S.secretFile);
      expect(a.text('/etc/provision/db.conf')).toBe(`password=${S.secretVar}\n`);
      // Private keys go to the host 0600; certificates 0644.
      expect(a.writes.find((w) => w.path === '/etc/etcd/pki/a.key')).toMatchObject({ content: Buffer.from(certs.members.a!.key), opts: { mode: 0o600 } });
      expect(a.writes.find((w) => w.path === '/etc/etcd/pki/client.key')!.opts.mode).toBe(0o600);
      expect(a.writes.find((w) => w.path === '/etc/etcd/pki/a.crt')!.opts.mode).toBe(0o644);
      for (const w of a.writes) if (/\.key$|secret|db\.conf/.test(w.path)) expect(w.opts.mode, w.path).toBe(0o600);
    }
  });
});

describe('no secret in what the CLI prints', () => {
  const write = (name: string, text: string) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, text, { mode: 0o600 });
    return f;
  };
  const inventory = write('cli-inventory.yaml', INVENTORY.replace(/ {2}tls: .*\n/, ''));
  const playbook = write('cli-playbook.yaml', PLAYBOOK.replace(/- name: keys[\s\S]*$/, ''));

  async function cli(args: string[], connect: (s: ConnectionSettings) => Promise<Connection>) {
    let out = '';
    const code = await main(args, { stdout: (s) => void (out += s), stderr: (s) => void (out += s), connect });
    return { code, out };
  }
  const hosts = () => {
    const conns: Record<string, FakeConnection> = {
      a: host('a', () => false),
      b: host('b', () => true),
      c: host('c', (cmd) => cmd.startsWith('mkdir')),
    };
    return async (s: ConnectionSettings) => conns[s.name]!;
  };

  it.each([
    ['-vvv --diff', ['-v', '-v', '-v', '--diff']],
    ['--check -vvv --diff', ['--check', '-vvv', '--diff']],
    ['--json', ['--json']],
    ['--check --json', ['--check', '--json']],
  ])('%s', async (_name, flags) => {
    const r = await cli([inventory, '--playbook', playbook, ...flags], hosts());
    expect(r.code).toBe(3); // b and c failed
    expectNoSentinel('CLI output', r.out);
  });

  it('hosts that cannot be reached or refuse the login: the errors do not show the passwords', async () => {
    const failures: ProvisionError[] = [
      new ProvisionError('AUTH', 'authentication failed for deploy@192.0.2.1:22 (tried: password)', { hint: 'check the user, key files and password for a' }),
      new ProvisionError('AUTH', 'wrong sudo password on b', { hint: 'check become_password' }),
      new ProvisionError('CONNECT', 'cannot connect to c (192.0.2.3:22): connection refused'),
    ];
    let i = 0;
    const r = await cli([inventory, '--playbook', playbook, '-vvv', '--diff'], async () => {
      throw failures[i++ % failures.length];
    });
    expect(r.code).toBe(4);
    expect(r.out).toMatch(/unreachable: \[a\] authentication failed/);
    expectNoSentinel('CLI output', r.out);
  });

  it('an inventory whose password has the wrong type: the message does not show it', async () => {
    const bad = write(
      'bad-password.yaml',
      `all:\n  vars:\n    become_password: 20240611${S.sudo.length}\n    password: [${S.login}]\n  hosts:\n    a: { address: 192.0.2.1 }\n`,
    );
    const r = await cli([bad], hosts());
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/bad-password\.yaml:3:22: "become_password" must be a string \(the value is not shown\)/);
    expect(r.out).not.toContain('20240611');
    const alias = write('alias-password.yaml', `all:\n  vars:\n    password: *${S.login}\n  hosts:\n    a: { address: 192.0.2.1 }\n`);
    const r2 = await cli([alias], hosts());
    expect(r2.out).toMatch(/alias-password\.yaml:3:15: "password" must be a string/);
    expectNoSentinel('CLI output', r2.out);
    const tagged = write('tagged-password.yaml', `all:\n  vars:\n    password: !${S.login} x\n  hosts:\n    a: { address: 192.0.2.1 }\n`);
    const r3 = await cli([tagged], hosts());
    expect(r3.out).toMatch(/tagged-password\.yaml:3:15: unsupported YAML tag of a secret value/);
    expectNoSentinel('CLI output', r3.out);
  });
});

describe('host keys are checked unless the inventory says otherwise', () => {
  const SOURCES = ['src', 'bin', 'scripts', 'bench', 'playbooks', 'inventories'].map((d) => path.join(projectRoot, d)).filter((d) => fs.existsSync(d));
  const files = SOURCES.flatMap((d) =>
    (fs.readdirSync(d, { recursive: true, withFileTypes: true }) as fs.Dirent[])
      .filter((e) => e.isFile() && /\.(ts|js|mjs|sh|ya?ml)$/.test(e.name))
      .map((e) => path.join(e.parentPath, e.name)),
  );

  it('no source file turns host-key checking off', () => {
    const OFF: [RegExp, string][] = [
      [/StrictHostKeyChecking\s*[= ]\s*["']?(no|off|false|accept-new)\b/i, 'ssh -o StrictHostKeyChecking=no/accept-new'],
      [/UserKnownHostsFile\s*[= ]\s*["']?\/dev\/null/i, 'known_hosts thrown away'],
      [/hostVerifier\s*[:=]\s*(\([^)]*\)|\w+)\s*=>\s*(true|\{\s*return\s+true)/, 'an ssh2 hostVerifier that accepts every key'],
      [/hostVerifier\s*:\s*undefined/, 'ssh2 without a hostVerifier (accepts every key)'],
      // accept-new (trust on first use) is a choice an inventory may make (inventories/docker.yaml
      // does, for containers made fresh each time); it is never a default.
      [/host_key_checking\s*:\s*["']?(no|off|false|ignore|none)\b/i, 'an inventory that turns checking off'],
      [/hostKeyPolicy\s*[:=]\s*["'](no|off|ignore|none|accept-any|accept-new)["']/, 'a non-strict policy as a default'],
    ];
    const found: string[] = [];
    for (const f of files) {
      const text = fs.readFileSync(f, 'utf8');
      for (const [re, what] of OFF) {
        const m = re.exec(text);
        if (m) found.push(`${path.relative(projectRoot, f)}:${text.slice(0, m.index).split('\n').length}: ${what}: ${m[0]}`);
      }
    }
    expect(files.length).toBeGreaterThan(20);
    expect(found).toEqual([]);
  });

  it('the ssh connection always verifies host keys, and the only policies are strict and accept-new', () => {
    const ssh = fs.readFileSync(path.join(projectRoot, 'src/connection/ssh.ts'), 'utf8');
    expect(ssh).toMatch(/hostVerifier,/); // passed to ssh2's connect()
    const types = fs.readFileSync(path.join(projectRoot, 'src/connection/types.ts'), 'utf8');
    expect(types).toMatch(/export type HostKeyPolicy = 'strict' \| 'accept-new';/);
  });

  it('the default is strict; no spelling of "off" is accepted', () => {
    const opts = { home: dir, user: 'u', sshConfigFile: path.join(dir, 'none') };
    const inv = parseInventory('all:\n  hosts:\n    a: { address: 192.0.2.1 }\n', '/x.yaml', opts);
    expect(inv.hosts.get('a')!.connection.hostKeyPolicy).toBe('strict');
    for (const v of ['no', 'off', 'false', 'ignore', 'none', 'yes', '"no"', 'accept-any', 'accept_new', 'Strict']) {
      try {
        parseInventory(`all:\n  vars:\n    host_key_checking: ${v}\n  hosts:\n    a: { address: 192.0.2.1 }\n`, '/x.yaml', opts);
        expect.unreachable(`host_key_checking: ${v} was accepted`);
      } catch (e) {
        expect(isProvisionError(e) && e.message, v).toMatch(/must be "strict" or "accept-new"/);
      }
    }
  });
});
