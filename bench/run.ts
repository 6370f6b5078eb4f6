/**
 * `npm run bench`: prints figures, asserts nothing.
 *   lab:        image build (cold, into a scratch cache), lab up and memory per node on each engine
 *               (nspawn and docker, default topology), lab up for 30 nodes (default engine)
 *   provision:  converge from bare nodes, no-change re-run, --check --diff on a converged
 *               cluster (median of several runs, with the provisioner's peak memory)
 *   modes:      converge from bare nodes in each other bootstrap mode (static+TLS, DNS SRV+TLS,
 *               discovery URL with and without TLS), median of several runs
 *   upgrade:    a converged 3.4.23 cluster (static) upgraded to 3.5.16, one member at a time
 *               (the whole run, and per member: snapshot, package, restart, back to healthy)
 *   membership: on a 4-node lab, a 4th member added to a live 3-member cluster (a converge with
 *               it in cluster.members) and removed again (retired), the whole run and the step
 *   scale:      30 hosts at once: ten 3-member clusters converging together on a 30-node lab
 *               (time, peak memory of the provisioners, handshakes retried)
 *   sim:        the controller's own cost: 3, 100 and 500 simulated hosts (bench/sim.ts) with
 *               nothing to change (wall time, CPU ms and MB per host, peak memory)
 *   backup:     provision backup and provision restore (after every member lost its data) of
 *               a 3-member static cluster holding 10,000 keys
 *   compare:    (only when named) this build against BENCH_BASELINE_BIN, by turns; and the floor
 *               under any run (Node's start; Node, ssh2, one connection and one command)
 *   hosts61:    (only when named: a 62-node lab) 61 hosts in one inventory and one process,
 *               --forks 61: a package, a file and a guarded command on each; converge and no-change
 *   hosts100:   (only when named: a 101-node lab) the same on 100 hosts, --forks 100
 *   lab100:     (only when named: several minutes on 2 cores) `lab up --nodes 100` (101 nodes
 *               with the infra node), the load average around it, memory per node, lab down;
 *               one run unless BENCH_LAB100_RUNS says more
 * Every figure is a median over several runs (BENCH_RUNS, default 5) with its spread (min-max),
 * and the ratios that hold across machines are printed last.
 * Parts: `npm run bench -- lab`, `npm run bench -- provision`, `npm run bench -- modes`,
 * `npm run bench -- upgrade`, `npm run bench -- membership`, `npm run bench -- scale`, `npm run bench -- sim`, `npm run bench -- backup`; default all.
 * `--skip-cold` leaves out the cold image build (about 2 minutes).
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as lab from '../src/lab/index.js';
import { baseImageTag, nodeImageTag } from '../src/lab/docker.js';
import { daemonAnswers, ensureDockerPackages, startDockerd, stopDockerd } from '../src/lab/dockerd.js';
import { projectRoot } from '../src/lab/topology.js';
import { LAB_VARIANTS, variantFile, type LabVariant } from '../src/lab/inventory.js';
import YAML from 'yaml';
import { benchSim } from './sim.js';
import { labLoginVars, peakMb, runScale, SCALE_CLUSTERS, SCALE_NODES, writeScaleInventories } from '../test/helpers/scale.js';

const args = process.argv.slice(2);
const parts = args.filter((a) => !a.startsWith('--'));
const want = (p: string) => parts.length === 0 || parts.includes(p);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);

const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
/** `median 1.23 s (min 1.01, max 1.60, n=5)` */
const spread = (xs: number[], fmt: (n: number) => string = secs) =>
  `median ${fmt(median(xs))} (min ${fmt(Math.min(...xs))}, max ${fmt(Math.max(...xs))}, ${xs.length} runs)`;
/** Ratios that hold across machines, filled in by the parts that ran. */
const ratios: string[] = [];
const timed = async <T>(fn: () => Promise<T>): Promise<[number, T]> => {
  const t0 = performance.now();
  const r = await fn();
  return [performance.now() - t0, r];
};
/**
 * Memory of the lab's nodes: the proportional set size (PSS: shared pages split between their
 * users) of every process in each node's tree (nspawn: its systemd-nspawn and all below;
 * docker: its containerd shim and all below; the Docker daemons themselves not counted), averaged.
 * MemAvailable deltas were tried first and drowned in the page cache (a negative figure).
 */
