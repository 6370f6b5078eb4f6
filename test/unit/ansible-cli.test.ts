/**
 * The Ansible users' command line, through the real CLI (`node bin/provision.js`) as
 * test/unit/bad-input.test.ts does: -i, -e (KEY=VALUE, @file, JSON) and its precedence,
 * --list-hosts, --list-tasks, --syntax-check, an inventory with no cluster section, a --limit
 * that selects nothing, INI inventories, and secrets in no output. Nothing here connects
 * anywhere: HOME's ssh config sends every host to a port nobody listens on.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { FakeConnection } from '../helpers/fake-connection.js';
import { ensureBuilt, provision } from '../helpers/cli.js';

const DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'ansible-cli-'));
const HOME = path.join(DIR, 'home');
beforeAll(() => {
  ensureBuilt();
  fs.mkdirSync(path.join(HOME, '.ssh'), { recursive: true });
  fs.writeFileSync(path.join(HOME, '.ssh', 'config'), 'Host *\n  Port 9\n');
}, 120_000);
afterAll(() => fs.rmSync(DIR, { recursive: true, force: true }));

const write = (name: string, text: string) => {
  const f = path.join(DIR, name);
  fs.mkdirSync(path.dirname(f), { recursive: true });
  fs.writeFileSync(f, text, { mode: 0o600 });
  return f;
};
const run = (args: string[]) => provision(args, { timeoutMs: 60_000, env: { HOME, USER: 'tester', SSH_AUTH_SOCK: '' } });

const HOSTS = `all:
  vars: { greeting: from-inventory }
  children:
    etcd:
      hosts:
        etcd0: { ansible_host: 10.9.0.1 }
        etcd1: { ansible_host: 10.9.0.2 }
        etcd2: { ansible_host: 10.9.0.3 }
    infra:
      hosts:
        dns0: { ansible_host: 10.9.0.9 }
`;
const CLUSTER = 'cluster:\n  members: etcd\n';

describe('-i, --syntax-check, --list-hosts, --list-tasks', () => {
  it('-i INVENTORY is the inventory; --syntax-check names the playbook and connects to nothing', async () => {
    const inv = write('syntax.yaml', HOSTS + CLUSTER);
    const r = await run(['-i', inv, '--syntax-check']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^playbook: .*playbooks\/etcd-cluster\.yaml\n$/);
  });

  it("--list-hosts: each play's hosts after --limit", async () => {
    const inv = write('list.yaml', HOSTS + CLUSTER);
    const r = await run([inv, '--list-hosts', '--limit', 'etcd:!etcd1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('play #2 (etcd_members): etcd cluster\n    hosts (2):\n      etcd0\n      etcd2\n');
    expect(r.stdout).toContain('play #1 (etcd_dns_server): DNS records of the cluster\n    hosts (0):\n');
  });

  it("--list-tasks: each play's tasks, with their conditions", async () => {
    const inv = write('tasks.yaml', HOSTS + CLUSTER);
    const r = await run([inv, '--list-tasks']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/ {6}Install etcd\n/);
    expect(r.stdout).toMatch(/Copy the CA .*\(when: cluster.tls is defined\)/);
  });

  it('--syntax-check finds an undefined variable with its file:line:col', async () => {
    const inv = write('undef.yaml', HOSTS + CLUSTER);
    const pb = write('undef-play.yaml', '- hosts: etcd\n  tasks:\n    - command: { cmd: "echo {{ greting }}" }\n');
    const r = await run([inv, '--playbook', pb, '--syntax-check']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `error: ${pb}:3:32: argument "cmd" of "command": undefined variable "greting"; did you mean "greeting"?\n  hint: variables come from the inventory (vars, group_vars, host_vars), the play's vars and -e\n`,
    );
  });
});

describe('-e / --extra-vars', () => {
  const pb = () => write('extra-play.yaml', '- hosts: etcd\n  tasks:\n    - command: { cmd: "echo {{ greeting }} {{ only_cli }}" }\n');

  it('defines variables for the load-time check: KEY=VALUE, @FILE and JSON', async () => {
    const inv = write('extra.yaml', HOSTS + CLUSTER);
    expect((await run([inv, '--playbook', pb(), '--syntax-check'])).stderr).toMatch(/undefined variable "only_cli"/);
    expect((await run([inv, '--playbook', pb(), '--syntax-check', '-e', 'only_cli=1'])).code).toBe(0);
    const f = write('vars.yaml', 'only_cli: yes-from-file\n');
    expect((await run([inv, '--playbook', pb(), '--syntax-check', '-e', `@${f}`])).code).toBe(0);
    expect((await run([inv, '--playbook', pb(), '--syntax-check', '--extra-vars', '{"only_cli": 2}'])).code).toBe(0);
  });

  it("wins over the inventory, in templates (as Ansible's extra vars)", async () => {
    const inv = write('extra-prec.yaml', HOSTS + CLUSTER);
    let out = '';
    const commands: string[] = [];
    const code = await main([inv, '--playbook', pb(), '--check', '--diff', '--limit', 'etcd0', '-e', 'greeting=from-cli only_cli="two words"'], {
      stdout: (s) => void (out += s),
      stderr: (s) => void (out += s),
      connect: async (s) => new FakeConnection(s.name, (cmd) => (commands.push(cmd), { exitCode: 0 })),
    });
    expect(code, out).toBe(0);
    expect(out).toContain("echo from-cli 'two words'".replace(/'/g, '')); // the planned command
    expect(out).not.toContain('from-inventory');
  });

  it('wins over the inventory for connection settings too (-e ansible_user=..., port)', async () => {
    const inv = write('extra-conn.yaml', HOSTS + CLUSTER);
    const seen: { user: string; port: number }[] = [];
    await main([inv, 'exec', '--limit', 'etcd0', '-e', 'ansible_user=deployer ansible_port=2222', '--', 'true'], {
      stdout: () => {},
      stderr: () => {},
      connect: async (s) => (seen.push({ user: s.user, port: s.port }), new FakeConnection(s.name, () => ({ exitCode: 0 }))),
    });
    expect(seen).toEqual([{ user: 'deployer', port: 2222 }]);
  });

  it('a bad -e is a clear error', async () => {
    const inv = write('extra-bad.yaml', HOSTS + CLUSTER);
    expect((await run([inv, '-e', 'nokey', '--syntax-check'])).stderr).toMatch(/^error: -e: expected KEY=VALUE, @FILE or a JSON map/);
    expect((await run([inv, '-e', '@/nonexistent.yaml', '--syntax-check'])).stderr).toMatch(
      /^error: -e @\/nonexistent.yaml: cannot read \/nonexistent.yaml: ENOENT/,
    );
    expect((await run([inv, '-e', 'ansible_port=http', '--syntax-check'])).stderr).toMatch(/"ansible_port" must be a number/);
  });
});

describe('mistakes that used to pass silently', () => {
  it('an inventory with no cluster section and the default playbook is an error (exit 2), not "nothing to do"', async () => {
    const inv = write('no-cluster.yaml', HOSTS);
    const r = await run([inv]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      new RegExp(
        `^error: ${inv.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:1:1: .* has no cluster: section, and the default playbook builds the inventory's cluster\n  hint: add a cluster: section`,
      ),
    );
    expect(r.stdout).toBe('');
  });

  it.each([
    ['a name that does not exist', 'etcd9'],
    ['an exclusion of everything', 'etcd:!etcd'],
    ['a host outside the run', 'dns0'],
    ['a glob that matches nothing', 'web*'],
    ['an intersection that is empty', 'etcd:&infra'],
  ])('a --limit that selects nothing is one error whatever the pattern: %s', async (_name, pattern) => {
    const inv = write('limit.yaml', HOSTS + CLUSTER);
    const r = await run([inv, '--check', '--limit', pattern]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`error: --limit ${pattern} selects no host of this run\n  hint: the hosts of this run: etcd0, etcd1, etcd2\n`);
  });

  it('exec: a --limit that selects nothing, the same error', async () => {
    const inv = write('limit-exec.yaml', HOSTS + CLUSTER);
    const r = await run([inv, 'exec', '--limit', 'nothere', '--', 'true']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: --limit nothere selects no host of this run\n/);
  });

  it('Ansible\'s INI inventory is read; the YAML loader no longer says "Unexpected scalar"', async () => {
    const inv = write('inv/hosts.ini', '[etcd]\netcd[0:2] ansible_user=root\n[etcd:vars]\nansible_become=false\n');
    write('inv/host_vars/etcd0.yml', 'ansible_host: 10.9.0.1\n');
    write('inv/host_vars/etcd1.yml', 'ansible_host: 10.9.0.2\n');
    write('inv/host_vars/etcd2.yml', 'ansible_host: 10.9.0.3\n');
    write('inv/group_vars/all.yml', 'cluster: { members: etcd }\n');
    const r = await run([inv, '--list-hosts']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('hosts (3):\n      etcd0\n      etcd1\n      etcd2\n');
    const bad = write('inv/bad.ini', '[etcd]\netcd0 ansible_host=10.9.0.1 ansible_usr=root\n');
    const e = await run([bad, '--syntax-check']);
    expect(e.code).toBe(2);
    expect(e.stderr).toMatch(
      new RegExp(
        `^error: ${bad.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:2:29: "ansible_usr" in host "etcd0" is an Ansible variable provision does not map; did you mean "ansible_user"\\?`,
      ),
    );
  });

  it('exec and status without a command or a cluster: clear errors', async () => {
    const inv = write('exec-none.yaml', HOSTS);
    expect((await run([inv, 'exec'])).stderr).toMatch(/^error: exec needs a command after --/);
    const s = await run([inv, 'status']);
    expect(s.code).toBe(2);
    expect(s.stderr).toMatch(/has no cluster: section, so there is no cluster to show/);
  });
});

describe('a secret in the inventory never appears in any output', () => {
  const SECRET = 'SENTINEL-become-9f3e';
  it('rendered into a command by a template (--check --diff -vvv, and --json)', async () => {
    const inv = write(
      'secret.yaml',
      `all:\n  vars:\n    ansible_become_password: "${SECRET}"\n  hosts:\n    h: { ansible_host: 10.9.0.1 }\ncluster: { members: [h] }\n`,
    );
    const pb = write('secret-play.yaml', '- hosts: all\n  tasks:\n    - command: { cmd: "echo {{ ansible_become_password }} > /tmp/x" }\n');
    for (const extra of [['--diff', '-vvv'], ['--json']]) {
      let out = '';
      const commands: string[] = [];
      const code = await main([inv, '--playbook', pb, '--check', ...extra], {
        stdout: (s) => void (out += s),
        stderr: (s) => void (out += s),
        connect: async (s) => new FakeConnection(s.name, (cmd) => (commands.push(cmd), { exitCode: 0 })),
      });
      expect(code, out).toBe(0);
      expect(out).toContain('echo <hidden> > /tmp/x');
      expect(out).not.toContain(SECRET);
    }
  });

  it('quoted by an error about another key (through a YAML alias)', async () => {
    const inv = write(
      'secret-alias.yaml',
      `all:\n  vars:\n    ansible_password: &pw "${SECRET} x"\n    ansible_user: *pw\n  hosts:\n    h: { ansible_host: 10.9.0.1 }\n`,
    );
    const r = await run([inv, '--syntax-check']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/"ansible_user" "<hidden>" is not a valid user name/);
    expect(r.stderr).not.toContain(SECRET);
  });

  it('in remote output of exec', async () => {
    const inv = write('secret-exec.yaml', `all:\n  vars:\n    ansible_become_password: "${SECRET}"\n  hosts:\n    h: { ansible_host: 10.9.0.1 }\n`);
    let out = '';
    await main([inv, 'exec', '--', 'cat secrets'], {
      stdout: (s) => void (out += s),
      stderr: (s) => void (out += s),
      connect: async (s) => new FakeConnection(s.name, () => ({ exitCode: 0, stdout: `the password is ${SECRET}\n` })),
    });
    expect(out).toContain('the password is <hidden>');
    expect(out).not.toContain(SECRET);
  });
});
