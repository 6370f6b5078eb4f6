/**
 * Ansible inventories as their users write them: the YAML form with ansible_* variables, the
 * INI form, group_vars/ and host_vars/ beside the inventory; what cannot map is an error that
 * says so, with file:line:col; the strictness that keeps a typo from changing what happens;
 * undefined variables found at load time; secrets in no message.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ProvisionError, isProvisionError } from '../../src/errors.js';
import { loadInventory, parseInventory, type InventoryOptions } from '../../src/inventory/index.js';
import { expandRange } from '../../src/inventory/ini.js';
import { addressKey } from '../../src/inventory/load.js';
import { operations } from '../../src/operations/index.js';
import { parsePlaybook } from '../../src/playbook/index.js';
import { freeVariables } from '../../src/template/index.js';

const DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'ansible-inv-'));
afterAll(() => fs.rmSync(DIR, { recursive: true, force: true }));
const OPTS: InventoryOptions = { home: DIR, user: 'alice', sshConfigFile: path.join(DIR, 'no-such-config') };

let n = 0;
/** Writes files into a fresh directory; returns the path of the first. */
function files(map: Record<string, string>): string {
  const dir = path.join(DIR, `case${n++}`);
  for (const [name, text] of Object.entries(map)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text, { mode: 0o600 });
  }
  return path.join(dir, Object.keys(map)[0]!);
}

function errorOf(fn: () => unknown): ProvisionError {
  try {
    fn();
  } catch (e) {
    if (isProvisionError(e)) return e;
    throw e;
  }
  throw new Error('expected a ProvisionError');
}

const load = (file: string) => loadInventory(file, OPTS);

const ANSIBLE_YAML = `all:
  vars:
    ansible_user: deploy
    ansible_ssh_private_key_file: keys/id_ed25519
    ansible_become: yes
    ansible_become_password: "sudo-SENTINEL-pw"
    ansible_ssh_common_args: "-o StrictHostKeyChecking=accept-new -o UserKnownHostsFile=kh -o ProxyCommand='ssh -W %h:%p -q admin@bastion.example'"
  children:
    etcd:
      hosts:
        etcd0:
          ansible_host: 10.0.0.1
          ansible_port: 2222
        etcd1:
          ansible_host: 10.0.0.2
          etcd_weight: 3
        etcd2: { ansible_host: 10.0.0.3, ansible_connection: ssh, ansible_become_method: sudo }
cluster:
  members: etcd
`;

describe('the YAML form with ansible_* variables', () => {
  it('maps each connection variable to its setting', () => {
    const file = files({ 'hosts.yaml': ANSIBLE_YAML });
    const inv = load(file);
    const c0 = inv.hosts.get('etcd0')!.connection;
    const dir = path.dirname(file);
    expect(c0).toMatchObject({
      address: '10.0.0.1',
      port: 2222,
      user: 'deploy',
      become: true,
      becomePassword: 'sudo-SENTINEL-pw',
      keyFiles: [path.join(dir, 'keys/id_ed25519')],
      knownHostsFiles: [path.join(dir, 'kh')],
      hostKeyPolicy: 'accept-new',
      proxyJump: { address: 'bastion.example', port: 22, user: 'admin' },
    });
    expect(inv.hosts.get('etcd1')!.connection).toMatchObject({ address: '10.0.0.2', port: 22 });
    // Any other key on a host entry is a variable of that host (as in Ansible).
    expect(inv.hosts.get('etcd1')!.vars.etcd_weight).toBe(3);
    expect(inv.cluster!.members).toEqual(['etcd0', 'etcd1', 'etcd2']);
    expect([...inv.secrets!]).toEqual(['sudo-SENTINEL-pw']);
  });

  it.each([
    ['ansible_connection: local', 'ansible_connection: local', /"ansible_connection: local" cannot be mapped: provision connects over SSH only/],
    ['ansible_become_method: su', 'ansible_become_method: su', /"ansible_become_method: su" cannot be mapped: provision becomes another user with sudo only/],
    ['an unmapped ansible_* variable', 'ansible_shell_type: csh', /"ansible_shell_type" in vars of group "all" is an Ansible variable provision does not map/],
    ['a misspelt ansible_* variable', 'ansible_becom_user: root', /"ansible_becom_user" .* does not map; did you mean "ansible_become_user"\?/],
    ['an ssh option that does not map', 'ansible_ssh_common_args: "-o ForwardAgent=yes"', /"ansible_ssh_common_args": -o ForwardAgent cannot be mapped/],
    ['no host key checking', 'ansible_ssh_common_args: "-o StrictHostKeyChecking=no"', /StrictHostKeyChecking=no cannot be mapped/],
    ['ansible_host_key_checking: false', 'ansible_host_key_checking: false', /false cannot be mapped: provision always checks host keys/],
    ['a near-miss of ours', 'key-file: ~/.ssh/k', /"key-file" .*looks like a connection setting but is none; did you mean "key_file"\?/],
    ['another near-miss', 'become_pass: x', /did you mean "become_password"\?/],
    ['a synonym from other tools', 'username: bob', /"username" in vars of group "all" looks like a connection setting but is none; did you mean "user"\?/],
    ['the same setting twice', 'user: a\n    ansible_user: b', /"ansible_user" and "user" are the same setting, both given in vars of group "all"/],
    ['ansible_host in group vars', 'ansible_host: 10.0.0.9', /"ansible_host" cannot be set in vars of group "all"/],
  ])('%s: an error at its line and column', (_name, line, message) => {
    const file = files({ 'inv.yaml': `all:\n  vars:\n    ${line}\n  hosts:\n    a: { ansible_host: 10.0.0.1 }\n` });
    const e = errorOf(() => load(file));
    expect(e.message).toMatch(message);
    expect(e.location?.file).toBe(file);
    expect(e.location?.line).toBeGreaterThanOrEqual(3);
    expect(e.location?.col).toBeGreaterThanOrEqual(5);
  });

  it('an ordinary variable near no connection setting is a variable', () => {
    const inv = load(
      files({
        'inv.yaml':
          'all:\n  vars:\n    etcd_heartbeat: 100\n    region: eu\n    users: [a, b]\n    ports: [80]\n    timeout: 5\n    hostname: web1\n  hosts:\n    a: { address: 10.0.0.1 }\n',
      }),
    );
    expect(inv.hosts.get('a')!.vars).toMatchObject({ etcd_heartbeat: 100, region: 'eu', users: ['a', 'b'], ports: [80], timeout: 5, hostname: 'web1' });
  });
});

