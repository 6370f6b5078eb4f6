/**
 * Several read-only commands in one round trip (src/connection/batch.ts): the script run by a
 * real `sh`, each command's stdout, stderr and exit status given back exactly; and the
 * coalescing connection that sends exec() calls made together as one batch.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { batchScript, coalescing, parseBatch, probeScript, type RoundTrip } from '../../src/connection/batch.js';
import { shellJoin } from '../../src/connection/quote.js';
import type { Connection, ExecResult } from '../../src/connection/types.js';
import { FakeConnection } from '../helpers/fake-connection.js';

/** Runs a batch with sh, as a host would, and reads its results. */
const runLocally = (commands: readonly string[]) => {
  const b = batchScript(commands);
  const r = spawnSync('sh', ['-c', b.script], { input: "the batch's own stdin\n" });
  return { status: r.status, items: () => parseBatch(b, r.stdout, r.stderr, commands.length, 'local') };
};

describe('batchScript and parseBatch, run by sh', () => {
  it('gives each command its own stdout, stderr and exit status, binary and odd output included, in turn', () => {
    const commands = [
      shellJoin(['printf', '%s', 'no newline at the end']),
      'echo out; echo err >&2; exit 3',
      "printf '\\000\\001\\377 binary\\n'",
      'echo "3 0 5 0"  # looks like a frame header, and ends in a comment',
      'cat', // stdin is /dev/null: it must not read the batch's own stdin
      "sh -c 'kill -9 $$'", // killed by a signal: 128 + 9, as sh reports it
    ];
    const r = runLocally(commands);
    expect(r.status).toBe(0);
    const items = r.items();
    expect(items.map((i) => i.exitCode)).toEqual([0, 3, 0, 0, 0, 137]);
    expect(items[0]!.stdout.toString()).toBe('no newline at the end');
    expect(items[1]!.stdout.toString()).toBe('out\n');
    expect(items[1]!.stderr.toString()).toBe('err\n');
    expect([...items[2]!.stdout]).toEqual([0, 1, 0xff, ...Buffer.from(' binary\n')]);
    expect(items[3]!.stdout.toString()).toBe('3 0 5 0\n');
    expect(items[4]!.stdout.length).toBe(0);
  });

  it('runs a probe script in the batch shell itself: its return ends the probe, not the batch; a failing one fails alone', () => {
    const probe = (body: string, ...args: string[]) => probeScript(`p=$1\n${body}`, ...args);
    const commands = [
      probe('if [ "$p" = yes ]; then echo present; return 0; fi\necho never', 'yes'),
      probe('echo "arg: $p" >&2; return 4', "it's $(echo hostile)"),
      // The batch shell is still there, stdin still /dev/null, $1 not the probe's: the next commands run as before.
      'echo "after: ${1-unset}"; cat',
      probe('printf %s "$p"; cat', 'last'),
      probe('exit 5'), // a probe script must return: an exit would end the batch, which the parser reports
    ];
    const r = runLocally(commands.slice(0, 4));
    expect(r.status).toBe(0);
    const items = r.items();
    expect(items.map((i) => i.exitCode)).toEqual([0, 4, 0, 0]);
    expect(items[0]!.stdout.toString()).toBe('present\n');
    expect(items[1]!.stderr.toString()).toBe("arg: it's $(echo hostile)\n");
    expect(items[2]!.stdout.toString()).toBe('after: unset\n');
    expect(items[3]!.stdout.toString()).toBe('last');
    expect(() => runLocally(commands).items()).toThrow(/ends early|no start of result/);
  });

  it("output that looks like another batch's framing is only output (the boundary is random)", () => {
    const other = batchScript(['true']).boundary;
    const r = runLocally([`printf '%s\\n' '${other} 0 exit 5'`, 'true']);
    expect(r.items()[0]!.stdout.toString()).toBe(`${other} 0 exit 5\n`);
    expect(r.items().map((i) => i.exitCode)).toEqual([0, 0]);
  });

  it('refuses output whose framing is not what the script writes', () => {
    const b = { boundary: 'B' };
    expect(() => parseBatch(b, Buffer.from('B 0\nab'), Buffer.from('B 0\n\nB 0 end\n'), 1, 'h')).toThrow(/ends early/);
    expect(() => parseBatch(b, Buffer.from('garbage\n'), Buffer.from(''), 1, 'h')).toThrow(/unexpected output/);
    expect(() => parseBatch(b, Buffer.from('B 0\n\nB 0 exit 0\n'), Buffer.from('B 0\n\nB 0 end\n'), 2, 'h')).toThrow(/no start of result 1/);
    expect(parseBatch(b, Buffer.from('B 0\nab\nB 0 exit 7\n'), Buffer.from('B 0\nerr\nB 0 end\n'), 1, 'h')).toEqual([
      { exitCode: 7, stdout: Buffer.from('ab'), stderr: Buffer.from('err') },
    ]);
  });
});

