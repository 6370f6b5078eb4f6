import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ProvisionError, isProvisionError } from '../../src/errors.js';
import { loadInventory, parseInventory, selectHosts, type InventoryOptions } from '../../src/inventory/index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const FIX = path.join(ROOT, 'test/fixtures');
const HOME = fs.mkdtempSync(path.join(os.tmpdir(), 'inv-home-'));
fs.mkdirSync(path.join(HOME, '.ssh'));
fs.writeFileSync(path.join(HOME, '.ssh', 'id_rsa'), 'x');
fs.writeFileSync(path.join(HOME, '.ssh', 'id_ecdsa'), 'x');
/** Hermetic: no machine ssh config, fixed home and user. */
const OPTS: InventoryOptions = { home: HOME, user: 'alice', sshConfigFile: path.join(HOME, 'no-such-config') };
const FILE = '/inv/test.yaml';

const parse = (text: string, opts: InventoryOptions = OPTS) => parseInventory(text, FILE, opts);

function errorOf(text: string): ProvisionError {
  try {
    parse(text);
  } catch (e) {
    if (isProvisionError(e)) return e;
    throw e;
  }
  throw new Error('expected a ProvisionError');
}

const THREE = `all:
  children:
    etcd:
      hosts:
        etcd0: { address: 10.0.0.1 }
        etcd1: { address: 10.0.0.2 }
        etcd2: { address: 10.0.0.3 }
`;

