/**
 * The nspawn lab on a host where Debian's Docker engine is installed and running. Docker loads
 * br_netfilter (bridged traffic then passes the iptables FORWARD chain) and sets that chain's
 * policy to DROP: lab nodes still answered the host, but not each other, and a converge failed
 * after 90 s with "context deadline exceeded". `lab up` lets its own bridge's traffic through
 * (one rule, for its bridge only, removed at `lab down`). This file installs docker.io as the
 * lab installs its own packages, starts dockerd when none runs, and stops it by its pid.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { daemonAnswers, ensureDockerPackages, startDockerd, stopDockerd } from '../../src/lab/dockerd.js';
import { bridgeTrafficFiltered, forwardBlock, labBridgeRulePresent, removeLabBridgeRule } from '../../src/lab/forwarding.js';
import { changedSet, provisionJson, totalChanged } from '../helpers/cli.js';
import { ensureLab, etcdNodes, lab, ssh } from '../helpers/lab.js';

const members = () => etcdNodes();
const forwardRules = () => execFileSync('iptables', ['-w', '-S', 'FORWARD']).toString();
/** From one node, a TCP connection to another node's sshd (what etcd peers need: node to node). */
const reaches = async (from: string, to: string) =>
  (await ssh(from, `timeout 3 bash -c 'exec 3<>/dev/tcp/${to}/22' && echo reached`)).stdout.includes('reached');

describe.runIf(lab.LAB.engine === 'nspawn')('the nspawn lab on a host running Docker', () => {
  let startedDockerd: number | undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'provision-docker-host-'));

  beforeAll(async () => {
    await ensureDockerPackages((l) => console.log(l));
    if (!(await daemonAnswers())) startedDockerd = await startDockerd(path.join(dir, 'dockerd.log'));
    await ensureLab();
    for (const n of members()) await lab.resetNode(n.name);
  });
  afterAll(async () => {
    if (startedDockerd) await stopDockerd(startedDockerd);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('Docker filters bridged traffic; lab up lets its own bridge through, and only it', async () => {
    expect(await daemonAnswers()).toBe(true);
    expect(bridgeTrafficFiltered()).toBe(true);
    expect(await forwardBlock()).toMatch(/FORWARD policy is DROP/);
    const ours = forwardRules()
      .split('\n')
      .filter((l) => l.includes(`"provision-lab ${lab.LAB.bridge}"`));
    expect(ours).toEqual([`-A FORWARD -i ${lab.LAB.bridge} -o ${lab.LAB.bridge} -m comment --comment "provision-lab ${lab.LAB.bridge}" -j ACCEPT`]);
    expect(await reaches(members()[0]!.address, members()[1]!.address)).toBe(true);
  });

  it('without that rule the nodes cannot reach each other (what users saw), and lab up says why and fixes it', async () => {
    await removeLabBridgeRule(lab.LAB);
    try {
      // The host still reaches every node; node to node is dropped.
      expect((await ssh(members()[0]!.address, 'hostname')).stdout.trim()).toBe(members()[0]!.name);
      expect(await reaches(members()[0]!.address, members()[1]!.address)).toBe(false);
    } finally {
      const lines: string[] = [];
      await lab.up({ nodes: 3, log: (l) => lines.push(l) });
      expect(lines.join('\n')).toMatch(new RegExp(`FORWARD policy is DROP .*${lab.LAB.bridge}.*lab down removes it`));
    }
    expect(await labBridgeRulePresent(lab.LAB)).toBe(true);
    expect(await reaches(members()[0]!.address, members()[1]!.address)).toBe(true);
  });

  it('converges bare nodes to a healthy cluster, and a re-run changes nothing', async () => {
    const inv = lab.labFiles.inventory;
    const check = await provisionJson([inv, '--check']);
    const run = await provisionJson([inv]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(changedSet(run.json)).toEqual(changedSet(check.json));
    const a = members()[0]!.address;
    const health = await ssh(
      a,
      `ETCDCTL_API=3 etcdctl --endpoints=${members()
        .map((n) => `http://${n.address}:2379`)
        .join(',')} endpoint health 2>&1`,
    );
    expect(health.code, health.stdout).toBe(0);
    expect(health.stdout.match(/is healthy/g)).toHaveLength(3);
    const again = await provisionJson([inv]);
    expect(again.code).toBe(0);
    expect(totalChanged(again.json)).toBe(0);
  });

  it('lab down removes the rule; lab up puts it back', async () => {
    await lab.down();
    expect(await labBridgeRulePresent(lab.LAB)).toBe(false);
    expect(forwardRules()).not.toContain(`-i ${lab.LAB.bridge} `);
    await ensureLab();
    expect(await labBridgeRulePresent(lab.LAB)).toBe(true);
  });
});
