import { describe, expect, it } from 'vitest';
import { labConfig, topologyOf } from '../../src/lab/topology.js';
import { mapLimit } from '../../src/lab/engine.js';

describe('a big lab fits its instance', () => {
  for (const engine of ['nspawn', 'docker'] as const) {
    it(`${engine}: the largest lab has unique addresses inside the /24 and names that fit Linux's 15-character links`, () => {
      const cfg = labConfig(engine);
      const nodes = topologyOf(cfg, cfg.maxNodes);
      expect(nodes).toHaveLength(cfg.maxNodes + 1);
      const last = nodes.map((n) => Number(n.address.split('.')[3]));
      expect(new Set(last).size).toBe(nodes.length);
      for (const octet of last) {
        expect(octet).toBeGreaterThan(1); // .1 is the bridge
        expect(octet).toBeLessThan(255);
      }
      for (const n of nodes) {
        expect(n.address.startsWith(`${cfg.subnetPrefix}.`)).toBe(true);
        expect(`${cfg.vethPrefix}${n.name}`.length).toBeLessThanOrEqual(15);
      }
    });
  }
  it('nspawn: 100 nodes and more are allowed', () => {
    expect(labConfig('nspawn').maxNodes).toBeGreaterThanOrEqual(100);
  });
});

describe('mapLimit (bounded boot parallelism)', () => {
  it('never runs more than the limit at once, runs every item, and reports a failure after the rest settle', async () => {
    let running = 0;
    let peak = 0;
    const done: number[] = [];
    const items = Array.from({ length: 25 }, (_, i) => i);
    const p = mapLimit(items, 4, async (i) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 2));
      running--;
      if (i === 3) throw new Error('node 3 failed');
      done.push(i);
    });
    await expect(p).rejects.toThrow('node 3 failed');
    expect(peak).toBe(4);
    expect(done).toHaveLength(24);
  });
});
