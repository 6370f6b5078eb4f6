/**
 * Real machines differ from the bare lab (issue 10): a member whose login sets a non-English
 * locale (Chinese-language CentOS installs), and members running firewalld (CentOS's default).
 * Each part first shows the difference really is there on the lab node, then converges bare
 * nodes and re-runs quietly.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { changedSet, provisionJson, totalChanged, type JsonRun } from '../helpers/cli.js';
import { ensureLab, etcdNodes, lab, ssh } from '../helpers/lab.js';

const members = () => etcdNodes();
const ZH = 'zh_CN.UTF-8';

/** The lab inventory with edits (host lines and cluster keys), in a temp dir next to nothing else. */
function inventoryWith(dir: string, edit: (yaml: string) => string): string {
  const src = fs.readFileSync(lab.labFiles.inventory, 'utf8');
  // Paths in the lab inventory are relative to it.
  const abs = src.replace(
    /^(\s+(?:key_file|known_hosts): )(\S+)$/gm,
    (_m, k: string, v: string) => `${k}${path.resolve(path.dirname(lab.labFiles.inventory), v)}`,
  );
  const file = path.join(dir, 'inventory.yaml');
  fs.writeFileSync(file, edit(abs));
  return file;
}

async function healthyMembers(clientPort: number): Promise<number> {
  const endpoints = members()
    .map((n) => `http://${n.address}:${clientPort}`)
    .join(',');
  const r = await ssh(members()[0]!.address, `ETCDCTL_API=3 etcdctl --endpoints=${endpoints} endpoint health 2>&1`);
  return r.stdout.match(/is healthy/g)?.length ?? 0;
}

/** Converge with --check first, then for real (same changes), then a quiet re-run. */
async function convergeTwice(inv: string): Promise<{ check: JsonRun; run: JsonRun }> {
  const check = await provisionJson([inv, '--check']);
  expect(check.code, check.stdout + check.stderr).toBe(0);
  const run = await provisionJson([inv]);
  expect(run.code, run.stdout + run.stderr).toBe(0);
  expect(changedSet(run.json)).toEqual(changedSet(check.json));
  const again = await provisionJson([inv]);
  expect(again.code, again.stdout + again.stderr).toBe(0);
  expect(totalChanged(again.json)).toBe(0);
  return { check: check.json, run: run.json };
}

describe.runIf(lab.LAB.engine === 'nspawn')('a member whose login sets LANG=zh_CN.UTF-8', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'provision-locale-'));
  const zh = () => members()[1]!;

  beforeAll(async () => {
    await ensureLab();
    for (const n of members()) await lab.resetNode(n.name, n.name === zh().name ? { locale: ZH } : {});
  });
  afterAll(async () => {
    await lab.resetNode(zh().name);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('really prints Chinese over SSH, as root and through sudo (what misled provision)', async () => {
    const a = zh().address;
    // stat's file types: provision read "regular file" here and found "a other, not a regular file".
    expect((await ssh(a, 'echo $LANG; stat -c %F /etc/hostname /etc')).stdout).toBe(`${ZH}\n普通文件\n目录\n`);
    expect((await ssh(a, 'sudo stat -c %F /etc/hostname', lab.LAB.adminUser)).stdout).toBe('普通文件\n');
    const rpm = await ssh(a, 'rpm -q no-such-package');
    expect(rpm.code).toBe(1);
    expect(rpm.stdout).not.toContain('is not installed');
    expect(rpm.stdout).toContain('no-such-package');
    // The other members speak English.
    expect((await ssh(members()[0]!.address, 'stat -c %F /etc/hostname')).stdout).toBe('regular file\n');
  });

  it('converges (that member logged in as the admin user, through sudo), and a re-run changes nothing', async () => {
    const inv = inventoryWith(dir, (y) =>
      y.replace(`${zh().name}: { address: ${zh().address} }`, `${zh().name}: { address: ${zh().address}, user: ${lab.LAB.adminUser}, become: true }`),
    );
    expect(fs.readFileSync(inv, 'utf8')).toContain(`user: ${lab.LAB.adminUser}, become: true`);
    await convergeTwice(inv);
    expect(await healthyMembers(2379)).toBe(3);
  });
});

describe.runIf(lab.LAB.engine === 'nspawn')('members running firewalld', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'provision-firewalld-'));
  // Not the lab's 2379/2380: the operation opens the inventory's ports.
  const CLIENT = 12379;
  const PEER = 12380;
  /** From one node, a TCP connection to a port another node listens on (a listener is started there for the test). */
  const reaches = async (from: string, to: string, port: number) => {
    await ssh(
      to,
      `nohup timeout 30 python3 -c 'import socket; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", ${port})); s.listen(); s.accept()' >/dev/null 2>&1 &`,
    );
    await new Promise((r) => setTimeout(r, 1500));
    return (await ssh(from, `timeout 5 bash -c 'exec 3<>/dev/tcp/${to}/${port}' && echo reached`)).stdout.includes('reached');
  };

  beforeAll(async () => {
    await ensureLab();
    for (const n of members()) await lab.resetNode(n.name, { firewalld: true });
  });
  afterAll(async () => {
    for (const n of members()) await lab.resetNode(n.name);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('firewalld runs on every member and its default zone blocks the peer port between members (what users saw)', async () => {
    for (const n of members()) expect((await ssh(n.address, 'firewall-cmd --state')).stdout.trim()).toBe('running');
    const [a, b] = [members()[0]!.address, members()[1]!.address];
    expect(await reaches(a, b, 22)).toBe(true);
    expect(await reaches(a, b, PEER)).toBe(false);
  });

  it("converges with the inventory's ports opened (runtime and permanent), shown in the plan; a re-run changes nothing", async () => {
    const inv = inventoryWith(dir, (y) => y.replace('client_port: 2379', `client_port: ${CLIENT}`).replace('peer_port: 2380', `peer_port: ${PEER}`));
    const { check } = await convergeTwice(inv);
    const planned = check.tasks.filter((t) => t.task === "Open the cluster's client and peer ports in firewalld" && t.status === 'changed');
    expect(planned.map((t) => t.host).sort()).toEqual(members().map((n) => n.name));
    expect(JSON.stringify(planned[0])).toContain(`open ${CLIENT}/tcp, ${PEER}/tcp in firewalld zone public (runtime)`);
    expect(JSON.stringify(planned[0])).toContain(`open ${CLIENT}/tcp, ${PEER}/tcp in firewalld zone public (permanent)`);
    for (const n of members()) {
      for (const flag of ['', '--permanent ']) {
        const ports = (await ssh(n.address, `firewall-cmd ${flag}--list-ports`)).stdout.trim().split(/\s+/);
        expect(ports, `${n.name} ${flag}`).toEqual(expect.arrayContaining([`${CLIENT}/tcp`, `${PEER}/tcp`]));
        expect(ports).not.toContain('2380/tcp');
      }
    }
    expect(await healthyMembers(CLIENT)).toBe(3);
  });
});