describe('inventory errors name file:line:col and the key', () => {
  const cases: [string, string, number, number, RegExp][] = [
    ['invalid YAML', 'all:\n  hosts: [a\n', 3, 1, /^invalid YAML: /],
    ['tab/garbage YAML', 'all: {a: 1\n', 2, 1, /^invalid YAML/],
    ['duplicate YAML key', 'all:\n  hosts:\n    a: {}\n    a: {}\n', 4, 5, /^duplicate key "a"$/],
    ['two documents', 'all: {}\n---\nall: {}\n', 2, 1, /multiple documents/],
    ['root is a list', '- all\n', 1, 1, /^the inventory must be a map/],
    ['empty inventory', '# nothing\n', 1, 1, /^the inventory is empty/],
    ['no all', 'cluster: { members: etcd }\n', 1, 1, /has no "all:" section/],
    ['unknown top-level key', 'al:\n  hosts: {}\n', 1, 1, /^unknown key "al" in the inventory \(expected one of: all, cluster\)$/],
    [
      // Other keys on a host entry are its variables (as in Ansible), except near-misses.
      'misspelt host key',
      'all:\n  hosts:\n    etcd0: { address: 10.0.0.1, usr: root }\n',
      3,
      33,
      /^"usr" in host "etcd0" looks like a connection setting but is none; did you mean "user"\?$/,
    ],
    ['unknown group key', 'all:\n  host:\n    a:\n', 2, 3, /^unknown key "host" in group "all" \(expected one of: hosts, children, vars\)$/],
    ['unknown key in child group', 'all:\n  children:\n    g:\n      var: {}\n', 4, 7, /^unknown key "var" in group "g"/],
    ['hosts not a map', 'all:\n  hosts: [a, b]\n', 2, 10, /^hosts of group "all" must be a map/],
    ['hostile host name', "all:\n  hosts:\n    'a;rm -rf /': {}\n", 3, 5, /^invalid host name "a;rm -rf \/"$/],
    ['host name with newline', 'all:\n  hosts:\n    "a\\nb": {}\n', 3, 5, /^invalid host name "a\\nb"$/],
    ['hostile group name', "all:\n  children:\n    'x y':\n", 3, 5, /^invalid group name "x y"$/],
    ['all as a child', 'all:\n  children:\n    all:\n', 3, 5, /^group "all" cannot be a child group$/],
    ['group cycle', 'all:\n  children:\n    a:\n      children:\n        b:\n          children:\n            a:\n', 7, 13, /^group cycle: a -> b -> a$/],
    ['self cycle', 'all:\n  children:\n    a:\n      children:\n        a:\n', 5, 9, /^group cycle: a -> a$/],
    ['alias cycle', 'all: &top\n  children:\n    g: *top\n', 3, 8, /contains itself through a YAML alias/],
    [
      'host defined twice',
      'all:\n  children:\n    g1:\n      hosts:\n        h1: { address: 10.0.0.1 }\n    g2:\n      hosts:\n        h1: { port: 2222 }\n',
      8,
      9,
      /^host "h1" is already defined at line 5$/,
    ],
    ['host and group share a name', 'all:\n  hosts:\n    x:\n  children:\n    x:\n', 3, 5, /both a host and a group/],
    ['port out of range', 'all:\n  hosts:\n    h: { port: 70000 }\n', 3, 16, /^"port" must be a whole number from 1 to 65535, not 70000$/],
    ['port not a number', 'all:\n  hosts:\n    h: { port: ssh }\n', 3, 16, /^"port" must be a number, not the string "ssh"$/],
    ['port empty', 'all:\n  hosts:\n    h:\n      port:\n', 4, 7, /^"port" must be a number/],
    ['become yes', 'all:\n  vars:\n    become: yes\n', 3, 13, /^"become" must be true or false/],
    ['host_key_checking enum', 'all:\n  vars:\n    host_key_checking: no\n', 3, 24, /must be "strict" or "accept-new"/],
    ['address in vars', 'all:\n  vars:\n    address: 10.0.0.1\n', 3, 5, /^"address" cannot be set in vars of group "all"$/],
    ['address in group vars', 'all:\n  hosts:\n    h: {}\n  vars: { address: 10.0.0.1 }\n', 4, 11, /cannot be set in vars of group "all"/],
    ['bad variable name', "all:\n  vars:\n    'my-var': 1\n", 3, 5, /^invalid variable name "my-var" in vars of group "all"$/],
    ['proto variable', 'all:\n  vars:\n    __proto__: 1\n', 3, 5, /invalid variable name "__proto__"/],
    ['hostile user', "all:\n  vars:\n    user: 'root; rm -rf /'\n", 3, 11, /^"user" "root; rm -rf \/" is not a valid user name$/],
    ['hostile address', "all:\n  hosts:\n    h: { address: '1.2.3.4 -oProxyCommand=x' }\n", 3, 19, /is not a host name or IP address/],
    ['key_file wrong type', 'all:\n  vars:\n    key_file: 3\n', 3, 15, /^"key_file" must be a string or a list of strings, not the number 3$/],
    ['known_hosts list item', 'all:\n  vars:\n    known_hosts: [a, {b: 1}]\n', 3, 22, /each item of "known_hosts" must be a string/],
    ['timeout negative', 'all:\n  vars:\n    connect_timeout: -1\n', 3, 22, /"connect_timeout" must be between/],
    ['proxy_jump malformed', "all:\n  vars:\n    proxy_jump: 'a@b@c'\n", 3, 17, /"proxy_jump" "a@b@c" must look like user@host:port/],
    ['proxy_jump two hops', "all:\n  vars:\n    proxy_jump: 'a,b'\n", 3, 17, /one jump host/],
    ['vars not a map', 'all:\n  vars: [1]\n', 2, 9, /^vars of group "all" must be a map/],
    // cluster
    [
      'cluster unknown key',
      THREE + 'cluster:\n  members: etcd\n  memebrs: etcd\n',
      10,
      3,
      /^unknown key "memebrs" in cluster \(expected one of: name, members, bootstrap/,
    ],
    ['cluster members missing', THREE + 'cluster:\n  name: x\n', 8, 1, /^cluster.members is required/],
    ['cluster members unknown group', THREE + 'cluster:\n  members: etc\n', 9, 12, /^cluster.members: no group named "etc"$/],
    ['cluster members unknown host', THREE + 'cluster:\n  members: [etcd0, etcd9]\n', 9, 20, /^cluster.members: no host named "etcd9"$/],
    ['cluster members twice', THREE + 'cluster:\n  members: [etcd0, etcd0]\n', 9, 20, /lists "etcd0" twice/],
    ['cluster retired unknown host', THREE + 'cluster:\n  members: [etcd0, etcd1]\n  retired: [etcd9]\n', 10, 13, /^cluster.retired: no host named "etcd9"/],
    [
      'cluster retired is a member',
      THREE + 'cluster:\n  members: [etcd0, etcd1]\n  retired: [etcd1]\n',
      10,
      13,
      /^cluster.retired: "etcd1" is also one of cluster.members/,
    ],
    ['cluster retired twice', THREE + 'cluster:\n  members: [etcd0]\n  retired: [etcd1, etcd1]\n', 10, 20, /lists "etcd1" twice/],
    ['cluster members empty list', THREE + 'cluster:\n  members: []\n', 9, 12, /cluster.members is empty/],
    ['cluster bootstrap enum', THREE + 'cluster:\n  members: etcd\n  bootstrap: srv\n', 10, 14, /^cluster.bootstrap must be one of: static, dns, discovery$/],
    ['cluster bad token', THREE + "cluster:\n  members: etcd\n  token: 'a b'\n", 10, 10, /^cluster.token "a b" is not a valid token/],
    ['cluster bad name', THREE + "cluster:\n  members: etcd\n  name: '$(x)'\n", 10, 9, /^cluster.name "\$\(x\)" is not a valid name/],
    [
      'cluster relative data_dir',
      THREE + 'cluster:\n  members: etcd\n  data_dir: var/lib/etcd\n',
      10,
      13,
      /^cluster.data_dir "var\/lib\/etcd" is not a valid absolute path/,
    ],
    ['cluster data_dir with space', THREE + "cluster:\n  members: etcd\n  data_dir: '/var/lib/my etcd'\n", 10, 13, /is not a valid absolute path/],
    ['cluster data_dir /', THREE + 'cluster:\n  members: etcd\n  data_dir: /\n', 10, 13, /not a usable data directory/],
    ['cluster same ports', THREE + 'cluster:\n  members: etcd\n  client_port: 2380\n', 10, 16, /must differ/],
    ['cluster listen enum', THREE + 'cluster:\n  members: etcd\n  listen: all\n', 10, 11, /^cluster.listen must be one of: address, any$/],
    ['cluster dns missing', THREE + 'cluster:\n  members: etcd\n  bootstrap: dns\n', 10, 14, /^bootstrap: dns needs a cluster.dns section$/],
    [
      'cluster dns bad server',
      THREE + 'cluster:\n  members: etcd\n  bootstrap: dns\n  dns: { domain: e.internal, server: ns9 }\n',
      11,
      38,
      /no host named "ns9"/,
    ],
    [
      'cluster dns bad domain',
      THREE + "cluster:\n  members: etcd\n  bootstrap: dns\n  dns: { domain: 'a b', server: etcd0 }\n",
      11,
      18,
      /is not a domain name/,
    ],
    ['cluster discovery missing', THREE + 'cluster:\n  members: etcd\n  bootstrap: discovery\n', 10, 14, /needs a cluster.discovery section/],
    [
      'cluster discovery both',
      THREE + 'cluster:\n  members: etcd\n  bootstrap: discovery\n  discovery: { url: "http://a/b", endpoint: "http://10.0.0.1:2379" }\n',
      11,
      35,
      /exactly one of "url" or "endpoint"/,
    ],
    [
      'cluster discovery bad url',
      THREE + "cluster:\n  members: etcd\n  bootstrap: discovery\n  discovery: { url: 'x; y' }\n",
      11,
      21,
      /is not an http\(s\) URL/,
    ],
    [
      'cluster package unknown key',
      THREE + 'cluster:\n  members: etcd\n  package: { nam: etcd }\n',
      10,
      14,
      /unknown key "nam" in cluster.package \(expected one of: name, version\)/,
    ],
    ['cluster package hostile', THREE + "cluster:\n  members: etcd\n  package: { name: 'etcd; reboot' }\n", 10, 20, /is not a package name/],
    ['cluster tls unknown key', THREE + 'cluster:\n  members: etcd\n  tls: { path: x }\n', 10, 10, /unknown key "path" in cluster.tls/],
    [
      'member with a DNS name',
      'all:\n  hosts:\n    etcd0: { address: foo.example }\ncluster:\n  members: [etcd0]\n',
      3,
      23,
      /^member etcd0 has address 'foo.example'; etcd listens on IP addresses, give the IP$/,
    ],
    ['member without address', 'all:\n  hosts:\n    etcd0:\ncluster:\n  members: [etcd0]\n', 3, 5, /^member etcd0 has address 'etcd0'/],
  ];

  it.each(cases)('%s', (_name, text, line, col, message) => {
    const e = errorOf(text);
    expect(e.code).toBe('INVENTORY');
    expect(e.message).toMatch(message);
    expect(e.location).toEqual({ file: FILE, line, col });
    expect(e.format()).toContain(`${FILE}:${line}:${col}: `);
  });

  it('reports a missing file without a stack', () => {
    expect(() => loadInventory('/nonexistent/inv.yaml', OPTS)).toThrow(/cannot read inventory \/nonexistent\/inv.yaml: no such file \(ENOENT\)$/);
  });
});

describe('inventory structure', () => {
  it('loads the example inventory', () => {
    const inv = loadInventory(path.join(ROOT, 'inventories/example-static.yaml'), OPTS);
    expect([...inv.hosts.keys()]).toEqual(['etcd0', 'etcd1', 'etcd2']);
    expect(inv.groups.get('etcd')).toEqual(['etcd0', 'etcd1', 'etcd2']);
    expect(inv.hosts.get('etcd1')!.connection).toMatchObject({ address: '192.168.1.156', user: 'root', keyFiles: [path.join(HOME, '.ssh/id_ed25519')] });
    expect(inv.cluster).toEqual({
      name: 'etcd-cluster',
      members: ['etcd0', 'etcd1', 'etcd2'],
      bootstrap: 'static',
      token: 'mritd-etcd-cluster',
      dataDir: '/var/lib/etcd',
      clientPort: 2379,
      extraClientPorts: [4001],
      peerPort: 2380,
      listen: 'address',
      package: { name: 'etcd' },
    });
    expect(inv.warnings).toEqual([]);
  });

  it('merges membership of a group referenced twice and a host listed again with {} or null', () => {
    const inv = parse(`all:
  children:
    etcd:
      hosts:
        a: { address: 10.0.0.1 }
    infra:
      children:
        etcd:
          hosts:
            b: { address: 10.0.0.2 }
      hosts:
        a: {}
        c:
`);
    expect(inv.groups.get('etcd')).toEqual(['a', 'b']);
    expect(inv.groups.get('infra')).toEqual(['a', 'b', 'c']);
    expect(inv.groups.get('all')).toEqual(['a', 'b', 'c']);
    expect(inv.hosts.get('a')!.groups).toEqual(['all', 'infra', 'etcd']);
    expect(inv.hosts.get('a')!.location).toEqual({ file: FILE, line: 5, col: 9 });
    expect(inv.hosts.get('c')!.connection.address).toBe('c');
  });

  it('applies precedence: all < parent < child < host vars < host keys; same depth alphabetical', () => {
    const inv = loadInventory(path.join(FIX, 'inventory/precedence.yaml'), OPTS);
    const h1 = inv.hosts.get('h1')!;
    expect(h1.groups).toEqual(['all', 'alpha', 'beta', 'parent', 'child']);
    expect(h1.vars).toMatchObject({ color: 'hostvar', level: 'parent', shade: 'beta', user: 'parentuser', port: 2202, address: '10.0.0.1' });
    expect(h1.connection).toMatchObject({ user: 'parentuser', port: 2202 });
    const h2 = inv.hosts.get('h2')!;
    expect(h2.groups).toEqual(['all', 'alpha']);
    expect(h2.vars).toEqual({ user: 'alluser', port: 2200, color: 'all', level: 'alpha', shade: 'alpha', address: '10.0.0.2' });
    expect(h2.connection.port).toBe(2200);
  });

  it('fills defaults', () => {
    const inv = parse('all:\n  hosts:\n    n1:\n');
    expect(inv.hosts.get('n1')!.connection).toEqual({
      name: 'n1',
      address: 'n1',
      port: 22,
      user: 'alice',
      keyFiles: [path.join(HOME, '.ssh/id_rsa'), path.join(HOME, '.ssh/id_ecdsa')],
      become: false,
      becomeUser: 'root',
      knownHostsFiles: [path.join(HOME, '.ssh/known_hosts')],
      hostKeyPolicy: 'strict',
      connectTimeoutMs: 10_000,
      commandTimeoutMs: 300_000,
      keepaliveIntervalMs: 5_000,
    });
    expect(inv.hosts.get('n1')!.vars).toEqual({});
  });

  it('reads every connection key', () => {
    const inv = parse(`all:
  vars:
    become: true
    become_user: postgres
    become_password: s3cret
    password: pw
    host_key_checking: accept-new
    connect_timeout: 2.5
    command_timeout: 60
    keepalive_interval: 0
    proxy_jump: "jump@[fd00::1]:2200"
  hosts:
    n1: { address: "fd00::2", port: 2022, user: admin, key_file: /k }
`);
    expect(inv.hosts.get('n1')!.connection).toMatchObject({
      address: 'fd00::2',
      port: 2022,
      user: 'admin',
      keyFiles: ['/k'],
      password: 'pw',
      become: true,
      becomeUser: 'postgres',
      becomePassword: 's3cret',
      hostKeyPolicy: 'accept-new',
      connectTimeoutMs: 2500,
      commandTimeoutMs: 60_000,
      keepaliveIntervalMs: 0,
      proxyJump: { address: 'fd00::1', port: 2200, user: 'jump' },
    });
  });

  it('resolves paths against the inventory directory and ~', () => {
    const file = path.join(FIX, 'inventory/paths.yaml');
    const dir = path.dirname(file);
    const inv = loadInventory(file, OPTS);
    const n1 = inv.hosts.get('n1')!.connection;
    expect(n1.keyFiles).toEqual([path.join(HOME, 'a'), '/abs/b']);
    expect(n1.knownHostsFiles).toEqual([path.join(HOME, 'kh'), '/etc/ssh/ssh_known_hosts', path.join(dir, 'kh2')]);
    expect(inv.hosts.get('n2')!.connection.keyFiles).toEqual([path.join(dir, 'keys/id_test')]);
    expect(inv.cluster!.tls).toEqual({ dir: path.join(dir, 'certs') });
    const t = parseInventory(THREE + 'cluster:\n  name: c1\n  members: etcd\n  tls: true\n', '/some/dir/inv.yaml', OPTS);
    expect(t.cluster!.tls).toEqual({ dir: '/some/dir/.tls-c1' });
    expect(parse(THREE + 'cluster:\n  members: etcd\n  tls: false\n').cluster!.tls).toBeUndefined();
  });

  it('merges ~/.ssh/config: inventory > ssh config > defaults', () => {
    const inv = loadInventory(path.join(FIX, 'inventory/ssh.yaml'), { ...OPTS, sshConfigFile: path.join(FIX, 'ssh_config') });
    const c = (h: string) => inv.hosts.get(h)!.connection;
    expect(c('etcd0')).toMatchObject({ address: '10.1.0.10', user: 'sshuser', port: 2022, keyFiles: [path.join(HOME, '.ssh/special_key')] });
    expect(c('etcd1')).toMatchObject({ address: '10.1.0.10', user: 'invuser', port: 2222 });
    expect(c('jumped')).toMatchObject({ address: '10.0.0.2', user: 'ipuser', port: 22, proxyJump: { address: '10.9.9.9', port: 2222, user: 'jumper' } });
    expect(c('plain')).toMatchObject({ address: '10.0.0.3', user: 'fallback' });
    expect(c('plain').proxyJump).toBeUndefined();
    expect(c('viainv').proxyJump).toEqual({ address: '10.9.9.9', port: 22, user: 'bastionuser' });
  });

  it('applies cluster defaults and warns about even/single/ignored settings', () => {
    const inv = parse(THREE + 'cluster:\n  members: etcd\n');
    expect(inv.cluster).toEqual({
      name: 'etcd',
      members: ['etcd0', 'etcd1', 'etcd2'],
      bootstrap: 'static',
      token: 'etcd-token',
      dataDir: '/var/lib/etcd',
      clientPort: 2379,
      peerPort: 2380,
      listen: 'address',
      package: { name: 'etcd' },
    });
    const two = parse(THREE + 'cluster:\n  members: [etcd1, etcd0]\n  dns: { domain: x.internal, server: etcd2 }\n');
    expect(two.cluster!.members).toEqual(['etcd0', 'etcd1']);
    expect(two.warnings).toEqual(['cluster.dns is ignored with bootstrap: static', 'cluster has 2 members: an even count tolerates no more failures than 1']);
    expect(parse(THREE + 'cluster:\n  members: [etcd0]\n').warnings).toEqual(['cluster has a single member: it tolerates no failure']);
  });

  it('reads dns, discovery, package version and listen', () => {
    const dns = parse(
      THREE +
        'cluster:\n  members: etcd\n  bootstrap: dns\n  listen: any\n  package: { name: etcd, version: 3.10 }\n  dns: { domain: etcd.internal., server: etcd0, srv_name: etcd-x }\n',
    );
    expect(dns.cluster).toMatchObject({
      bootstrap: 'dns',
      listen: 'any',
      package: { name: 'etcd', version: '3.10' },
      dns: { domain: 'etcd.internal', server: 'etcd0', srvName: 'etcd-x' },
    });
    const disc = parse(THREE + 'cluster:\n  members: etcd\n  bootstrap: discovery\n  discovery: { endpoint: "http://10.0.0.9:2379" }\n');
    expect(disc.cluster!.discovery).toEqual({ endpoint: 'http://10.0.0.9:2379' });
  });
});

describe('selectHosts', () => {
  const inv = parse(`all:
  children:
    etcd:
      hosts:
        etcd0: { address: 10.0.0.1 }
        etcd1: { address: 10.0.0.2 }
        etcd2: { address: 10.0.0.3 }
    infra:
      hosts:
        dns0: { address: 10.0.0.9 }
        etcd2: {}
`);
  const ok: [string, string[]][] = [
    ['all', ['etcd0', 'etcd1', 'etcd2', 'dns0']],
    ['*', ['etcd0', 'etcd1', 'etcd2', 'dns0']],
    ['etcd', ['etcd0', 'etcd1', 'etcd2']],
    ['etcd0', ['etcd0']],
    ['dns0,etcd0', ['etcd0', 'dns0']],
    ['etcd:infra', ['etcd0', 'etcd1', 'etcd2', 'dns0']],
    ['etcd:!etcd1', ['etcd0', 'etcd2']],
    ['etcd,!infra', ['etcd0', 'etcd1']],
    ['etcd:&infra', ['etcd2']],
    ['!infra', ['etcd0', 'etcd1']],
    ['&infra', ['etcd2', 'dns0']],
    ['etcd*', ['etcd0', 'etcd1', 'etcd2']],
    ['e*1', ['etcd1']],
    ['etcd?', ['etcd0', 'etcd1', 'etcd2']],
    [' etcd0 , etcd1 ', ['etcd0', 'etcd1']],
    ['etcd:!etcd', []],
  ];
  it.each(ok)('%s', (pattern, hosts) => expect(selectHosts(inv, pattern)).toEqual(hosts));

  const bad: [string, RegExp][] = [
    ['nope', /^unknown host or group "nope" in host pattern "nope"$/],
    ['etcd:!nope', /unknown host or group "nope"/],
    ['x*', /"x\*" matches no host or group/],
    ['', /invalid host pattern/],
    ['etcd,,etcd0', /invalid host pattern/],
    ['!', /invalid host pattern/],
  ];
  it.each(bad)('rejects %j', (pattern, message) => {
    try {
      selectHosts(inv, pattern);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ProvisionError);
      expect((e as ProvisionError).code).toBe('USAGE');
      expect((e as ProvisionError).message).toMatch(message);
    }
  });
});