function memPerNodeMb(eng: lab.LabEngine = lab.engine()): { mean: number; nodes: number } {
  const parent = new Map<number, number>();
  for (const p of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      parent.set(Number(p), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone
    }
  }
  const pss = (pid: number) => {
    try {
      return Number(/^Pss:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0) / 1024;
    } catch {
      return 0;
    }
  };
  const roots = eng.nodeProcessRoots();
  const treeOf = (root: number) =>
    [...parent.keys()].filter((p) => {
      for (let q: number | undefined = p; q && q > 1; q = parent.get(q)) if (q === root) return true;
      return false;
    });
  const sums = roots.map((r) => treeOf(r).reduce((n, p) => n + pss(p), 0));
  return { mean: sums.reduce((a, b) => a + b, 0) / Math.max(1, sums.length), nodes: sums.length };
}

/**
 * CPU time the whole machine has spent busy so far (all cores; /proc/stat's user, nice, system,
 * irq, softirq and steal), in ms. On the lab, the nodes (sshd, the probes, etcd) share the
 * controller's cores: a run's wall time cannot go below its machine CPU divided by the cores.
 */
function machineBusyMs(): number {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = f;
  return ((user! + nice! + system! + irq! + softirq! + (steal ?? 0)) * 1000) / TICKS;
}
const TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
const CORES = os.cpus().length;
/** `machine CPU median 2.05 s (...); wall at least 1.03 s on 2 cores` */
const machineLine = (cpu: number[]) => `machine CPU ${spread(cpu)}; wall at least ${secs(median(cpu) / CORES)} on ${CORES} cores`;

/** Runs the real CLI; returns wall time, exit code, output, the CLI's own peak RSS and the machine's CPU meanwhile. */
function cli(
  argv: string[],
  bin = process.env.BENCH_PROVISION_BIN ?? path.join(projectRoot, 'bin/provision.js'),
): Promise<{ ms: number; code: number; out: string; peakMb: number; firstConnectMs?: number; machineCpuMs: number }> {
  return new Promise((resolve) => {
    const busy0 = machineBusyMs();
    const t0 = performance.now();
    // BENCH_PROVISION_BIN: another build to compare with (a copy of an earlier bin/ and dist/).
    const child = spawn(process.execPath, [bin, ...argv], {
      env: { ...process.env, PROVISION_REPORT_PEAK_RSS: '1', FORCE_COLOR: '0' },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => {
      const peak = /peak-rss-kb=(\d+)/.exec(err);
      let firstConnectMs: number | undefined;
      try {
        firstConnectMs = (JSON.parse(out) as { timings?: { firstConnectMs?: number } }).timings?.firstConnectMs;
      } catch {
        // not --json
      }
      const ms = performance.now() - t0;
      resolve({ ms, code: code ?? 1, out: out + err, peakMb: peak ? Number(peak[1]) / 1024 : NaN, firstConnectMs, machineCpuMs: machineBusyMs() - busy0 });
    });
  });
}

async function benchLab() {
  console.log('## lab');
  if (!args.includes('--skip-cold')) {
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'provision-bench-cache-'));
    const [ms] = await timed(async () => {
      const { execFileSync } = await import('node:child_process');
      execFileSync(
        process.execPath,
        [path.join(projectRoot, 'node_modules/.bin/tsx'), '-e', `import('${path.join(projectRoot, 'src/lab/build.ts')}').then(m => m.ensureImage())`],
        {
          env: { ...process.env, PROVISION_LAB_CACHE: scratch },
          stdio: 'inherit',
        },
      );
    });
    fs.rmSync(scratch, { recursive: true, force: true });
    console.log(`image build (cold, debootstrap + repository): ${secs(ms)}   (target < 180 s)`);
  }
  // A Docker daemon for the docker lab's figures, started here when none runs (its start is not
  // part of `lab up`'s time), stopped by its pid at the end.
  await ensureDockerPackages(console.log);
  const benchDockerd = (await daemonAnswers()) ? undefined : await startDockerd(path.join(os.tmpdir(), `provision-bench-dockerd-${process.pid}.log`));
  try {
    for (const name of lab.ENGINES) {
      const eng = lab.engine(name);
      await eng.down();
      if (name === 'docker') {
        // First time on this machine: docker import of the lab's root filesystem, then the node image build.
        spawnSync('docker', ['rmi', '-f', baseImageTag(), nodeImageTag(), 'provision-lab-rootfs:latest', 'provision-lab-node:latest'], { stdio: 'ignore' });
        const [coldMs] = await timed(() => eng.up({ nodes: 3 }));
        console.log(`lab up --engine docker, first time (docker import of the root filesystem + node image build): ${secs(coldMs)}`);
        await eng.down();
      }
      const [upMs] = await timed(() => eng.up({ nodes: 3 }));
      console.log(`lab up --engine ${name}, default topology (4 nodes): ${secs(upMs)}   (target < 20 s)`);
      await new Promise((r) => setTimeout(r, 3000));
      const m4 = memPerNodeMb(eng);
      console.log(`memory per node, --engine ${name} (idle, booted; PSS of its processes): ${m4.mean.toFixed(0)} MB over ${m4.nodes} nodes`);
      if (name === 'docker') await eng.down();
    }
  } finally {
    if (benchDockerd) await stopDockerd(benchDockerd);
  }
  await lab.down();
  const [up30] = await timed(() => lab.up({ nodes: 29 }));
  console.log(`lab up, 30 nodes (29 etcd + infra): ${secs(up30)}   (target < 90 s)`);
  await new Promise((r) => setTimeout(r, 3000));
  const m30 = memPerNodeMb();
  console.log(`memory per node at 30 nodes: ${m30.mean.toFixed(0)} MB over ${m30.nodes} nodes`);
  const [downMs] = await timed(() => lab.down());
  console.log(`lab down, 30 nodes: ${secs(downMs)}`);
}

