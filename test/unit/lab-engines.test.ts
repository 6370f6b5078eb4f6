/** Pure parts of the lab engines: the docker lab's extra nodes, and reading iptables' FORWARD chain. */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { extraNodesCompose } from '../../src/lab/docker.js';
import { parseForwardBlock } from '../../src/lab/forwarding.js';
import { labConfig, projectRoot, topologyOf } from '../../src/lab/topology.js';

const composeText = fs.readFileSync(path.join(projectRoot, 'docker-compose.test.yml'), 'utf8');

describe('docker lab: nodes beyond the compose file', () => {
  const cfg = { ...labConfig('docker'), subnetPrefix: '10.213.8' };

  it("needs no second file for the compose file's own three etcd nodes or fewer", () => {
    expect(extraNodesCompose(composeText, topologyOf(cfg, 3))).toBe('');
    expect(extraNodesCompose(composeText, topologyOf(cfg, 1))).toBe('');
  });

  it('makes etcd3.. from etcd0: own hostname, address and host keys, everything else the same', () => {
    const doc = parse(extraNodesCompose(composeText, topologyOf(cfg, 5))) as { services: Record<string, Record<string, unknown>> };
    const etcd0 = (parse(composeText, { merge: true }) as { services: Record<string, Record<string, unknown>> }).services.etcd0!;
    expect(Object.keys(doc.services)).toEqual(['etcd3', 'etcd4']);
    const e4 = doc.services.etcd4!;
    expect(e4.hostname).toBe('etcd4');
    expect(e4.networks).toEqual({ lab: { ipv4_address: '${PROVISION_LAB_SUBNET:-10.213.8}.15' } });
    expect(e4.volumes).toContain('${PROVISION_LAB_FILES:-./.lab/docker}/hostkeys/etcd4:/etc/lab-hostkeys:ro');
    expect((e4.volumes as string[]).filter((v) => v.includes('hostkeys/etcd0'))).toEqual([]);
    for (const k of ['image', 'cap_add', 'cap_drop', 'security_opt', 'tmpfs', 'environment', 'healthcheck', 'stop_signal']) expect(e4[k]).toEqual(etcd0[k]);
  });
});

describe('iptables FORWARD chain', () => {
  it("Docker's DROP policy blocks bridged traffic", () => {
    const docker = ['-P FORWARD DROP', '-A FORWARD -j DOCKER-USER', '-A FORWARD -j DOCKER-ISOLATION-STAGE-1', '-A FORWARD -o docker0 -j DOCKER'].join('\n');
    expect(parseForwardBlock(docker)).toBe('the iptables FORWARD policy is DROP');
  });

  it('an ACCEPT policy with a DROP or REJECT rule blocks; one without does not', () => {
    expect(parseForwardBlock('-P FORWARD ACCEPT\n-A FORWARD -i br0 -j REJECT --reject-with icmp-port-unreachable\n')).toMatch(
      /FORWARD chain has "-A FORWARD -i br0 -j REJECT/,
    );
    expect(parseForwardBlock('-P FORWARD ACCEPT\n-A FORWARD -i br0 -o br0 -j ACCEPT\n')).toBe('');
    expect(parseForwardBlock('')).toBe('');
  });
});