/** A fake host that can also run batches (as an SSH connection can), running them with sh. */
function batchingHost(): { conn: Connection; batches: string[][]; singles: string[] } {
  const batches: string[][] = [];
  const singles: string[] = [];
  const fake = new FakeConnection('h', (command) => {
    const r = spawnSync('sh', ['-c', command]);
    return { exitCode: r.status ?? 1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
  });
  const conn: Connection = {
    host: 'h',
    exec: (c, o) => (singles.push(c), fake.exec(c, o)),
    async execMany(cs) {
      batches.push([...cs]);
      return runLocally(cs)
        .items()
        .map((x, i): ExecResult => ({ command: cs[i]!, exitCode: x.exitCode, stdout: x.stdout.toString(), stderr: x.stderr.toString(), durationMs: 0 }));
    },
    readFile: (p) => fake.readFile(p),
    writeFile: (p, c, o) => fake.writeFile(p, c, o),
    close: () => fake.close(),
  };
  return { conn, batches, singles };
}

describe('coalescing', () => {
  it('sends exec calls made together as one batch; each caller gets its own result', async () => {
    const h = batchingHost();
    const rounds: RoundTrip[] = [];
    const c = coalescing(h.conn, (r) => rounds.push(r));
    const [a, b, d] = await Promise.all([c.exec('echo a'), c.exec('echo b >&2; exit 4'), c.exec('echo d')]);
    expect([a.stdout, b.stderr, b.exitCode, d.stdout]).toEqual(['a\n', 'b\n', 4, 'd\n']);
    expect(h.batches).toEqual([['echo a', 'echo b >&2; exit 4', 'echo d']]);
    expect(h.singles).toEqual([]);
    expect(rounds).toHaveLength(1);
    expect(rounds[0]).toMatchObject({ batched: true, commands: ['echo a', 'echo b >&2; exit 4', 'echo d'], exitCodes: [0, 4, 0] });
  });

  it('a lone call, a call with stdin, or different become settings are not mixed into one batch', async () => {
    const h = batchingHost();
    const c = coalescing(h.conn);
    await c.exec('echo alone');
    await Promise.all([
      c.exec('cat', { stdin: 'x' }),
      c.exec('echo 1', { become: true }),
      c.exec('echo 2', { become: false }),
      c.exec('echo 3', { become: false }),
    ]);
    expect(h.singles).toEqual(['echo alone', 'cat', 'echo 1']);
    expect(h.batches).toEqual([['echo 2', 'echo 3']]);
  });

  it('the same command asked for twice in one batch runs once; both callers get its result', async () => {
    const h = batchingHost();
    const rounds: RoundTrip[] = [];
    const c = coalescing(h.conn, (r) => rounds.push(r));
    const [a, b, d] = await Promise.all([c.exec('echo $$'), c.exec('echo other'), c.exec('echo $$')]);
    expect(h.batches).toEqual([['echo $$', 'echo other']]);
    expect(a.stdout).toBe(d.stdout);
    expect(b.stdout).toBe('other\n');
    expect(rounds[0]!.commands).toEqual(['echo $$', 'echo other']);
    // Two asks of one command alone: one call, not a batch.
    const [x, y] = await Promise.all([c.exec('echo once'), c.exec('echo once')]);
    expect([x.stdout, y.stdout]).toEqual(['once\n', 'once\n']);
    expect(h.singles).toEqual(['echo once']);
  });

  it('become settings that come to the same on the host (logged in as the become user) share a batch', async () => {
    const h = batchingHost();
    const asked: (boolean | undefined)[] = [];
    h.conn.execMany = ((orig) => (cs: readonly string[], o?: { become?: boolean }) => (asked.push(o?.become), orig(cs)))(h.conn.execMany!);
    h.conn.usesSudo = () => false;
    const c = coalescing(h.conn);
    await Promise.all([c.exec('echo 1', { become: true }), c.exec('echo 2'), c.exec('echo 3', { become: false })]);
    expect(h.batches).toEqual([['echo 1', 'echo 2', 'echo 3']]);
    expect(asked).toEqual([false]);
    // Through sudo for become only: those calls go apart.
    h.conn.usesSudo = (b) => b === true;
    await Promise.all([c.exec('echo 4', { become: true }), c.exec('echo 5'), c.exec('echo 6', { become: false })]);
    expect(h.batches.slice(1)).toEqual([['echo 5', 'echo 6']]);
    expect(h.singles).toEqual(['echo 4']);
  });

  it('without execMany (a connection that cannot batch) every call runs as it is', async () => {
    const fake = new FakeConnection('f', (cmd) => ({ stdout: cmd }));
    const rounds: RoundTrip[] = [];
    const c = coalescing(fake, (r) => rounds.push(r));
    const rs = await Promise.all([c.exec('one'), c.exec('two')]);
    expect(rs.map((r) => r.stdout)).toEqual(['one', 'two']);
    expect(fake.commands).toEqual(['one', 'two']);
    expect(rounds.map((r) => r.batched)).toEqual([false, false]);
  });

  it('a batch that fails as a whole (connection lost) fails every caller', async () => {
    const h = batchingHost();
    h.conn.execMany = async () => {
      throw new Error('connection lost');
    };
    const c = coalescing(h.conn);
    const rs = await Promise.allSettled([c.exec('echo a'), c.exec('echo b')]);
    expect(rs.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });
});