/** `lab up --nodes 100`: the figure for a big lab (bounded boot parallelism, load-scaled waits). */
async function benchLab100() {
  const runs = Number(process.env.BENCH_LAB100_RUNS ?? 1);
  const ups: number[] = [];
  const downs: number[] = [];
  for (let i = 0; i < runs; i++) {
    await lab.down();
    const before = os.loadavg()[0]!;
    const [upMs] = await timed(() => lab.up({ nodes: 100, log: (l) => console.log(`  ${l}`) }));
    ups.push(upMs);
    console.log(
      `lab up --nodes 100 (101 nodes with infra): ${secs(upMs)}, load average ${before.toFixed(1)} before, ${os.loadavg()[0]!.toFixed(1)} after (${os.availableParallelism()} CPUs)`,
    );
    if (i === runs - 1) {
      const m = memPerNodeMb();
      console.log(`memory per node at 101 nodes: ${m.mean.toFixed(0)} MB over ${m.nodes} nodes`);
    }
    const [downMs] = await timed(() => lab.down());
    downs.push(downMs);
  }
  if (runs > 1) console.log(`lab up --nodes 100: ${spread(ups)}; lab down: ${spread(downs)}`);
  else console.log(`lab down, 101 nodes: ${secs(downs[0]!)}`);
}

/**
 * n hosts in one inventory, one provision process, --forks n (issue 14's measurement: 61, and
 * 100): a package (bind-utils, from the lab's repository), a file and a guarded command on each
 * node (bench/sim-playbook.yaml). Converge from bare nodes (each run on a new lab), then
 * no-change re-runs; the lab is taken down at the end.
 */
