/**
 * At home for Ansible users, on the lab's real nodes: an Ansible YAML inventory and an INI
 * inventory (with group_vars/ and host_vars/) converge the same cluster as the lab's own
 * inventory (each run after the first changes nothing); `exec` runs a command on the hosts at
 * once; `status` reads the cluster as it is (healthy, with a member down, and with TLS) and
 * changes nothing; -e wins over the inventory; a secret rendered into a command is used on the
 * node and shown nowhere.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAB_VARIANTS, variantFile } from '../../src/lab/inventory.js';
import { provision, provisionJson, totalChanged } from '../helpers/cli.js';
import { ensureLab, etcdNodes, lab, ssh } from '../helpers/lab.js';
import { snapshotDiff, snapshotNode } from '../helpers/snapshot.js';

const DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'provision-ansible-e2e-'));
afterAll(() => fs.rmSync(DIR, { recursive: true, force: true }));
const members = () => etcdNodes();
const infra = () => lab.topology(3).find((n) => n.role === 'infra')!;
const labDir = () => path.dirname(lab.labFiles.inventory);

const write = (rel: string, text: string) => {
  const f = path.join(DIR, rel);
  fs.mkdirSync(path.dirname(f), { recursive: true });
  fs.writeFileSync(f, text, { mode: 0o600 });
  return f;
};

/** The lab's cluster, as the lab's own inventory describes it (same name, token and settings). */
const CLUSTER = `cluster:
  name: lab
  members: etcd
  bootstrap: static
  token: lab-etcd-cluster
  data_dir: /var/lib/etcd
  client_port: 2379
  peer_port: 2380
  listen: address
  package: { name: etcd }
`;

/** The lab as an Ansible user writes it in YAML: ansible_* keys, ssh args, a vars file. */
function ansibleYaml(): string {
  const hosts = members()
    .map((n) => `        ${n.name}:\n          ansible_host: ${n.address}\n`)
    .join('');
  return write(
    'yaml/hosts.yaml',
    `all:
  vars:
    ansible_user: root
    ansible_connection: ssh
    ansible_ssh_private_key_file: ${lab.labFiles.privateKey}
    ansible_ssh_common_args: "-o UserKnownHostsFile=${lab.labFiles.knownHosts} -o StrictHostKeyChecking=yes"
    ansible_python_interpreter: /usr/bin/python3
  children:
    etcd:
      hosts:
${hosts}    infrastructure:
      hosts:
        infra:
          ansible_host: ${infra().address}
${CLUSTER}`,
  );
}

/** The lab in Ansible's INI form, with host_vars/ for the addresses and the cluster in group_vars/all. */
function ansibleIni(): string {
  for (const n of members()) write(`ini/host_vars/${n.name}.yml`, `ansible_host: ${n.address}\n`);
  write('ini/group_vars/all.yml', CLUSTER);
  write('ini/group_vars/etcd/connection.yml', `ansible_ssh_private_key_file: ${lab.labFiles.privateKey}\n`);
  return write(
    'ini/hosts.ini',
    `# the lab, INI form
[etcd]
etcd[0:${members().length - 1}]

[infrastructure]
infra ansible_host=${infra().address} ansible_ssh_private_key_file=${lab.labFiles.privateKey}

[all:vars]
ansible_user=root
ansible_ssh_common_args='-o UserKnownHostsFile=${lab.labFiles.knownHosts} -o StrictHostKeyChecking=yes'
`,
  );
}

interface StatusJson {
  cluster: string;
  healthy: boolean;
  tls: boolean;
  problems: string[];
  listed?: string[];
  members: {
    name: string;
    reachable: boolean;
    healthy: boolean;
    version?: string;
    leader?: string;
    isLeader?: boolean;
    raftTerm?: number;
    raftIndex?: number;
    dbSize?: number;
    dbSizeInUse?: number;
    alarms: string[];
    unit?: { active: string; sub: string };
    certs: { role: string; daysLeft?: number }[];
  }[];
}

