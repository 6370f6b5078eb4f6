/**
 * Several read-only commands in one round trip: one remote shell runs them one after the other
 * (each in its own subshell, a probeScript in the shell itself; stdin from /dev/null) and
 * frames each one's stdout on stdout and its stderr on stderr between marker lines that carry
 * a random boundary (as MIME multipart does) and the exit status. No temporary files and no
 * helper processes: on a loaded host every extra process costs. One channel and one round trip
 * instead of N.
 *
 * `coalescing(conn)` makes this transparent: exec() calls made in the same turn of the event
 * loop (the facts a play's tasks ask for, the probes a verification makes at once) go out as
 * one batch when the connection can run one (Connection.execMany), each caller getting its own
 * result as if it had run alone. The same command asked for twice in a batch runs once (batches
 * hold read-only commands only), and calls whose become settings come to the same thing on the
 * host (become on a connection that logs in as the become user) share one batch. (In a batch,
 * `$$` is the batch shell's process id.)
 */
import { randomBytes } from 'node:crypto';
import { ProvisionError } from '../errors.js';
import { shellJoin } from './quote.js';
import type { Connection, ExecOptions, ExecResult } from './types.js';

export interface Batch {
  script: string;
  boundary: string;
}

const PROBE_FN = 'provision_probe';

/**
 * A probe's shell script and its arguments ($1...) as one command: a shell function, defined and
 * called, run by the shell the command reaches (the login shell, or sh -c under sudo) rather than
 * by a new `sh -c`. The script ends with `return`, never `exit`, and sets only its own variables,
 * so a batch runs it in its own shell without a subshell: no process at all for the probe's
 * own logic, only for the programs it calls.
 */
export const probeScript = (script: string, ...args: string[]): string => `${PROBE_FN}() {\n${script}\n}\n${PROBE_FN} ${shellJoin(args)}`;

/** The shell script that runs `commands` in turn and frames their results. */
export function batchScript(commands: readonly string[], boundary = `provision-batch-${randomBytes(12).toString('hex')}`): Batch {
  const lines = commands.map(
    (c, i) =>
      `printf '%s\\n' '${boundary} ${i}'; printf '%s\\n' '${boundary} ${i}' >&2\n` +
      // Any other command runs in a subshell: its exit, cd or set cannot reach the next one.
      (c.startsWith(`${PROBE_FN}() {\n`) ? `{\n${c}\n} </dev/null\n` : `(\n${c}\n) </dev/null\n`) +
      `printf '\\n%s %s\\n' '${boundary} ${i} exit' "$?"; printf '\\n%s\\n' '${boundary} ${i} end' >&2`,
  );
  return { script: lines.join('\n'), boundary };
}

export interface BatchItem {
  exitCode: number;
  stdout: Buffer;
  stderr: Buffer;
}

/** Reads what batchScript printed; throws COMMAND when the framing is not as written. */
export function parseBatch(b: Pick<Batch, 'boundary'>, stdout: Buffer, stderr: Buffer, count: number, host: string): BatchItem[] {
  const items: BatchItem[] = [];
  let o = 0;
  let e = 0;
  const bad = (what: string) => new ProvisionError('COMMAND', `${host}: unexpected output from a batch of ${count} commands (${what})`);
  for (let i = 0; i < count; i++) {
    const start = Buffer.from(`${b.boundary} ${i}\n`);
    if (!stdout.subarray(o, o + start.length).equals(start)) throw bad(`no start of result ${i} on stdout`);
    if (!stderr.subarray(e, e + start.length).equals(start)) throw bad(`no start of result ${i} on stderr`);
    o += start.length;
    e += start.length;
    const exitMark = Buffer.from(`\n${b.boundary} ${i} exit `);
    const x = stdout.indexOf(exitMark, o);
    if (x < 0) throw bad(`result ${i} ends early`);
    const nl = stdout.indexOf(0x0a, x + exitMark.length);
    const code = stdout.subarray(x + exitMark.length, nl < 0 ? undefined : nl).toString('latin1');
    if (nl < 0 || !/^\d+$/.test(code)) throw bad(`exit status of result ${i}`);
    const endMark = Buffer.from(`\n${b.boundary} ${i} end\n`);
    const y = stderr.indexOf(endMark, e);
    if (y < 0) throw bad(`result ${i} ends early on stderr`);
    items.push({ exitCode: Number(code), stdout: stdout.subarray(o, x), stderr: stderr.subarray(e, y) });
    o = nl + 1;
    e = y + endMark.length;
  }
  return items;
}

/** What a coalescing connection reports of each round trip it makes. */
export interface RoundTrip {
  /** The commands, as the callers gave them. */
  commands: string[];
  exitCodes: number[];
  durationMs: number;
  /** True when they went out as one batch (one remote command). */
  batched: boolean;
}

/**
 * The same connection, with exec() calls made in the same turn of the event loop sent as one
 * batch (only calls without stdin, with the same become and timeout). `onRound` hears of every
 * round trip, batched or not.
 */
export function coalescing(conn: Connection, onRound?: (r: RoundTrip) => void): Connection {
  type Waiting = { command: string; resolve: (r: ExecResult) => void; reject: (e: unknown) => void };
  const queues = new Map<string, { opts: ExecOptions; waiting: Waiting[] }>();
  const single = async (command: string, opts?: ExecOptions): Promise<ExecResult> => {
    const r = await conn.exec(command, opts);
    onRound?.({ commands: [command], exitCodes: [r.exitCode], durationMs: r.durationMs, batched: false });
    return r;
  };
  const flush = (key: string) => {
    const q = queues.get(key)!;
    queues.delete(key);
    const { waiting, opts } = q;
    const commands = [...new Set(waiting.map((w) => w.command))];
    const answer = (p: Promise<ExecResult[]>) =>
      p.then(
        (rs) => waiting.forEach((w) => w.resolve(rs[commands.indexOf(w.command)]!)),
        (e) => waiting.forEach((w) => w.reject(e)),
      );
    if (commands.length === 1 || !conn.execMany) {
      answer(Promise.all(commands.map((c) => single(c, opts))));
      return;
    }
    const t0 = Date.now();
    answer(
      conn.execMany(commands, opts).then((rs) => {
        onRound?.({ commands, exitCodes: rs.map((r) => r.exitCode), durationMs: Date.now() - t0, batched: true });
        return rs;
      }),
    );
  };
  return {
    host: conn.host,
    exec(command, opts) {
      if (opts?.stdin !== undefined || opts?.nodeLocale) return single(command, opts);
      const become = conn.usesSudo ? conn.usesSudo(opts?.become) : opts?.become;
      const key = `${become ?? '-'} ${opts?.timeoutMs ?? '-'}`;
      return new Promise<ExecResult>((resolve, reject) => {
        let q = queues.get(key);
        if (!q) {
          queues.set(key, (q = { opts: { become, timeoutMs: opts?.timeoutMs }, waiting: [] }));
          setImmediate(() => flush(key));
        }
        q.waiting.push({ command, resolve, reject });
      });
    },
    execMany: conn.execMany?.bind(conn),
    usesSudo: conn.usesSudo?.bind(conn),
    readFile: (p, o) => conn.readFile(p, o),
    writeFile: (p, c, o) => conn.writeFile(p, c, o),
    close: () => conn.close(),
  };
}