async function benchHosts(n: number) {
  console.log(`## ${n} hosts, one inventory, one process (--forks ${n}): a package, a file and a guarded command on each`);
  await lab.down();
  const [upMs] = await timed(() => lab.up({ nodes: n }));
  console.log(`lab up --nodes ${n}: ${secs(upMs)}`);
  const nodes = lab.topology(n).filter((x) => x.role === 'etcd');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `provision-bench-${n}-`));
  const inv = path.join(dir, 'hosts.yaml');
  fs.writeFileSync(
    inv,
    [
      'all:',
      '  vars:',
      ...labLoginVars(),
      '    sim_dir: /var/tmp',
      '    bench_package: bind-utils',
      '  hosts:',
      ...nodes.map((x) => `    ${x.name}: { address: ${x.address} }`),
      '',
    ].join('\n'),
  );
  const argv = [inv, '--playbook', path.join(projectRoot, 'bench/sim-playbook.yaml'), '--forks', String(n), '--json'];
  const converge: number[] = [];
  const rerun: number[] = [];
  const cpu: number[] = [];
  const machine: { converge: number[]; rerun: number[] } = { converge: [], rerun: [] };
  const runs = Math.max(1, Math.min(RUNS, 3));
  for (let i = 0; i < runs; i++) {
    // Bare nodes again: a new lab (resetting 61 nodes one by one takes longer than bringing them up).
    if (i > 0) {
      await lab.down();
      await lab.up({ nodes: n });
    }
    const c = await cli(argv);
    if (c.code !== 0) throw new Error(`converge of ${n} hosts exited ${c.code}:\n${c.out.slice(-3000)}`);
    converge.push(c.ms);
    machine.converge.push(c.machineCpuMs);
    console.log(`  converge ${i + 1}: ${secs(c.ms)}`);
    for (let j = 0; j < runs; j++) {
      const r = await cli(argv);
      if (r.code !== 0) throw new Error(`no-change run of ${n} hosts exited ${r.code}:\n${r.out.slice(-3000)}`);
      const recap = (JSON.parse(r.out.slice(0, r.out.lastIndexOf('}') + 1)) as { recap: Record<string, { changed: number }> }).recap;
      const changed = Object.values(recap).filter((h) => h.changed > 0).length;
      if (changed) console.log(`  (this no-change run changed something on ${changed} hosts)`);
      rerun.push(r.ms);
      machine.rerun.push(r.machineCpuMs);
      console.log(`  no-change ${i + 1}.${j + 1}: ${secs(r.ms)}`);
      const m = /cpu-ms=(\d+)/.exec(r.out);
      if (m) cpu.push(Number(m[1]));
    }
  }
  console.log(`converge, ${n} hosts:  ${spread(converge)}${n === 61 ? '   (target: < 30 s)' : ''}`);
  console.log(
    `no-change, ${n} hosts: ${spread(rerun)}${n === 61 ? '   (target: < 4 s)' : ''}${cpu.length ? `; controller CPU ${spread(cpu, (x) => `${(x / 1000).toFixed(2)} s`)}` : ''}`,
  );
  console.log(`converge, ${n} hosts:  ${machineLine(machine.converge)}\nno-change, ${n} hosts: ${machineLine(machine.rerun)}`);
  ratios.push(`no-change / converge (${n} lab hosts): ${(median(rerun) / median(converge)).toFixed(2)}`);
  fs.rmSync(dir, { recursive: true, force: true });
  await lab.down();
}

async function resetEtcdNodes() {
  await Promise.all(
    lab
      .topology(3)
      .filter((n) => n.role === 'etcd')
      .map((n) => lab.resetNode(n.name)),
  );
}

async function benchProvision() {
  console.log('## provision (3-node lab, static bootstrap)');
  await lab.up({ nodes: 3 });
  // The lab instance's own inventory (PROVISION_LAB_INSTANCE): inventories/lab.yaml is instance 0's.
  const inv = lab.labFiles.inventory;
  const rows: Record<string, { ms: number[]; peak: number[]; first: number[]; cpu: number[] }> = {
    converge: { ms: [], peak: [], first: [], cpu: [] },
    rerun: { ms: [], peak: [], first: [], cpu: [] },
    check: { ms: [], peak: [], first: [], cpu: [] },
  };
  const record = (k: string, r: Awaited<ReturnType<typeof cli>>) => {
    if (r.code !== 0) throw new Error(`${k} exited ${r.code}:\n${r.out}`);
    rows[k]!.ms.push(r.ms);
    rows[k]!.peak.push(r.peakMb);
    rows[k]!.cpu.push(r.machineCpuMs);
    if (r.firstConnectMs !== undefined) rows[k]!.first.push(r.firstConnectMs);
  };
  for (let i = 0; i < RUNS; i++) {
    await resetEtcdNodes();
    record('converge', await cli([inv, '--json']));
    record('rerun', await cli([inv, '--json']));
    record('check', await cli([inv, '--check', '--diff', '--json']));
  }
  // provision --help: start-up alone.
  const help: number[] = [];
  for (let i = 0; i < Math.max(RUNS, 10); i++) help.push((await cli(['--help'])).ms);
  const withEtcd = memPerNodeMb();
  console.log(`memory per node with the cluster running (PSS, infra included): ${withEtcd.mean.toFixed(0)} MB over ${withEtcd.nodes} nodes`);
  const targets: Record<string, string> = { converge: '< 4 s', rerun: '< 0.5 s', check: '< 0.5 s', status: '< 1 s', exec: '< 0.5 s' };
  const names: Record<string, string> = {
    converge: 'converge from bare nodes',
    rerun: 'no-change re-run',
    check: '--check --diff, converged',
    status: 'status, healthy cluster',
    exec: 'exec -- true, 4 hosts',
  };
  for (const [k, v] of Object.entries(rows)) {
    console.log(`${names[k]!.padEnd(28)} ${spread(v.ms)}; peak memory ${Math.max(...v.peak).toFixed(0)} MB   (target ${targets[k]})`);
    console.log(`${''.padEnd(28)} ${machineLine(v.cpu)}`);
  }
  if (rows.rerun!.first.length) console.log(`${'no-change: first connection'.padEnd(28)} ${spread(rows.rerun!.first)} after the process started`);
  console.log(`${'provision --help'.padEnd(28)} ${spread(help)}   (target < 0.15 s)`);
  const conv = median(rows.converge!.ms);
  ratios.push(`no-change / converge: ${(median(rows.rerun!.ms) / conv).toFixed(2)}`, `check / converge: ${(median(rows.check!.ms) / conv).toFixed(2)}`);
}