async function status(inv: string): Promise<{ code: number; json: StatusJson; stderr: string }> {
  const r = await provision([inv, 'status', '--json']);
  let json: StatusJson;
  try {
    json = JSON.parse(r.stdout) as StatusJson;
  } catch {
    throw new Error(`status gave no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
  return { code: r.code, json, stderr: r.stderr };
}

describe('Ansible users on the lab', () => {
  let yamlInv: string;
  let iniInv: string;
  beforeAll(async () => {
    await ensureLab();
    await Promise.all(members().map((n) => lab.resetNode(n.name)));
    yamlInv = ansibleYaml();
    iniInv = ansibleIni();
  });

  describe('their inventories converge the same cluster as inventories/lab.yaml', () => {
    it('the Ansible YAML inventory converges bare nodes to a healthy cluster', async () => {
      const run = await provisionJson([yamlInv]);
      expect(run.code, run.stdout + run.stderr).toBe(0);
      expect(totalChanged(run.json)).toBeGreaterThan(0);
      expect(run.json.warnings.join('\n')).toMatch(/ansible_python_interpreter is ignored/);
    });

    it("the lab's own inventory then changes nothing: the same cluster", async () => {
      const run = await provisionJson([lab.labFiles.inventory]);
      expect(run.code, run.stdout + run.stderr).toBe(0);
      expect(totalChanged(run.json)).toBe(0);
    });

    it('the INI inventory changes nothing either', async () => {
      const run = await provisionJson([iniInv]);
      expect(run.code, run.stdout + run.stderr).toBe(0);
      expect(totalChanged(run.json)).toBe(0);
      expect(Object.keys(run.json.recap).sort()).toEqual(
        members()
          .map((n) => n.name)
          .sort(),
      );
    });
  });

  describe('status', () => {
    it('a healthy cluster: every member, one leader, exit 0, and nothing changed on the nodes', async () => {
      const before = await Promise.all(members().map((n) => snapshotNode(n.address)));
      const { code, json } = await status(iniInv);
      expect(json.problems, JSON.stringify(json, null, 1)).toEqual([]);
      expect(code).toBe(0);
      expect(json.healthy).toBe(true);
      expect(json.listed!.sort()).toEqual(
        members()
          .map((n) => n.name)
          .sort(),
      );
      expect(json.members.map((m) => m.name)).toEqual(members().map((n) => n.name));
      const leaders = new Set(json.members.map((m) => m.leader));
      expect(leaders.size).toBe(1);
      expect(json.members.filter((m) => m.isLeader).map((m) => m.name)).toEqual([...leaders]);
      for (const m of json.members) {
        expect(m).toMatchObject({ reachable: true, healthy: true, version: '3.4.23', alarms: [], unit: { active: 'active', sub: 'running' } });
        expect(m.raftTerm).toBeGreaterThan(0);
        expect(m.raftIndex).toBeGreaterThan(0);
        expect(m.dbSize).toBeGreaterThan(0);
        expect(m.dbSizeInUse).toBeGreaterThan(0);
        expect(m.dbSizeInUse).toBeLessThanOrEqual(m.dbSize!);
      }
      // The raft index agrees with what etcdctl on a node says.
      const node = members()[0]!;
      const r = await ssh(node.address, `ETCDCTL_API=3 etcdctl --endpoints=http://${node.address}:2379 endpoint status -w json`);
      const term = (JSON.parse(r.stdout) as { Status: { raftTerm: number } }[])[0]!.Status.raftTerm;
      expect(json.members[0]!.raftTerm).toBe(term);
      const after = await Promise.all(members().map((n) => snapshotNode(n.address)));
      // etcd itself writes its WAL and database as it runs; everything else stays as it was.
      members().forEach((_, i) => expect(snapshotDiff(before[i]!, after[i]!).filter((l) => !l.includes('/var/lib/etcd/'))).toEqual([]));
      // The terminal form says the same.
      const t = await provision([yamlInv, 'status']);
      expect(t.code).toBe(0);
      expect(t.stdout).toMatch(
        /^cluster lab \(static, 3 members\): healthy\nMEMBER +ADDRESS +UNIT +VERSION +LEADER +TERM +INDEX +DB SIZE +IN USE +ALARMS +HEALTH +CERT DAYS\n/,
      );
    });

    it('a member down: not healthy (exit 3), the member and why; the others still healthy', async () => {
      const down = members()[2]!;
      const stop = await provision([yamlInv, 'exec', '--limit', down.name, '--', 'systemctl stop etcd']);
      expect(stop.code, stop.stdout).toBe(0);
      try {
        const { code, json } = await status(yamlInv);
        expect(code).toBe(3);
        expect(json.healthy).toBe(false);
        const m = json.members.find((x) => x.name === down.name)!;
        expect(m).toMatchObject({ reachable: true, healthy: false, unit: { active: 'inactive' } });
        expect(json.problems).toContain(`${down.name}: unit etcd.service is inactive (dead)`);
        for (const other of json.members.filter((x) => x.name !== down.name)) expect(other.healthy).toBe(true);
        const t = await provision([yamlInv, 'status']);
        expect(t.code).toBe(3);
        expect(t.stdout).toMatch(/NOT HEALTHY/);
        expect(t.stdout).toMatch(new RegExp(`problems:\\n {2}- ${down.name}: unit etcd.service is inactive`));
      } finally {
        await provision([yamlInv, 'exec', '--limit', down.name, '--', 'systemctl start etcd']);
      }
    });

    it("a member's host unreachable: exit 4, and it says which", async () => {
      const cut = members()[1]!;
      const inv = write(
        'unreach.yaml',
        fs.readFileSync(yamlInv, 'utf8').replace('    ansible_user: root\n', '    ansible_user: root\n    connect_timeout: 3\n'),
      );
      await lab.cutNetwork(cut.name);
      try {
        const { code, json } = await status(inv);
        expect(code).toBe(4);
        expect(json.members.find((m) => m.name === cut.name)!.reachable).toBe(false);
        expect(json.problems.some((p) => p.startsWith(`${cut.name}: unreachable`))).toBe(true);
      } finally {
        await lab.restoreNetwork(cut.name);
      }
    });
  });

  describe('exec', () => {
    it("runs on every host at once, each host's output and exit status", async () => {
      const r = await provision([iniInv, 'exec', '--', 'echo "$(hostname) says $((6*7))"']);
      expect(r.code, r.stderr).toBe(0);
      for (const n of [...members(), infra()]) expect(r.stdout).toContain(`${n.name} | SUCCESS | rc=0 >>\n${n.name} says 42\n`);
      expect(r.stdout).toMatch(/4 hosts: ok=4 failed=0 unreachable=0/);
    });

    it('several words are one command, each quoted; a failure on one host is exit 3 with its output', async () => {
      const r = await provisionExec([yamlInv, 'exec', '--limit', 'etcd', '--', 'sh', '-c', 'echo "out $0"; echo err >&2; [ "$(hostname)" != etcd1 ]']);
      expect(r.code).toBe(3);
      const h = r.json.hosts;
      expect(h.etcd1).toMatchObject({ exitCode: 1, stdout: 'out sh\n', stderr: 'err\n' });
      expect(h.etcd0).toMatchObject({ exitCode: 0, stdout: 'out sh\n' });
      expect(Object.keys(h).sort()).toEqual(['etcd0', 'etcd1', 'etcd2']);
    });

    it('--become as a user with sudo; -e ansible_user wins over the inventory', async () => {
      const r = await provision([yamlInv, 'exec', '--limit', 'etcd0', '-e', `ansible_user=${lab.LAB.adminUser}`, '--', 'id -un']);
      expect(r.stdout).toContain(`etcd0 | SUCCESS | rc=0 >>\n${lab.LAB.adminUser}\n`);
      const b = await provision([yamlInv, 'exec', '--limit', 'etcd0', '--become', '-e', `ansible_user=${lab.LAB.adminUser}`, '--', 'id -un']);
      expect(b.stdout).toContain('etcd0 | SUCCESS | rc=0 >>\nroot\n');
    });

    it('an unreachable host is exit 4; the others still run', async () => {
      const inv = write(
        'exec-unreach.yaml',
        fs
          .readFileSync(yamlInv, 'utf8')
          .replace(
            '    infrastructure:\n',
            `    ghosts:\n      hosts:\n        ghost: { ansible_host: ${infra().address.replace(/\.\d+$/, '.99')}, connect_timeout: 3 }\n    infrastructure:\n`,
          ),
      );
      const r = await provision([inv, 'exec', '--', 'true']);
      expect(r.code).toBe(4);
      expect(r.stdout).toMatch(/ghost \| UNREACHABLE! => /);
      expect(r.stdout).toMatch(/etcd0 \| SUCCESS \| rc=0/);
    });
  });

  describe('variables and secrets', () => {
    it('-e wins over the inventory in templates', async () => {
      const inv = write(
        'vars/hosts.yaml',
        fs.readFileSync(yamlInv, 'utf8').replace('    ansible_user: root\n', '    ansible_user: root\n    marker: from-inventory\n'),
      );
      const pb = write('vars/play.yaml', '- hosts: etcd0\n  tasks:\n    - command: { cmd: "echo {{ marker }} > /tmp/provision-marker" }\n');
      const r = await provision([inv, '--playbook', pb, '-e', 'marker=from-cli']);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect((await ssh(members()[0]!.address, 'cat /tmp/provision-marker')).stdout).toBe('from-cli\n');
    });

    it('a password rendered into a command is used on the node and shown in no output (-vvv, --json)', async () => {
      const secret = `SENTINEL-${Date.now()}`;
      const inv = write(
        'secret/hosts.yaml',
        fs.readFileSync(yamlInv, 'utf8').replace('    ansible_user: root\n', `    ansible_user: root\n    ansible_become_password: "${secret}"\n`),
      );
      const pb = write('secret/play.yaml', '- hosts: etcd0\n  tasks:\n    - command: { cmd: "echo {{ ansible_become_password }} > /tmp/provision-secret" }\n');
      const r = await provision([inv, '--playbook', pb, '-vvv']);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout + r.stderr).not.toContain(secret);
      expect(r.stdout).toContain('<hidden>');
      const j = await provision([inv, '--playbook', pb, '--json']);
      expect(j.stdout + j.stderr).not.toContain(secret);
      expect((await ssh(members()[0]!.address, 'cat /tmp/provision-secret; rm -f /tmp/provision-secret /tmp/provision-marker')).stdout).toBe(`${secret}\n`);
      const e = await provision([inv, 'exec', '--limit', 'etcd0', '--', `echo ${secret}`]);
      expect(e.stdout).toContain('etcd0 | SUCCESS | rc=0 >>\n<hidden>\n');
      expect(e.stdout + e.stderr).not.toContain(secret);
    });
  });

  describe('status of a TLS cluster', () => {
    const tlsInv = () => path.join(labDir(), variantFile('tls', 'inventory'));
    beforeAll(async () => {
      await Promise.all(members().map((n) => lab.resetNode(n.name)));
      fs.rmSync(path.join(labDir(), `tls-lab-tls`), { recursive: true, force: true });
      const r = await provision([tlsInv()]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
    });

    it('healthy over https, with the days left on each certificate', async () => {
      expect(LAB_VARIANTS.tls.tls).toBe(true);
      const { code, json } = await status(tlsInv());
      expect(json.problems).toEqual([]);
      expect(code).toBe(0);
      expect(json.tls).toBe(true);
      const ca = new (await import('node:crypto')).X509Certificate(fs.readFileSync(path.join(labDir(), 'tls-lab-tls', 'ca.crt')));
      const caDays = Math.floor((Date.parse(ca.validTo) - Date.now()) / 86_400_000);
      for (const m of json.members) {
        expect(m.healthy).toBe(true);
        expect(m.certs.map((c) => c.role)).toEqual(['ca', 'member', 'client']);
        expect(m.certs[0]!.daysLeft).toBe(caDays);
        for (const c of m.certs) expect(c.daysLeft).toBeGreaterThan(30);
      }
      const t = await provision([tlsInv(), 'status']);
      expect(t.stdout).toMatch(/^cluster lab-tls \(static, TLS, 3 members\): healthy/);
    });
  });
});

async function provisionExec(args: string[]) {
  const r = await provision([...args.slice(0, args.indexOf('--')), '--json', ...args.slice(args.indexOf('--'))]);
  return { ...r, json: JSON.parse(r.stdout) as { hosts: Record<string, { exitCode?: number; stdout?: string; stderr?: string }> } };
}
