/** Two labs coming up at once take turns building the shared image cache (seen: three concurrent builds of one image removed each other's directories). */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '../..');

/** One process that takes the build lock of `cache`, holds it for `ms`, and prints when it held it. */
function holder(cache: string, ms: number): Promise<{ start: number; end: number; log: string[] }> {
  const script = `
    const { underBuildLock } = await import(${JSON.stringify(path.join(root, 'src/lab/build.ts'))});
    const log = [];
    const r = await underBuildLock((l) => log.push(l), async () => {
      const start = Date.now();
      await new Promise((res) => setTimeout(res, ${ms}));
      return { start, end: Date.now() };
    });
    console.log(JSON.stringify({ ...r, log }));`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: root,
      env: { ...process.env, PROVISION_LAB_CACHE: cache },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as { start: number; end: number; log: string[] }) : reject(new Error(`exit ${code}`))));
  });
}

describe('lab build lock', () => {
  it('two processes building into one cache directory never overlap, and the second says it waits', async () => {
    const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-cache-'));
    try {
      const [a, b] = await Promise.all([holder(cache, 3000), holder(cache, 3000)]);
      const [first, second] = a.start <= b.start ? [a, b] : [b, a];
      expect(second.start).toBeGreaterThanOrEqual(first.end);
      expect(first.log).toEqual([]);
      expect(second.log).toEqual([expect.stringContaining('another provision process is building')]);
      // Released: nothing left holding the lock.
      expect(fs.readdirSync(cache)).toEqual([]);
    } finally {
      fs.rmSync(cache, { recursive: true, force: true });
    }
  });
});