async function benchModes() {
  console.log('## bootstrap modes (3-node lab, converge from bare nodes)');
  await lab.up({ nodes: 3 });
  const dir = path.dirname(lab.labFiles.inventory);
  const runs = Math.max(1, Math.min(RUNS, 3));
  for (const v of ['tls', 'dns', 'discovery', 'discovery-tls'] as LabVariant[]) {
    const inv = path.join(dir, variantFile(v, 'inventory'));
    const ms: number[] = [];
    for (let i = 0; i < runs; i++) {
      await Promise.all(lab.topology(3).map((n) => lab.resetNode(n.name)));
      fs.rmSync(path.join(dir, '.provision-state'), { recursive: true, force: true });
      if (v.startsWith('discovery')) {
        const d = await cli([inv, '--playbook', path.join(projectRoot, 'playbooks/discovery-server.yaml')]);
        if (d.code !== 0) throw new Error(`discovery server: exit ${d.code}:\n${d.out}`);
      }
      const r = await cli([inv]);
      if (r.code !== 0) throw new Error(`${v} exited ${r.code}:\n${r.out}`);
      ms.push(r.ms);
    }
    const what = `${LAB_VARIANTS[v].bootstrap}${LAB_VARIANTS[v].tls ? ' + TLS' : ''}`;
    console.log(`converge, ${what.padEnd(17)} ${spread(ms)}`);
  }
}

async function benchBackup() {
  const KEYS = 10_000;
  console.log(`## backup and restore (3-node lab, static, ${KEYS} keys)`);
  await lab.up({ nodes: 3 });
  const inv = lab.labFiles.inventory;
  const nodes = lab.topology(3).filter((n) => n.role === 'etcd');
  await resetEtcdNodes();
  const conv = await cli([inv]);
  if (conv.code !== 0) throw new Error(`converge exited ${conv.code}:\n${conv.out}`);
  // The keys through the v3 HTTP gateway, 50 at a time.
  const b64 = (x: string) => Buffer.from(x).toString('base64');
  for (let i = 0; i < KEYS; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, KEYS - i) }, (_, j) =>
        fetch(`http://${nodes[(i + j) % 3]!.address}:2379/v3/kv/put`, {
          method: 'POST',
          body: JSON.stringify({ key: b64(`bench-${i + j}`), value: b64('x'.repeat(100)) }),
        }),
      ),
    );
  }
  const to = fs.mkdtempSync(path.join(os.tmpdir(), 'provision-bench-backup-'));
  const runs = Math.max(1, Math.min(RUNS, 3));
  const backupMs: number[] = [];
  const restoreMs: number[] = [];
  let size = 0;
  try {
    for (let i = 0; i < runs; i++) {
      const b = await cli(['backup', inv, '--to', to, '--json']);
      if (b.code !== 0) throw new Error(`backup exited ${b.code}:\n${b.out}`);
      backupMs.push(b.ms);
      const file = (JSON.parse(b.out.slice(0, b.out.lastIndexOf('}') + 1)) as { file: string; bytes: number }).file;
      size = fs.statSync(file).size;
      // The disaster: every member stopped, its data gone.
      const { execFileSync } = await import('node:child_process');
      for (const n of nodes)
        execFileSync('ssh', [
          '-i',
          lab.labFiles.privateKey,
          '-o',
          `UserKnownHostsFile=${lab.labFiles.knownHosts}`,
          `root@${n.address}`,
          'systemctl stop etcd; rm -rf /var/lib/etcd/*.etcd*',
        ]);
      const r = await cli(['restore', inv, '--snapshot', file]);
      if (r.code !== 0 || !new RegExp(`${KEYS} keys`).test(r.out)) throw new Error(`restore exited ${r.code}:\n${r.out}`);
      restoreMs.push(r.ms);
    }
  } finally {
    fs.rmSync(to, { recursive: true, force: true });
  }
  console.log(`${'backup (snapshot to controller)'.padEnd(32)} ${spread(backupMs)}; snapshot ${(size / 1024 / 1024).toFixed(1)} MB`);
  console.log(`${'restore (all data lost)'.padEnd(32)} ${spread(restoreMs)}`);
}

