/**
 * The soak: N converge runs of the lab's 3-member cluster, each with one fault injected at a
 * random moment on a random member (member stopped, its network cut, sshd restarted, etcd
 * killed), then the fault healed and a recovery run that must converge to 3 healthy members.
 * Each run toggles `listen` (address <-> any), so every run rewrites etcd.conf on every member
 * and rolls the members through restarts while the fault is in effect.
 *
 * A client writes keys to the cluster through etcd's v3 HTTP gateway all the time. At the end,
 * every key the cluster acknowledged must be readable with its value (keys lost: 0). After
 * each fault and each recovery, every member's etcd.conf must be one of the two complete
 * renderings, and no temporary file of an atomic write may be left (files half-written: 0).
 */
import fs from 'node:fs';
import YAML from 'yaml';
import { provision } from './cli.js';
import { writeInventory } from './inventory.js';
import { etcdNodes, lab } from './lab.js';
import { startProvision } from './stream.js';
import { b64, gateway, Writer } from './writer.js';

export type FaultKind = 'stop' | 'cut' | 'sshd' | 'etcd-kill';
export const FAULT_KINDS: readonly FaultKind[] = ['stop', 'cut', 'sshd', 'etcd-kill'];

export interface SoakFigures {
  runs: number;
  faultsInjected: number;
  /** Faults injected while the converge run was still going (the others landed just after it ended). */
  faultsDuringRun: number;
  byKind: Record<FaultKind, number>;
  /** Fault runs that still exited 0 (the fault came too late or did not touch what the run needed). */
  faultRunsSucceeded: number;
  runsRecovered: number;
  keysWritten: number;
  /** Writes that got no acknowledgement (not counted as written; may or may not be stored). */
  writesUnacknowledged: number;
  keysLost: number;
  filesHalfWritten: number;
  problems: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const CONF = '/etc/etcd/etcd.conf';
/** Temporary files of provision's atomic writes (both the sudo and the SFTP way). */
const TEMP_FIND = "find /etc /var/lib/etcd -xdev -name '.*.provision-*' 2>/dev/null; true";

export interface SoakOptions {
  runs: number;
  /** Working directory for inventories. */
  dir: string;
  log?: (line: string) => void;
  /** Seed for the choice of moment and member (printed, so a run can be repeated). */
  seed?: number;
}

/** A small seeded PRNG (mulberry32): the soak's random choices can be replayed from the seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function soak(o: SoakOptions): Promise<SoakFigures> {
  const log = o.log ?? (() => {});
  const seed = o.seed ?? Math.floor(Math.random() * 2 ** 31);
  const rnd = prng(seed);
  log(`soak: ${o.runs} runs, seed ${seed}`);
  const members = etcdNodes();
  const vars = { connect_timeout: 5, keepalive_interval: 1, command_timeout: 120 };
  const inventories: Record<'address' | 'any', string> = {
    address: writeInventory(o.dir, 'soak-address', { vars }),
    any: writeInventory(o.dir, 'soak-any', { vars }),
  };
  // Same cluster, listening on 0.0.0.0: a different etcd.conf on every member.
  const anyDoc = YAML.parse(fs.readFileSync(inventories.any, 'utf8')) as { cluster: Record<string, unknown> };
  anyDoc.cluster.listen = 'any';
  fs.writeFileSync(inventories.any, YAML.stringify(anyDoc));

  const figures: SoakFigures = {
    runs: 0,
    faultsInjected: 0,
    faultsDuringRun: 0,
    byKind: { stop: 0, cut: 0, sshd: 0, 'etcd-kill': 0 },
    faultRunsSucceeded: 0,
    runsRecovered: 0,
    keysWritten: 0,
    writesUnacknowledged: 0,
    keysLost: 0,
    filesHalfWritten: 0,
    problems: [],
  };

  const converge = async (mode: 'address' | 'any') => provision([inventories[mode]]);
  const healthy = async (): Promise<boolean> => {
    for (const m of members) {
      try {
        const r = await gateway(m.address, 'cluster/member/list', {}, 10_000);
        if (((r.members as unknown[] | undefined) ?? []).length !== 3) return false;
        await gateway(m.address, 'kv/range', { key: b64('soak-health') }, 10_000);
      } catch {
        return false;
      }
    }
    return true;
  };

  // The two complete renderings of every member's etcd.conf, from converged runs.
  const renderings = new Map<string, Set<string>>(members.map((m) => [m.name, new Set<string>()]));
  let changingRunMs = 0;
  for (const mode of ['any', 'address', 'any', 'address'] as const) {
    const r = await converge(mode);
    if (r.code !== 0) throw new Error(`the soak's setup converge (listen: ${mode}) failed:\n${r.stdout}\n${r.stderr}`);
    for (const m of members) renderings.get(m.name)!.add((await lab.exec(m.name, ['cat', CONF])).stdout);
    changingRunMs = r.ms;
  }
  // A fault lands at a random moment within what a run that changes the members takes here
  // (measured, not assumed): most land while the run is going; the figures say how many.
  const spanMs = Math.max(1000, changingRunMs);
  log(`a converge that rewrites etcd.conf and restarts the members took ${changingRunMs} ms here; faults land within that`);

  const checkFiles = async (when: string) => {
    for (const m of members) {
      const conf = await lab.exec(m.name, ['cat', CONF]);
      if (conf.code !== 0 || !renderings.get(m.name)!.has(conf.stdout)) {
        figures.filesHalfWritten++;
        figures.problems.push(`${when}: ${m.name}:${CONF} is neither complete rendering (${conf.stdout.length} bytes)`);
      }
      const temps = (await lab.exec(m.name, ['sh', '-c', TEMP_FIND])).stdout.trim();
      if (temps) {
        const files = temps.split('\n');
        figures.filesHalfWritten += files.length;
        figures.problems.push(`${when}: ${m.name}: temporary files left: ${files.join(', ')}`);
      }
    }
  };

  const writer = new Writer(
    members.map((m) => m.address),
    `soak/${Date.now()}/`,
  );
  writer.start();
  let mode: 'address' | 'any' = 'address';
  try {
    for (let i = 0; i < o.runs; i++) {
      mode = mode === 'address' ? 'any' : 'address';
      const kind = FAULT_KINDS[i % FAULT_KINDS.length]!;
      const victim = members[Math.floor(rnd() * members.length)]!.name;
      const delayMs = Math.floor(rnd() * spanMs);
      figures.runs++;
      const live = startProvision([inventories[mode]]);
      let running = true;
      void live.done.then(() => (running = false));
      await sleep(delayMs);
      const during = running;
      if (during) figures.faultsDuringRun++;
      switch (kind) {
        case 'stop':
          await lab.stopNode(victim);
          break;
        case 'cut':
          await lab.cutNetwork(victim);
          break;
        case 'sshd':
          await lab.exec(victim, ['systemctl', 'restart', 'ssh']);
          break;
        case 'etcd-kill':
          await lab.exec(victim, ['systemctl', 'kill', '--signal=SIGKILL', 'etcd']);
          break;
      }
      figures.faultsInjected++;
      figures.byKind[kind]++;
      const faultRun = await live.done;
      if (faultRun.code === 0) figures.faultRunsSucceeded++;
      // Heal: the node back up, its network back.
      if (kind === 'stop') await lab.startNode(victim);
      if (kind === 'cut') await lab.restoreNetwork(victim);
      await checkFiles(`run ${i + 1} after ${kind} on ${victim} at ${delayMs} ms`);
      const rec = await converge(mode);
      const ok = rec.code === 0 && (await healthy());
      if (ok) figures.runsRecovered++;
      else
        figures.problems.push(
          `run ${i + 1} (${kind} on ${victim} at ${delayMs} ms): recovery run exit ${rec.code}\n${rec.stdout
            .split('\n')
            .filter((l) => /fatal|failed|unreachable|error/i.test(l))
            .slice(0, 10)
            .join('\n')}`,
        );
      await checkFiles(`run ${i + 1} after recovery`);
      log(
        `run ${i + 1}/${o.runs}: ${kind} on ${victim} at ${delayMs} ms${during ? '' : ' (after the run ended)'}, fault run exit ${faultRun.code}, recovery ${ok ? 'ok' : `FAILED (exit ${rec.code})`}, keys written ${writer.acked.size}`,
      );
    }
  } finally {
    await writer.stop();
    for (const m of members) {
      await lab.restoreNetwork(m.name).catch(() => undefined);
      if (!lab.status().nodes.find((s) => s.name === m.name)?.running) await lab.startNode(m.name);
    }
  }
  figures.keysWritten = writer.acked.size;
  figures.writesUnacknowledged = writer.unacked;
  const lost = await writer.lost();
  figures.keysLost = lost.length;
  if (lost.length) figures.problems.push(`keys lost: ${lost.slice(0, 10).join(', ')}${lost.length > 10 ? ', ...' : ''}`);
  return figures;
}

export function formatFigures(f: SoakFigures): string {
  return [
    `runs:                  ${f.runs}`,
    `faults injected:       ${f.faultsInjected} (${FAULT_KINDS.map((k) => `${k} ${f.byKind[k]}`).join(', ')}; ${f.faultsDuringRun} while the run was going)`,
    `fault runs that still succeeded: ${f.faultRunsSucceeded}`,
    `runs that recovered:   ${f.runsRecovered}`,
    `keys written:          ${f.keysWritten} (writes unacknowledged during faults: ${f.writesUnacknowledged})`,
    `keys lost:             ${f.keysLost}`,
    `files half-written:    ${f.filesHalfWritten}`,
    ...f.problems.map((p) => `problem: ${p}`),
  ].join('\n');
}

export const soakRuns = (fallback: number): number => {
  const raw = process.env.PROVISION_SOAK_RUNS;
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`PROVISION_SOAK_RUNS must be a whole number >= 1, not "${raw}"`);
  return n;
};
