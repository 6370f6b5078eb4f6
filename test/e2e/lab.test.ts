/**
 * The local lab on real nodes: reachable with strict host keys, yum and systemd work,
 * isolated, controllable, and `down` leaves nothing behind. On both lab engines.
 */
import fs from 'node:fs';
import net from 'node:net';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAB } from '../../src/lab/topology.js';
import { ensureLab, lab, ssh } from '../helpers/lab.js';

const tcpOpen = (host: string, port: number, timeoutMs = 1500) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect({ host, port, timeout: timeoutMs });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
    s.once('timeout', () => (s.destroy(), resolve(false)));
  });

describe(`lab (${LAB.engine})`, () => {
  let info: Awaited<ReturnType<typeof ensureLab>>;
  beforeAll(async () => {
    info = await ensureLab();
  });
  afterAll(async () => {
    // Later files expect a lab; leave a running one behind.
    await ensureLab();
  });

  it('has the default topology: three etcd nodes and an infra node, all running', () => {
    expect(info.nodes.map((n) => n.name)).toEqual(['infra', 'etcd0', 'etcd1', 'etcd2']);
    expect(new Set(info.nodes.map((n) => n.address)).size).toBe(4);
    expect(info.nodes.every((n) => n.running)).toBe(true);
  });

  it('every node answers ssh with the generated key under strict host key checking', async () => {
    for (const n of info.nodes) {
      const r = await ssh(n.address, 'hostname; id -un');
      expect(r.stderr).not.toMatch(/warning|added/i);
      expect(r.stdout.split('\n').slice(0, 2)).toEqual([n.name, 'root']);
    }
  });

  it('each node has its own host key', () => {
    const kh = fs.readFileSync(info.knownHosts, 'utf8').trim().split('\n');
    const ed = kh.filter((l) => l.includes('ssh-ed25519')).map((l) => l.split(' ')[2]);
    expect(ed).toHaveLength(4);
    expect(new Set(ed).size).toBe(4);
  });

  it('a wrong known_hosts entry is refused by ssh (the generated one is what makes it work)', async () => {
    const bad = `${info.knownHosts}.wrong`;
    const lines = fs.readFileSync(info.knownHosts, 'utf8').split('\n');
    // Give etcd0 the key of etcd1.
    const e1 = lines.find((l) => l.startsWith(`${info.nodes[2]!.address},`) && l.includes('ssh-ed25519'))!;
    fs.writeFileSync(bad, `${info.nodes[1]!.address} ${e1.split(' ').slice(1).join(' ')}\n`);
    try {
      const out = execFileSync('sh', [
        '-c',
        `ssh -i ${info.privateKey} -o StrictHostKeyChecking=yes -o HostKeyAlgorithms=ssh-ed25519 -o UserKnownHostsFile=${bad} -o BatchMode=yes root@${info.nodes[1]!.address} true 2>&1; echo "rc=$?"`,
      ]).toString();
      expect(out).toMatch(/REMOTE HOST IDENTIFICATION HAS CHANGED/);
      expect(out).toMatch(/rc=255/);
    } finally {
      fs.rmSync(bad);
    }
  });

  it('yum installs etcd with CentOS layout, and systemd runs units (the stock unit fails with 3.4)', async () => {
    const n = info.nodes[1]!;
    await lab.resetNode(n.name); // a bare node, whatever an earlier run made of it
    const r = await ssh(
      n.address,
      [
        'yum install -y etcd >/dev/null 2>&1; echo "yum=$?"',
        'rpm -q etcd',
        'stat -c "%U:%G %a" /var/lib/etcd',
        'rpm -qc etcd',
        'systemctl cat etcd | grep -c "bash -c"',
        'systemctl start etcd; echo "start=$?"',
        'systemctl is-system-running || true',
      ].join('; '),
    );
    expect(r.stdout).toMatch(/yum=0/);
    expect(r.stdout).toMatch(/^etcd-3\.4\.23-/m);
    expect(r.stdout).toMatch(/^etcd:etcd 700$/m);
    expect(r.stdout).toMatch(/^\/etc\/etcd\/etcd\.conf$/m);
    expect(r.stdout).toMatch(/start=1/);
    await lab.resetNode(n.name);
    const after = await ssh(n.address, 'rpm -q etcd; true');
    expect(after.stdout).toMatch(/not installed/);
  });

  it('dnsmasq and dig are available from the repository', async () => {
    const n = info.nodes[0]!;
    const r = await ssh(n.address, 'yum install -y dnsmasq >/dev/null 2>&1; rpm -q dnsmasq; grep ^conf-dir /etc/dnsmasq.conf; command -v dig');
    expect(r.stdout).toMatch(/^dnsmasq-/m);
    expect(r.stdout).toMatch(/^conf-dir=\/etc\/dnsmasq\.d/m);
    expect(r.stdout).toMatch(/dig/);
    await lab.resetNode(n.name);
  });

  it('a non-root user with passwordless sudo exists', async () => {
    const r = await ssh(info.nodes[2]!.address, 'id -un; sudo -n id -u', 'admin');
    expect(r.stdout).toBe('admin\n0\n');
  });

  it('nodes are isolated: no default route, own name in /etc/hosts, resolver inside the lab', async () => {
    const n = info.nodes[3]!;
    const r = await ssh(n.address, 'ip route; echo ---; cat /etc/hosts; echo ---; cat /etc/resolv.conf');
    const [routes, hosts, resolv] = r.stdout.split('---\n');
    expect(routes).not.toMatch(/default/);
    expect(hosts).toMatch(new RegExp(`^${n.address.replace(/\./g, '\\.')}\\s+${n.name}$`, 'm'));
    const servers = [...resolv!.matchAll(/^nameserver\s+(\S+)/gm)].map((m) => m[1]);
    expect(servers.length).toBeGreaterThan(0);
    for (const s of servers) expect(s!.startsWith(`${LAB.subnetPrefix}.`)).toBe(true);
  });

  it('a node can be stopped and started, and its network cut and restored', async () => {
    const n = info.nodes[3]!;
    await lab.stopNode(n.name);
    expect(lab.status().nodes.find((x) => x.name === n.name)!.running).toBe(false);
    expect(await tcpOpen(n.address, 22)).toBe(false);
    await lab.startNode(n.name);
    expect((await ssh(n.address, 'hostname')).stdout.trim()).toBe(n.name);
    await lab.cutNetwork(n.name);
    expect(await tcpOpen(n.address, 22)).toBe(false);
    await lab.restoreNetwork(n.name);
    expect(await tcpOpen(n.address, 22, 5000)).toBe(true);
  });

  it('up is idempotent and refuses another size while running', async () => {
    const again = await ensureLab();
    expect(again.nodes).toEqual(info.nodes);
    await expect(lab.up({ nodes: 5 })).rejects.toThrow(/already up/);
  });

  it('down removes every process, mount, namespace and link; up after down works', async () => {
    await lab.down();
    const links = execFileSync('ip', ['-o', 'link', 'show']).toString();
    // Only this lab's names: another lab instance (PROVISION_LAB_INSTANCE) may share the machine.
    const own = links.split('\n').map((l) => l.split(': ')[1]?.split('@')[0] ?? '');
    expect(own.filter((n) => n === LAB.bridge)).toEqual([]);
    if (LAB.engine === 'docker') {
      const label = `label=com.docker.compose.project=${LAB.project}`;
      // lab down stops a dockerd that lab up started (only once no container runs): then no
      // container can be left, and no container runtime process either.
      const daemonUp = (() => {
        try {
          execFileSync('docker', ['info'], { stdio: 'ignore' });
          return true;
        } catch {
          return false;
        }
      })();
      if (daemonUp) {
        expect(execFileSync('docker', ['ps', '-aq', '--filter', label]).toString().trim()).toBe('');
        expect(execFileSync('docker', ['network', 'ls', '-q', '--filter', label]).toString().trim()).toBe('');
      } else {
        const shims = fs
          .readdirSync('/proc')
          .filter((p) => /^\d+$/.test(p))
          .filter((p) => {
            try {
              return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('containerd-shim');
            } catch {
              return false;
            }
          });
        expect(shims).toEqual([]);
      }
    } else {
      expect(own.filter((n) => n.startsWith(LAB.vethPrefix))).toEqual([]);
      const ns = fs.existsSync('/run/netns') ? fs.readdirSync('/run/netns') : [];
      expect(ns.filter((x) => x.startsWith(LAB.netnsPrefix))).toEqual([]);
      expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(`${LAB.stateDir}/`);
      const nspawn = fs
        .readdirSync('/proc')
        .filter((p) => /^\d+$/.test(p))
        .filter((p) => {
          try {
            return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(`${LAB.stateDir}/nodes`);
          } catch {
            return false;
          }
        });
      expect(nspawn).toEqual([]);
    }
    expect(lab.status().up).toBe(false);
    await lab.down(); // twice is fine
    info = await ensureLab();
    expect((await ssh(info.nodes[1]!.address, 'hostname')).stdout.trim()).toBe('etcd0');
  });
});