/** The JSON document of a `--json` run: stdout, which cli() follows with stderr. */
const runJson = <T>(out: string): T => JSON.parse(out.slice(0, out.lastIndexOf('\n}') + 2)) as T;
type JsonTasks = { tasks: { host: string; task: string; status: string; durationMs?: number }[] };

async function benchUpgrade() {
  console.log('## upgrade 3 members (3-node lab, static, etcd 3.4.23 -> 3.5.16)');
  await lab.up({ nodes: 3 });
  const inv = lab.labFiles.inventory;
  const pinned = path.join(path.dirname(inv), 'bench-upgrade.yaml');
  fs.writeFileSync(pinned, fs.readFileSync(inv, 'utf8').replace('package: { name: etcd }', 'package: { name: etcd, version: "3.5.16" }'));
  const runs = Math.max(1, Math.min(RUNS, 3));
  const whole: number[] = [];
  const perMember: number[] = [];
  for (let i = 0; i < runs; i++) {
    await resetEtcdNodes();
    fs.rmSync(path.join(path.dirname(inv), '.provision-state'), { recursive: true, force: true });
    const c = await cli([inv]);
    if (c.code !== 0) throw new Error(`converge exited ${c.code}:\n${c.out}`);
    const r = await cli([pinned, '--json']);
    if (r.code !== 0) throw new Error(`upgrade exited ${r.code}:\n${r.out}`);
    whole.push(r.ms);
    // The JSON document is stdout; cli() appends stderr after it.
    const { tasks } = runJson<JsonTasks>(r.out);
    for (const t of tasks) if (t.task.startsWith('Upgrade etcd') && t.status === 'changed' && t.durationMs) perMember.push(t.durationMs);
  }
  fs.rmSync(pinned, { force: true });
  console.log(`upgrade 3 members, whole run        ${spread(whole)}`);
  console.log(`one member (snapshot .. healthy)    ${spread(perMember)}`);
}

/**
 * Membership on a 4-node lab: a live 3-member cluster, then per run a converge with the 4th host
 * in cluster.members (member add as a learner, start, promote) and one with it in cluster.retired
 * (member remove, then stop, disable, data moved aside); the next run adds it again.
 */
