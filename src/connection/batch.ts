/**
 * Several read-only commands in one round trip: one remote shell runs them all at once (each
 * in its own subshell, stdin from /dev/null, output into a private temporary directory), waits
 * for them, then prints each one's exit status, stdout and stderr, length-prefixed, so that no
 * output can be mistaken for the framing. One channel and one round trip instead of N.
 *
 * `coalescing(conn)` makes this transparent: exec() calls made in the same turn of the event
 * loop (the facts a play's tasks ask for, the probes a verification makes at once) go out as
 * one batch when the connection can run one (Connection.execMany), each caller getting its own
 * result as if it had run alone.
 */
import { ProvisionError } from '../errors.js';
import type { Connection, ExecOptions, ExecResult } from './types.js';

/** Exit status of the batch script when it cannot make its temporary directory. */
export const BATCH_NO_TMP = 125;

/** The shell script that runs `commands` together and frames their results. */
export function batchScript(commands: readonly string[]): string {
  const lines = [
    `d=$(mktemp -d 2>/dev/null) || exit ${BATCH_NO_TMP}`,
    `trap 'rm -rf -- "$d"' EXIT`,
    ...commands.map((c, i) => `{ (\n${c}\n) </dev/null >"$d/o${i}" 2>"$d/e${i}"; echo $? >"$d/c${i}"; } &`),
    'wait',
    `for i in ${commands.map((_, i) => i).join(' ')}; do`,
    `  printf '%s %s %s %s\\n' "$i" "$(cat "$d/c$i")" $(wc -c <"$d/o$i") $(wc -c <"$d/e$i")`,
    `  cat "$d/o$i" "$d/e$i"`,
    'done',
  ];
  return lines.join('\n');
}

export interface BatchItem {
  exitCode: number;
  stdout: Buffer;
  stderr: Buffer;
}

/** Reads what batchScript printed; throws COMMAND when the framing is not as written. */
export function parseBatch(out: Buffer, count: number, host: string): BatchItem[] {
  const items: BatchItem[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    const nl = out.indexOf(0x0a, at);
    const head = nl < 0 ? '' : out.subarray(at, nl).toString('latin1');
    const m = /^(\d+) (\d+) (\d+) (\d+)$/.exec(head);
    if (!m || Number(m[1]) !== i) throw new ProvisionError('COMMAND', `${host}: unexpected output from a batch of ${count} commands (at result ${i}: ${JSON.stringify(head.slice(0, 80))})`);
    const [o, e] = [Number(m[3]), Number(m[4])];
    const start = nl + 1;
    if (start + o + e > out.length) throw new ProvisionError('COMMAND', `${host}: the output of a batch of ${count} commands ends early (result ${i})`);
    items.push({ exitCode: Number(m[2]), stdout: out.subarray(start, start + o), stderr: out.subarray(start + o, start + o + e) });
    at = start + o + e;
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
    if (waiting.length === 1 || !conn.execMany) {
      for (const w of waiting) single(w.command, opts).then(w.resolve, w.reject);
      return;
    }
    const t0 = Date.now();
    conn.execMany(waiting.map((w) => w.command), opts).then(
      (rs) => {
        onRound?.({ commands: waiting.map((w) => w.command), exitCodes: rs.map((r) => r.exitCode), durationMs: Date.now() - t0, batched: true });
        rs.forEach((r, i) => waiting[i]!.resolve(r));
      },
      (e) => waiting.forEach((w) => w.reject(e)),
    );
  };
  return {
    host: conn.host,
    exec(command, opts) {
      if (opts?.stdin !== undefined) return single(command, opts);
      const key = `${opts?.become ?? '-'} ${opts?.timeoutMs ?? '-'}`;
      return new Promise<ExecResult>((resolve, reject) => {
        let q = queues.get(key);
        if (!q) {
          queues.set(key, (q = { opts: { become: opts?.become, timeoutMs: opts?.timeoutMs }, waiting: [] }));
          setImmediate(() => flush(key));
        }
        q.waiting.push({ command, resolve, reject });
      });
    },
    execMany: conn.execMany?.bind(conn),
    readFile: (p, o) => conn.readFile(p, o),
    writeFile: (p, c, o) => conn.writeFile(p, c, o),
    close: () => conn.close(),
  };
}