describe('inventory parser robustness (property)', () => {
  const onlyProvisionErrors = (text: string) => {
    try {
      parse(text);
    } catch (e) {
      if (!isProvisionError(e)) throw e;
      expect(e.location?.line ?? 1).toBeGreaterThanOrEqual(1);
    }
  };

  it('never throws anything but ProvisionError on random text', () => {
    const frag = fc.constantFrom(
      'all:',
      'cluster:',
      'hosts:',
      'children:',
      'vars:',
      'members:',
      'bootstrap:',
      'dns:',
      'tls:',
      'port:',
      'address:',
      'key_file:',
      'proxy_jump:',
      'user:',
      '\n',
      '\n  ',
      '\n    ',
      '  ',
      '- ',
      ': ',
      '{',
      '}',
      '[',
      ']',
      ',',
      'etcd0',
      'etcd',
      '10.0.0.1',
      '&a ',
      '*a',
      '!!binary ',
      '!!str ',
      '"',
      "'",
      '#',
      'null',
      '~',
      '22',
      'true',
      'yes',
      '__proto__',
      '<<',
      '%',
      '\t',
      '---',
      '|',
      '>',
      '? ',
      '\\',
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.array(frag, { maxLength: 40 }).map((a) => a.join('')),
        ),
        onlyProvisionErrors,
      ),
      { numRuns: 1500 },
    );
  });

  it('never throws anything but ProvisionError on random structured documents', () => {
    const key = fc.constantFrom(
      'all',
      'cluster',
      'hosts',
      'children',
      'vars',
      'members',
      'bootstrap',
      'dns',
      'discovery',
      'tls',
      'port',
      'address',
      'user',
      'key_file',
      'known_hosts',
      'proxy_jump',
      'become',
      'name',
      'token',
      'data_dir',
      'package',
      'version',
      'server',
      'domain',
      'url',
      'endpoint',
      'dir',
      'listen',
      'etcd',
      'etcd0',
      'etcd1',
      'g',
      '__proto__',
      'constructor',
      'x y',
    );
    const leaf = fc.oneof(fc.constantFrom('etcd', 'etcd0', '10.0.0.1', 'static', 'dns', '/var/lib/etcd', 'all', null, true, 2379), fc.integer(), fc.string());
    const { tree } = fc.letrec((tie) => ({
      tree: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('map'), tie('list')),
      map: fc.dictionary(key, tie('tree'), { maxKeys: 5 }),
      list: fc.array(tie('tree'), { maxLength: 4 }),
    }));
    const doc = fc.record({ all: tree, cluster: fc.option(tree) });
    fc.assert(
      fc.property(doc, (d) => onlyProvisionErrors(stringify(d))),
      { numRuns: 1500 },
    );
  });
});