async function benchMembership() {
  console.log('## membership (4-node lab, static): add a 4th member to a live 3-member cluster, remove it');
  if (lab.status().up && lab.status().etcdNodes !== 4) await lab.down();
  await lab.up({ nodes: 4 });
  const hosts = lab.topology(4).filter((n) => n.role === 'etcd');
  const names = hosts.map((n) => n.name);
  const [newcomer] = names.slice(3);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'provision-bench-membership-'));
  const inventory = (file: string, members: string[], retired: string[] = []) => {
    const doc = {
      all: {
        vars: { user: 'root', key_file: lab.labFiles.privateKey, known_hosts: lab.labFiles.knownHosts, host_key_checking: 'strict' },
        children: { etcd: { hosts: Object.fromEntries(hosts.map((n) => [n.name, { address: n.address }])) } },
      },
      cluster: { name: 'lab', members, ...(retired.length ? { retired } : {}), bootstrap: 'static', token: 'bench-membership', package: { name: 'etcd' } },
    };
    const p = path.join(dir, `${file}.yaml`);
    fs.writeFileSync(p, YAML.stringify(doc));
    return p;
  };
  const three = inventory('three', names.slice(0, 3));
  const four = inventory('four', names);
  const retire = inventory('retire', names.slice(0, 3), [newcomer!]);
  const add: number[] = [];
  const remove: number[] = [];
  const join: number[] = [];
  const removal: number[] = [];
  try {
    await Promise.all(hosts.map((n) => lab.resetNode(n.name)));
    const c = await cli([three]);
    if (c.code !== 0) throw new Error(`converge exited ${c.code}:\n${c.out}`);
    const stepMs = (out: string, host: string, task: string) =>
      runJson<JsonTasks>(out).tasks.find((t) => t.host === host && t.task.startsWith(task) && t.status === 'changed')?.durationMs;
    for (let i = 0; i < RUNS; i++) {
      const a = await cli([four, '--json']);
      if (a.code !== 0) throw new Error(`adding ${newcomer} exited ${a.code}:\n${a.out}`);
      add.push(a.ms);
      const j = stepMs(a.out, newcomer!, 'Write /etc/etcd/etcd.conf');
      if (j !== undefined) join.push(j);
      const r = await cli([retire, '--json']);
      if (r.code !== 0) throw new Error(`removing ${newcomer} exited ${r.code}:\n${r.out}`);
      remove.push(r.ms);
      const m = stepMs(r.out, names[0]!, 'Remove the members');
      if (m !== undefined) removal.push(m);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    await lab.down();
  }
  console.log(`add one member, whole run           ${spread(add)}`);
  if (join.length) console.log(`  of which member add .. promoted    ${spread(join)}`);
  console.log(`remove one member, whole run        ${spread(remove)}`);
  if (removal.length) console.log(`  of which member remove            ${spread(removal)}`);
}