describe('addresses', () => {
  it.each([
    ['10.0.0.1:2222', 'port: 2222'],
    ['[fe80::1]:2200', 'port: 2200'],
    ['node1.example:22', 'port: 22'],
  ])('%s: an error that points to port', (address, hint) => {
    const e = errorOf(() => parseInventory(`all:\n  hosts:\n    a: { address: "${address}" }\n`, '/i.yaml', OPTS));
    expect(e.message).toBe(`address "${address}" has a port in it`);
    expect(e.hint).toContain(hint);
    expect(e.location).toMatchObject({ line: 3, col: 19 });
  });

  it('a bare IPv6 address is no address with a port', () => {
    expect(parseInventory('all:\n  hosts:\n    a: { address: "fe80::1:22" }\n', '/i.yaml', OPTS).hosts.get('a')!.connection.address).toBe('fe80::1:22');
  });

  it.each([
    ['10.0.0.1', '::ffff:10.0.0.1'],
    ['10.0.0.1', '::FFFF:a00:1'],
    ['node1.example', 'NODE1.example'],
    ['node1.example', 'node1.example.'],
    ['2001:db8::1', '2001:DB8:0:0:0:0:0:1'],
  ])('%s and %s: one machine under two names is an error', (a, b) => {
    const e = errorOf(() => parseInventory(`all:\n  hosts:\n    a: { address: "${a}" }\n    b: { address: "${b}" }\n`, '/i.yaml', OPTS));
    expect(e.message).toBe(`hosts a and b have the same address, written two ways ("${a}" and "${b}")`);
    expect(e.location).toMatchObject({ file: '/i.yaml', line: 4, col: 19 });
  });

  it('the same address on two ports is two machines (port forwarding)', () => {
    const inv = parseInventory(
      'all:\n  hosts:\n    a: { address: 10.0.0.1, port: 2201 }\n    b: { address: "::ffff:10.0.0.1", port: 2202 }\n',
      '/i.yaml',
      OPTS,
    );
    expect(inv.hosts.size).toBe(2);
  });

  it('addressKey: one spelling per address', () => {
    expect(addressKey('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(addressKey('::ffff:0a01:0203')).toBe('10.1.2.3');
    expect(addressKey('Host.Example.')).toBe('host.example');
  });
});

const INI = `# the lab, Ansible's INI form
ungrouped1 ansible_host=10.0.0.9

[etcd]
etcd[0:2] ansible_user=root

[infra]
dns0 ansible_host=10.0.0.10 ansible_port=2200

[etcd:vars]
ansible_ssh_private_key_file=keys/id_ed25519 ; a comment
[all:vars]
ansible_ssh_common_args='-o UserKnownHostsFile=kh -o StrictHostKeyChecking=yes'
ansible_become_pass = "sudo SENTINEL pw"

[cluster:children]
etcd
`;

describe('the INI form', () => {
  const tree = () =>
    files({
      'hosts.ini': INI,
      'host_vars/etcd0.yml': 'ansible_host: 10.0.0.1\n',
      'host_vars/etcd1.yaml': 'ansible_host: 10.0.0.2\n',
      'host_vars/etcd2/main.yml': 'ansible_host: 10.0.0.3\n',
      'group_vars/all.yml': 'cluster:\n  name: lab\n  members: etcd\n  token: t\nsite: eu\n',
      'group_vars/etcd/10-tuning.yaml': 'etcd_heartbeat: 100\nregion: a\n',
      'group_vars/etcd/20-more.yaml': 'region: b\n',
    });

  it('reads groups, ranges, vars, children, group_vars/ and host_vars/, and the cluster from group_vars/all', () => {
    const file = tree();
    const dir = path.dirname(file);
    const inv = load(file);
    expect([...inv.hosts.keys()]).toEqual(['ungrouped1', 'etcd0', 'etcd1', 'etcd2', 'dns0']);
    expect(inv.groups.get('cluster')).toEqual(['etcd0', 'etcd1', 'etcd2']);
    expect(inv.groups.get('ungrouped')).toEqual(['ungrouped1']);
    expect(inv.hosts.get('etcd2')!.connection).toMatchObject({
      address: '10.0.0.3',
      user: 'root',
      keyFiles: [path.join(dir, 'keys/id_ed25519')],
      knownHostsFiles: [path.join(dir, 'kh')],
      hostKeyPolicy: 'strict',
      becomePassword: 'sudo SENTINEL pw',
    });
    expect(inv.hosts.get('dns0')!.connection).toMatchObject({ address: '10.0.0.10', port: 2200 });
    expect(inv.hosts.get('etcd1')!.vars).toMatchObject({ site: 'eu', etcd_heartbeat: 100, region: 'b' });
    expect(inv.hosts.get('etcd1')!.vars.cluster).toBeUndefined();
    expect(inv.cluster).toMatchObject({ name: 'lab', members: ['etcd0', 'etcd1', 'etcd2'], token: 't' });
  });

  it('host_vars/ win over the inventory file, group_vars/ over its group vars (as Ansible)', () => {
    const file = files({
      'hosts.ini': '[g]\na ansible_host=10.0.0.1 ansible_user=fromfile\n[g:vars]\nansible_port=2201\n',
      'host_vars/a.yml': 'ansible_user: fromdir\n',
      'group_vars/g.yml': 'ansible_port: 2202\n',
    });
    expect(load(file).hosts.get('a')!.connection).toMatchObject({ user: 'fromdir', port: 2202 });
  });

  it('a group_vars file for a group the inventory lacks: a warning', () => {
    const file = files({ 'hosts.ini': '[g]\na ansible_host=10.0.0.1\n', 'group_vars/gg.yml': 'x: 1\n' });
    expect(load(file).warnings.join('\n')).toMatch(/group_vars\/gg\.yml: no group "gg" in the inventory; its variables are not used/);
  });

  it.each([
    ['a bad port on a host line', '[g]\na   ansible_host=10.0.0.1   ansible_port=abc\n', 2, 42, /"ansible_port" must be a number/],
    ['a port in the address', '[g]\na ansible_host=10.0.0.1:22\n', 2, 16, /ansible_host "10.0.0.1:22" has a port in it/],
    ['an unmapped variable in [g:vars]', '[g]\na ansible_host=10.0.0.1\n[g:vars]\nansible_usr=x\n', 4, 1, /did you mean "ansible_user"\?/],
    ['a bad section', '[g:hosts:x]\n', 1, 1, /invalid section "\[g:hosts:x\]"/],
    ['a word that is not key=value', '[g]\na ansible_host=10.0.0.1 oops\n', 2, 25, /expected key=value after the host name/],
    ['hosts under [all]', '[all]\na\n', 1, 1, /hosts cannot be listed under \[all\]/],
    ['an unbalanced quote', "[g]\na ansible_user='x\n", 2, 1, /unbalanced quote/],
  ])("%s: an error at the INI file's line and column", (_name, text, line, col, message) => {
    const file = files({ 'bad.ini': text });
    const e = errorOf(() => load(file));
    expect(e.message).toMatch(message);
    expect(e.location).toEqual({ file, line, col });
  });

  it('an INI inventory named .yaml: the YAML error says it looks like INI', () => {
    const file = files({ 'inv.yaml': '[etcd]\netcd0 ansible_host=10.0.0.1\n' });
    // With a .yaml name it is read as YAML, where "[etcd]" is a list: the error says what it is.
    const e = errorOf(() => load(file));
    expect(e.format()).toMatch(/INI/);
  });

  it("ranges expand as Ansible's", () => {
    expect(expandRange('etcd[0:2]')).toEqual(['etcd0', 'etcd1', 'etcd2']);
    expect(expandRange('web[08:10].x')).toEqual(['web08', 'web09', 'web10'].map((h) => `${h}.x`));
    expect(expandRange('db-[a:c]')).toEqual(['db-a', 'db-b', 'db-c']);
    expect(expandRange('n[0:10:5]')).toEqual(['n0', 'n5', 'n10']);
    expect(expandRange('n[3:1]')).toBeUndefined();
  });
});

describe('secrets in no message', () => {
  it.each([
    ['an alias of a password used as the user', 'all:\n  vars:\n    password: &pw "hunter2 SENTINEL"\n    user: *pw\n  hosts:\n    a: { address: 10.0.0.1 }\n'],
    [
      'an alias of an ansible password used as the user',
      'all:\n  vars:\n    ansible_password: &pw "SENTINEL x"\n  hosts:\n    a: { ansible_host: 10.0.0.1, ansible_user: *pw }\n',
    ],
    [
      'an alias of a password as a host variable in a template-free error elsewhere',
      'all:\n  vars:\n    password: &pw "SENTINEL;x"\n  children:\n    g:\n      vars: { proxy_jump: *pw }\n',
    ],
    [
      'an alias of a become password as a port',
      'all:\n  vars:\n    ansible_become_pass: &pw "SENTINEL99"\n    ansible_port: *pw\n  hosts:\n    a: { address: 10.0.0.1 }\n',
    ],
  ])('%s', (_name, text) => {
    const file = files({ 'inv.yaml': text });
    const e = errorOf(() => load(file));
    expect(e.format()).not.toContain('SENTINEL');
    expect(e.location?.file).toBe(file);
  });
});

describe('undefined variables found at load time', () => {
  const inv = () =>
    parseInventory(`all:\n  vars: { region: eu }\n  hosts:\n    a: { address: 10.0.0.1, rack: r1 }\ncluster: { members: [a] }\n`, '/i.yaml', OPTS);
  const play = (task: string) => `- hosts: all\n  vars: { pv: 1 }\n  tasks:\n${task}`;

  it.each([
    ['a template', '    - command: { cmd: "echo {{ regoin }}" }\n', 4, 32, /argument "cmd" of "command": undefined variable "regoin"; did you mean "region"\?/],
    ['a when condition', "    - command: { cmd: 'true' }\n      when: rack == 'r1' and zone == 'z'\n", 5, 30, /when: undefined variable "zone"/],
    ['a template in a list', '    - command: { cmd: ["echo", "{{ nope }}"] }\n', 4, 23, /undefined variable "nope"/],
  ])('%s', (_name, task, line, col, message) => {
    const e = errorOf(() => parsePlaybook(play(task), '/p.yaml', operations, inv()));
    expect(e.message).toMatch(message);
    expect(e.location).toEqual({ file: '/p.yaml', line, col });
  });

  it('known variables, loop variables, "is defined" and default() are fine', () => {
    const task = `    - command: { cmd: "echo {{ region }} {{ rack }} {{ pv }} {{ inventory_hostname }} {{ cluster.name }} {% for x in groups.all %}{{ x }}{% endfor %} {{ maybe | default('') }}" }
      when: maybe is not defined or maybe == 1
`;
    expect(parsePlaybook(play(task), '/p.yaml', operations, inv()).plays[0]!.tasks).toHaveLength(1);
  });

  it('a template file: the undefined variable at its line and column in that file', () => {
    const dir = path.dirname(files({ 'tpl/conf.j2': '# conf\nname = {{ inventory_hostname }}\nregion = {{ regon }}\n' }));
    const pb = path.join(dir, 'play.yaml');
    const e = errorOf(() => parsePlaybook(play('    - file: { path: /etc/x.conf, template: conf.j2 }\n'), pb, operations, inv()));
    expect(e.message).toBe('undefined variable "regon"; did you mean "region"? (template of the task at play.yaml:4)');
    expect(e.location).toEqual({ file: path.join(dir, 'conf.j2'), line: 3, col: 13 });
  });

  it('freeVariables', () => {
    expect(freeVariables('{% set y = 1 %}{{ y }}{{ a.b }}{% if c is defined %}{{ c }}{% endif %}').map((v) => v.name)).toEqual(['a', 'c']);
  });
});
