/**
 * The controller's own cost at scale: N simulated hosts (bench/sim-server.ts, one SSH server in
 * a process of its own) each with a package, a file and a guarded command (bench/sim-playbook.yaml).
 * One host is converged for real first; then the N hosts, all in that state, run with nothing
 * to change (the server answers each distinct probe once and replays it: hosts with identical
 * state). Figures: wall time, the controller's CPU ms and peak memory, per host.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from '../src/lab/topology.js';
import { simAddress } from './sim-address.js';

export interface SimRun {
  ms: number;
  code: number;
  peakMb: number;
  cpuMs: number;
  out: string;
  changed: number;
  hosts: number;
}

const tsx = path.join(projectRoot, 'node_modules/.bin/tsx');
export const SIM_PLAYBOOK = path.join(projectRoot, 'bench/sim-playbook.yaml');

async function startServer(dir: string, memoize: boolean, hosts: number): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(tsx, [path.join(projectRoot, 'bench/sim-server.ts'), dir, `--hosts=${hosts}`, ...(memoize ? ['--memoize'] : [])], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d) => {
      buf += d;
      const m = /port (\d+)/.exec(buf);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (c) => reject(new Error(`sim-server exited ${c}`)));
  });
  return { port, child };
}

const stop = (child: ChildProcess) =>
  new Promise<void>((r) => {
    child.once('exit', () => r());
    child.stdin!.end();
  });

function inventory(dir: string, port: number, n: number): string {
  const file = path.join(dir, `sim-${n}.yaml`);
  const hosts = Array.from({ length: n }, (_, i) => `        sim${String(i).padStart(3, '0')}: { address: ${simAddress(i)} }`);
  fs.writeFileSync(
    file,
    [
      'all:',
      '  vars:',
      '    user: root',
      `    port: ${port}`,
      `    key_file: ${path.join(dir, 'id_ed25519')}`,
      `    known_hosts: ${path.join(dir, 'known_hosts')}`,
      `    sim_dir: ${dir}`,
      '  children:',
      '    sim:',
      '      hosts:',
      ...hosts,
      '',
    ].join('\n'),
  );
  return file;
}

function cli(argv: string[]): Promise<SimRun> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [process.env.BENCH_PROVISION_BIN ?? path.join(projectRoot, 'bin/provision.js'), ...argv], {
      env: { ...process.env, PROVISION_REPORT_PEAK_RSS: '1', FORCE_COLOR: '0' },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => {
      const peak = /peak-rss-kb=(\d+)/.exec(err);
      const cpu = /cpu-ms=(\d+)/.exec(err);
      let changed = NaN;
      let hosts = NaN;
      try {
        const recap = (JSON.parse(out) as { recap: Record<string, { changed: number }> }).recap;
        hosts = Object.keys(recap).length;
        changed = Object.values(recap).reduce((n, r) => n + r.changed, 0);
      } catch {
        // not JSON: the error is in `out`
      }
      resolve({
        ms: performance.now() - t0,
        code: code ?? 1,
        peakMb: peak ? Number(peak[1]) / 1024 : NaN,
        cpuMs: cpu ? Number(cpu[1]) : NaN,
        out: out + err,
        changed,
        hosts,
      });
    });
  });
}

/** Runs the simulated-host bench: `runs` no-change runs of each size in `sizes`. */
export async function benchSim(sizes: number[], runs: number, forks: number): Promise<Map<number, SimRun[]>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'provision-sim-'));
  const results = new Map<number, SimRun[]>();
  try {
    // One host converged for real: the state every simulated host then has.
    let s = await startServer(dir, false, 1);
    const first = await cli([inventory(dir, s.port, 1), '--playbook', SIM_PLAYBOOK, '--json']);
    await stop(s.child);
    if (first.code !== 0 || first.changed !== 3)
      throw new Error(`sim: converging one host: exit ${first.code}, ${first.changed} changes (3 expected):\n${first.out.slice(0, 3000)}`);
    s = await startServer(dir, true, Math.max(...sizes));
    try {
      for (const n of sizes) {
        const inv = inventory(dir, s.port, n);
        const rs: SimRun[] = [];
        for (let i = 0; i < runs; i++) {
          const r = await cli([inv, '--playbook', SIM_PLAYBOOK, '--json', '--forks', String(forks)]);
          if (r.code !== 0 || r.changed !== 0 || r.hosts !== n)
            throw new Error(`sim: ${n} hosts: exit ${r.code}, ${r.changed} changes, ${r.hosts} hosts:\n${r.out.slice(0, 3000)}`);
          rs.push(r);
        }
        results.set(n, rs);
      }
    } finally {
      await stop(s.child);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return results;
}