async function benchScale() {
  console.log(`## scale (${SCALE_NODES} hosts at once: ${SCALE_CLUSTERS} clusters of 3, one provision process each)`);
  await lab.down();
  await lab.up({ nodes: SCALE_NODES });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'provision-bench-scale-'));
  try {
    const files = writeScaleInventories(dir);
    const converge = await runScale(files);
    const bad = converge.runs.filter((r) => r.code !== 0);
    if (bad.length) throw new Error(`scale: ${bad.length} runs failed:\n${bad.map((r) => r.stderr + r.stdout.slice(0, 2000)).join('\n')}`);
    const peak = Math.max(...converge.runs.map((r) => peakMb(r.stderr)));
    console.log(
      `converge ${SCALE_NODES} hosts from bare: ${secs(converge.ms)}; peak memory per provisioner ${peak.toFixed(0)} MB (all ${SCALE_CLUSTERS}: ${converge.runs.reduce((n, r) => n + peakMb(r.stderr), 0).toFixed(0)} MB); handshakes retried ${converge.retries}`,
    );
    const again = await runScale(files);
    console.log(`no-change re-run of ${SCALE_NODES} hosts: ${secs(again.ms)}; handshakes retried ${again.retries}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    await lab.down();
    await lab.up({ nodes: 3 });
  }
}

/**
 * This build against another (BENCH_BASELINE_BIN: a copy of an earlier bin/ and dist/) on the
 * converged 3-node lab, run by turns (A B A B ...) so that both meet the same machine load:
 * no-change run, --check --diff and --help; medians and the median of the paired ratios.
 */
async function benchCompare() {
  const base = process.env.BENCH_BASELINE_BIN;
  if (!base) throw new Error('bench compare: set BENCH_BASELINE_BIN to the bin/provision.js of the build to compare with');
  console.log(`## this build against ${base} (3-node lab, converged; taken by turns)`);
  await lab.up({ nodes: 3 });
  const inv = lab.labFiles.inventory;
  const mine = path.join(projectRoot, 'bin/provision.js');
  const ok = async (argv: string[], bin: string, cpu: number[]) => {
    const r = await cli(argv, bin);
    if (r.code !== 0) throw new Error(`${argv.join(' ')} (${bin}) exited ${r.code}:\n${r.out}`);
    cpu.push(r.machineCpuMs);
    return r.ms;
  };
  if ((await cli([inv], mine)).code !== 0) throw new Error('the lab does not converge');
  const kinds: [string, string[]][] = [
    ['no-change re-run', [inv]],
    ['--check --diff', [inv, '--check', '--diff']],
    ['provision --help', ['--help']],
  ];
  for (const [name, argv] of kinds) {
    const a: number[] = [];
    const b: number[] = [];
    const cpuA: number[] = [];
    const cpuB: number[] = [];
    for (let i = 0; i < Math.max(RUNS, 8); i++) {
      a.push(await ok(argv, base, cpuA));
      b.push(await ok(argv, mine, cpuB));
    }
    const paired = median(b.map((x, i) => x / a[i]!));
    const pad = ''.padEnd(18);
    console.log(
      `${name.padEnd(18)} before ${spread(a)}\n${pad}        ${machineLine(cpuA)}\n${pad} after  ${spread(b)}\n${pad}        ${machineLine(cpuB)}\n${pad} after/before, median of pairs: ${paired.toFixed(2)}`,
    );
  }
  // What no run that starts a process and opens a fresh connection can go below, measured
  // now: Node alone, and Node + ssh2 + one connection + one command (bench/floor.mjs).
  const node = lab.topology(3).find((x) => x.role === 'etcd')!;
  const floorJs = path.join(projectRoot, 'bench/floor.mjs');
  const floorArgv = [node.address, lab.labFiles.privateKey, lab.labFiles.knownHosts];
  const nodeOnly: number[] = [];
  const floor: number[] = [];
  for (let i = 0; i < Math.max(RUNS, 8); i++) {
    nodeOnly.push(await ok(['--node-only'], floorJs, []));
    floor.push(await ok(floorArgv, floorJs, []));
  }
  console.log(
    `${'floor'.padEnd(18)} Node starting alone: ${spread(nodeOnly)}\n${''.padEnd(18)} Node, ssh2, one connection to ${node.name} and \`true\` (bench/floor.mjs): ${spread(floor)}`,
  );
}

async function benchSimulated() {
  const sizes = [3, 100, 500];
  const forks = 500;
  console.log(`## simulated hosts (controller cost; ${sizes.join(', ')} hosts, nothing to change, --forks ${forks})`);
  const res = await benchSim(sizes, Math.max(1, Math.min(RUNS, 3)), forks);
  const mb = (n: number) => `${n.toFixed(0)} MB`;
  const ms = (n: number) => `${n.toFixed(1)} ms`;
  for (const [n, rs] of res) {
    console.log(
      `${`${n} hosts`.padEnd(10)} wall ${spread(rs.map((r) => r.ms))}; CPU per host ${spread(
        rs.map((r) => r.cpuMs / n),
        ms,
      )}; peak memory ${spread(
        rs.map((r) => r.peakMb),
        mb,
      )}, ${mb(median(rs.map((r) => r.peakMb)) / n)} per host${n === 500 ? '   (target: wall < 10 s, peak < 300 MB)' : ''}`,
    );
  }
  const wall = (n: number) => median(res.get(n)!.map((r) => r.ms));
  ratios.push(
    `100 hosts / 3 hosts (simulated, wall): ${(wall(100) / wall(3)).toFixed(2)}`,
    `500 hosts / 100 hosts (simulated, wall): ${(wall(500) / wall(100)).toFixed(2)}`,
  );
}

if (want('lab')) await benchLab();
if (want('provision')) await benchProvision();
if (want('modes')) await benchModes();
if (want('upgrade')) await benchUpgrade();
if (want('membership')) await benchMembership();
if (want('scale')) await benchScale();
if (want('backup')) await benchBackup();
if (want('sim')) await benchSimulated();
if (parts.includes('compare')) await benchCompare();
if (parts.includes('lab100')) await benchLab100();
if (parts.includes('hosts61')) await benchHosts(61);
if (parts.includes('hosts100')) await benchHosts(100);
if (ratios.length) console.log(`## ratios (hold across machines)\n${ratios.join('\n')}`);
