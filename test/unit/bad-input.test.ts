/**
 * Bad input: every file of the corpus in test/fixtures/bad/ gives exit code 2, one message
 * that starts with file:line:col (the line and column are the fixture's first line,
 * `# expect L:C text`), no stack trace, and no connection to any host.
 *
 * Every fixture goes through the real CLI, `node bin/provision.js`, in a child process, and
 * also through the CLI's main() in the test process (with a connect() that counts its calls),
 * which checks src/ directly even when dist/ is being rebuilt. In the child, "no connection"
 * is counted, not guessed: its HOME holds an ~/.ssh/config that sends every host (none of the
 * fixtures gives a port) to a TCP server of the test that counts the connections it accepts;
 * the control case shows that a valid inventory does connect there. Where a fixture holds a
 * secret (a vault blob, a secret file's content), it is the string SENTINEL, which no message
 * may show.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { ProvisionError } from '../../src/errors.js';
import { parseInventory } from '../../src/inventory/index.js';
import { ensureBuilt, provision, type CliResult } from '../helpers/cli.js';
import { projectRoot } from '../../src/lab/topology.js';

const BAD = path.join(projectRoot, 'test/fixtures/bad');
const GOOD_INVENTORY = path.join(BAD, 'good-inventory.yaml');

interface Fixture {
  file: string;
  line: number;
  col: number;
  text: string;
}

function fixtures(dir: string): Fixture[] {
  return fs
    .readdirSync(path.join(BAD, dir))
    .filter((n) => n.endsWith('.yaml'))
    .sort()
    .map((n) => {
      const file = path.join(BAD, dir, n);
      const head = fs.readFileSync(file, 'utf8').split('\n', 1)[0]!;
      const m = /^# expect (\d+):(\d+) (.+)$/.exec(head);
      if (!m) throw new Error(`${file}: first line must be "# expect L:C text", not ${JSON.stringify(head)}`);
      return { file, line: Number(m[1]), col: Number(m[2]), text: m[3]! };
    });
}

/**
 * A TCP server that counts the connections it accepts and answers each with an SSH-1
 * banner, which the client refuses at once (a connection merely closed would be retried,
 * with backoff, as a MaxStartups drop).
 */
interface Counter {
  port: number;
  accepted: number;
  close(): Promise<void>;
}

async function counter(): Promise<Counter> {
  const c = { port: 0, accepted: 0, close: async () => {} };
  const socks = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    c.accepted++;
    socks.add(sock);
    sock.on('error', () => {});
    sock.end('SSH-1.5-counter\r\n');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  c.port = (server.address() as net.AddressInfo).port;
  c.close = () =>
    new Promise<void>((r) => {
      socks.forEach((so) => so.destroy());
      server.close(() => r());
    });
  return c;
}

/** A HOME whose ~/.ssh/config sends every host to `port`; no keys, no known_hosts. */
function homeFor(port: number): string {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'provision-bad-home-'));
  fs.mkdirSync(path.join(home, '.ssh'), { mode: 0o700 });
  fs.writeFileSync(path.join(home, '.ssh', 'config'), `Host *\n  Port ${port}\n`);
  return home;
}

/** Runs the CLI with HOME pointing at a fresh counter; returns the result and the connections made. */
async function run(args: string[]): Promise<CliResult & { connections: number }> {
  const c = await counter();
  const home = homeFor(c.port);
  try {
    const r = await provision(args, { timeoutMs: 300_000, env: { HOME: home, USER: 'tester', SSH_AUTH_SOCK: '' } });
    return { ...r, connections: c.accepted };
  } finally {
    await c.close();
    fs.rmSync(home, { recursive: true, force: true });
  }
}

/** main() in this process; connect() only counts (and fails). */
async function inProcess(args: string[]): Promise<CliResult & { connections: number }> {
  let stdout = '';
  let stderr = '';
  let connections = 0;
  const t0 = Date.now();
  const code = await main(args, {
    stdout: (s) => void (stdout += s),
    stderr: (s) => void (stderr += s),
    connect: async (s) => {
      connections++;
      throw new ProvisionError('CONNECT', `cannot connect to ${s.name}: not in this test`);
    },
  });
  return { code, stdout, stderr, ms: Date.now() - t0, connections };
}

