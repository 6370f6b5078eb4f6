/**
 * Thirty hosts at once (issue: survive faults, case 10): ten 3-member clusters on a 30-node
 * lab, ten provision processes started together. No connection is dropped or left
 * unreachable (handshakes sshd drops are retried with backoff), every cluster ends healthy
 * and separate from the others, and a re-run of all ten changes nothing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { totalChanged } from '../helpers/cli.js';
import { lab, labUp, ssh } from '../helpers/lab.js';
import { runScale, SCALE_CLUSTERS, SCALE_NODES, writeScaleInventories } from '../helpers/scale.js';

describe('thirty hosts at once', () => {
  let dir: string;
  let files: string[];
  beforeAll(async () => {
    await lab.down();
    await labUp(SCALE_NODES);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'provision-scale-'));
    files = writeScaleInventories(dir);
  }, 600_000);
  afterAll(async () => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    // The next file brings up the lab it needs (test/helpers/lab.ts labUp).
    await lab.down();
  }, 600_000);

  it('ten clusters converge together: nothing unreachable, every cluster healthy and separate', async () => {
    const { runs } = await runScale(files);
    runs.forEach((r, i) => {
      expect(r.code, `cluster ${i}: ${r.stderr}\n${JSON.stringify(r.json.tasks.filter((t) => t.status === 'failed'))}`).toBe(0);
      expect(r.json.unreachable).toEqual({});
      expect(Object.keys(r.json.recap)).toHaveLength(3);
      for (const rc of Object.values(r.json.recap)) expect(rc).toMatchObject({ failed: 0, unreachable: 0 });
    });
    const nodes = lab.topology(SCALE_NODES).filter((n) => n.role === 'etcd');
    for (let i = 0; i < SCALE_CLUSTERS; i++) {
      const first = nodes[3 * i]!;
      const r = await ssh(first.address, `ETCDCTL_API=3 etcdctl --endpoints=http://${first.address}:2379 member list -w json`);
      expect(r.code, r.stderr).toBe(0);
      const names = (JSON.parse(r.stdout) as { members: { name: string }[] }).members.map((m) => m.name).sort();
      expect(names).toEqual(
        nodes
          .slice(3 * i, 3 * i + 3)
          .map((n) => n.name)
          .sort(),
      );
    }
  }, 1_800_000);

  it('a re-run of all ten at once changes nothing', async () => {
    const { runs } = await runScale(files);
    runs.forEach((r, i) => {
      expect(
        r.code,
        `cluster ${i}: ${r.stderr}\n${JSON.stringify(r.json.unreachable)}\n${JSON.stringify(r.json.tasks.filter((t) => t.status === 'failed'))}`,
      ).toBe(0);
      expect(totalChanged(r.json)).toBe(0);
    });
  }, 1_800_000);
});