const named = (fs: Fixture[]) => fs.map((f) => [path.basename(f.file, '.yaml'), f] as const);

/** What every rejected input must look like from the outside. */
function expectRejected(r: CliResult & { connections: number }): string {
  const all = r.stdout + r.stderr;
  expect(r.code, all).toBe(2);
  expect(r.connections, 'connections made').toBe(0);
  expect(all).not.toMatch(/internal error/i);
  expect(all).not.toMatch(/^\s+at .*[(:]\d+/m); // a stack frame
  expect(all).not.toMatch(/^unreachable: |cannot connect|^PLAY /m);
  expect(r.stdout).toBe('');
  expect(all).not.toContain('SENTINEL'); // fixtures put this where a secret would be
  expect(r.stderr.match(/^error: /gm), r.stderr).toHaveLength(1);
  return r.stderr.split('\n')[0]!;
}

beforeAll(() => ensureBuilt(), 600_000);

function expectLocated(r: CliResult & { connections: number }, f: Fixture): void {
  const first = expectRejected(r);
  expect(first.startsWith(`error: ${f.file}:${f.line}:${f.col}: `), first).toBe(true);
  expect(first).toContain(f.text);
  // One clear message: long values are cut short in it.
  expect(first.length).toBeLessThan(400);
}

describe('the corpus of broken inventories', () => {
  const all = fixtures('inventory');
  it('has a case of every kind', () => {
    const kinds = [
      'yaml-',
      'type-',
      'unknown-',
      'duplicate-host',
      'duplicate-member',
      'member-not-a-host',
      'dns-server-not-a-host',
      'member-address-name',
      'hostile-',
    ];
    for (const k of kinds)
      expect(
        all.some((f) => path.basename(f.file).startsWith(k)),
        k,
      ).toBe(true);
  });

  describe('every file, through main()', () => {
    it.each(named(all))('%s', async (_name, f) => expectLocated(await inProcess([f.file, '--check']), f));
  });

  describe('every file, through node bin/provision.js', () => {
    it.concurrent.each(named(all))('%s', async (_name, f) => expectLocated(await run([f.file, '--check']), f));
  });
});

describe('the corpus of broken playbooks (against a valid inventory)', () => {
  const all = fixtures('playbook');
  describe('every file, through main()', () => {
    it.each(named(all))('%s', async (_name, f) => expectLocated(await inProcess([GOOD_INVENTORY, '--playbook', f.file, '--check']), f));
  });

  describe('every file, through node bin/provision.js', () => {
    it.concurrent.each(named(all))('%s', async (_name, f) => expectLocated(await run([GOOD_INVENTORY, '--playbook', f.file, '--check']), f));
  });
});

describe('bad command lines', () => {
  const esc = (p: string) => p.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const nope = path.join(BAD, 'nope.yaml');
  const cases: [string, string[], RegExp][] = [
    ['no inventory', [], /^error: no inventory given/],
    ['missing inventory file', [nope], new RegExp(`^error: cannot read inventory ${esc(nope)}: no such file \\(ENOENT\\)$`)],
    ['inventory is a directory', [BAD], new RegExp(`^error: cannot read inventory ${esc(BAD)}: it is a directory \\(EISDIR\\)$`)],
    ['missing playbook file', [GOOD_INVENTORY, '--playbook', nope], new RegExp(`^error: cannot read playbook ${esc(nope)}: no such file`)],
    ['--forks 0', [GOOD_INVENTORY, '--forks', '0'], /^error: --forks must be a positive whole number, not "0"$/],
    ['--limit naming no host', [GOOD_INVENTORY, '--limit', 'etcd9'], /^error: --limit etcd9 selects no host of this run$/],
    ['unknown option', [GOOD_INVENTORY, '--chek'], /^error: Unknown option '--chek'/],
  ];
  it.concurrent.each(cases)('%s', async (_name, args, first) => {
    expect(expectRejected(await run(args))).toMatch(first);
  });
});

describe('a valid inventory (control)', () => {
  it('does connect to the counting server: the corpus above would have been caught connecting', async () => {
    const r = await run([GOOD_INVENTORY, '--check']);
    expect(r.connections).toBeGreaterThan(0);
    expect(r.code).toBe(4); // unreachable: the counter closes every connection
    expect(r.stdout).toMatch(/unreachable: \[etcd0\]/);
  });
});

describe('legal but unwise choices warn and go on', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'provision-unwise-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const HOSTS = (n: number) =>
    'all:\n  children:\n    etcd:\n      hosts:\n' + Array.from({ length: n }, (_, i) => `        etcd${i}: { address: 127.0.0.${i + 1} }\n`).join('');
  const write = (name: string, text: string, mode = 0o600) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, text, { mode });
    fs.chmodSync(f, mode);
    return f;
  };
  const OPTS = { home: dir, user: 'u', sshConfigFile: path.join(dir, 'none') };

  const unwise: [string, string, RegExp][] = [
    ['an even number of members', HOSTS(4) + 'cluster:\n  members: etcd\n', /^cluster has 4 members: an even count tolerates no more failures than 3$/],
    ['two members', HOSTS(2) + 'cluster:\n  members: etcd\n', /^cluster has 2 members: an even count tolerates no more failures than 1$/],
    ['a single member', HOSTS(1) + 'cluster:\n  members: etcd\n', /^cluster has a single member: it tolerates no failure$/],
    ['listen: any without TLS', HOSTS(3) + 'cluster:\n  members: etcd\n  listen: any\n', /^cluster.listen is any without tls: etcd answers anyone/],
  ];

  it.each(unwise)('%s: a warning from the loader, not an error', (_name, text, warning) => {
    const inv = parseInventory(text, path.join(dir, 'x.yaml'), OPTS);
    expect(
      inv.warnings.some((w) => warning.test(w)),
      inv.warnings.join('\n'),
    ).toBe(true);
  });

  it('no warning for three or five members on their own IPs', () => {
    expect(parseInventory(HOSTS(3) + 'cluster:\n  members: etcd\n', '/x.yaml', OPTS).warnings).toEqual([]);
    expect(parseInventory(HOSTS(5) + 'cluster:\n  members: etcd\n', '/x.yaml', OPTS).warnings).toEqual([]);
  });

  it.each(unwise)('%s: the CLI prints the warning and goes on to the hosts (--check)', async (name, text, warning) => {
    const f = write(`${name.replace(/\W+/g, '-')}.yaml`, text);
    const r = await inProcess([f, '--check']);
    expect(r.code, r.stderr).toBe(4); // it went on to connect (and was refused)
    expect(r.connections).toBeGreaterThan(0);
    const printed = r.stdout
      .split('\n')
      .filter((l) => l.startsWith('warning: '))
      .map((l) => l.slice('warning: '.length));
    expect(
      printed.some((w) => warning.test(w)),
      r.stdout,
    ).toBe(true);
    expect(r.stdout.indexOf('warning: ')).toBeLessThan(r.stdout.indexOf('unreachable:')); // before any host
  });

  it('--json carries the warnings too', async () => {
    const f = write('json-two.yaml', HOSTS(2) + 'cluster:\n  members: etcd\n');
    const r = await run([f, '--check', '--json']);
    expect(JSON.parse(r.stdout).warnings).toContain('cluster has 2 members: an even count tolerates no more failures than 1');
  });

  it('passwords in an inventory others can read: a warning', async () => {
    const text = HOSTS(3) + '  vars:\n    become: true\n    become_password: hunter2-sentinel\ncluster:\n  members: etcd\n';
    const open = write('readable.yaml', text, 0o644);
    const r = await run([open, '--check']);
    expect(r.stdout).toMatch(/warning: .*readable\.yaml holds passwords and others can read it \(mode 0644\); chmod 600 it/);
    expect(r.stdout + r.stderr).not.toContain('hunter2-sentinel');
    const closed = write('closed.yaml', text, 0o600);
    expect((await run([closed, '--check'])).stdout).not.toMatch(/holds passwords/);
  });

  it('an inventory without a cluster, run with the default playbook: an error, not "nothing to do"', async () => {
    const f = write('no-cluster.yaml', HOSTS(3));
    const r = await run([f, '--check']);
    expect(r.code).toBe(2);
    expect(r.connections).toBe(0);
    expect(r.stderr).toMatch(/^error: .*no-cluster\.yaml:1:1: .* has no cluster: section, and the default playbook builds the inventory's cluster/);
  });
});
