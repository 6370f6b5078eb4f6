import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  appendKnownHost,
  checkHostKey,
  checkHostKeyIn,
  entriesForHost,
  fingerprint,
  hostFieldMatches,
  knownKeyTypes,
  parseKnownHosts,
  wildcardMatch,
} from '../../src/connection/known-hosts.js';

/** A fake SSH public key blob: string keytype, then random bytes. */
function blob(type: string): Buffer {
  const t = Buffer.from(type);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(t.length);
  return Buffer.concat([len, t, randomBytes(32)]);
}

function hashed(name: string): string {
  const salt = randomBytes(20);
  const h = createHmac('sha1', salt).update(name).digest();
  return `|1|${salt.toString('base64')}|${h.toString('base64')}`;
}

const ED = 'ssh-ed25519';
const RSA = 'ssh-rsa';
const k = {
  plain: blob(ED),
  list: blob(ED),
  port: blob(ED),
  hashed: blob(ED),
  hashedPort: blob(ED),
  wild: blob(ED),
  neg: blob(ED),
  revoked: blob(ED),
  ca: blob(ED),
  rsaOnly: blob(RSA),
  other: blob(ED),
};
const b64 = (b: Buffer) => b.toString('base64');

let dir: string;
let file: string;
let file2: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kh-'));
  file = join(dir, 'known_hosts');
  file2 = join(dir, 'known_hosts2');
  writeFileSync(
    file,
    [
      '# comment',
      '',
      `plain.example ${ED} ${b64(k.plain)} root@somewhere`,
      `a.example,10.0.0.5,b.example ${ED} ${b64(k.list)}`,
      `[10.0.0.6]:2222 ${ED} ${b64(k.port)}`,
      `${hashed('hashed.example')} ${ED} ${b64(k.hashed)}`,
      `${hashed('[10.0.0.7]:2200')} ${ED} ${b64(k.hashedPort)}`,
      `*.wild.example,!bad.wild.example ${ED} ${b64(k.wild)}`,
      `node?.neg.example,!node3.neg.example ${ED} ${b64(k.neg)}`,
      `@revoked revoked.example ${ED} ${b64(k.revoked)}`,
      `revoked.example ${ED} ${b64(k.revoked)}`,
      `@cert-authority *.ca.example ${ED} ${b64(k.ca)}`,
      `rsa.example ${RSA} ${b64(k.rsaOnly)}`,
      'garbage line',
      `broken.example ${ED} !!!notbase64`,
    ].join('\n'),
  );
  writeFileSync(file2, `second.example ${ED} ${b64(k.other)}\n`);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('fingerprint', () => {
  it('is OpenSSH style SHA256 base64 without padding', () => {
    const fp = fingerprint(k.plain);
    expect(fp).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(fp).toBe('SHA256:' + createHash('sha256').update(k.plain).digest('base64').replace(/=+$/, ''));
  });
});

describe('patterns', () => {
  it.each([
    ['*', 'anything', true],
    ['*.example', 'a.example', true],
    ['*.example', 'example', false],
    ['node?', 'node1', true],
    ['node?', 'node12', false],
    ['a*b*c', 'aXXbYYc', true],
    ['a*b*c', 'aXXbYY', false],
    ['HOST', 'host', true],
  ])('wildcardMatch(%j, %j) = %s', (p, v, want) => expect(wildcardMatch(p, v)).toBe(want));

  it('negation vetoes a line', () => {
    expect(hostFieldMatches('*.x,!bad.x', 'good.x')).toBe(true);
    expect(hostFieldMatches('*.x,!bad.x', 'bad.x')).toBe(false);
    expect(hostFieldMatches('!bad.x', 'good.x')).toBe(false);
  });

  it('parses markers and skips malformed lines', () => {
    const e = parseKnownHosts(readFileSync(file, 'utf8'), file);
    expect(e.map((x) => x.line)).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
    expect(e.find((x) => x.line === 10)!.marker).toBe('revoked');
    expect(e.find((x) => x.line === 12)!.marker).toBe('cert-authority');
  });
});

describe('checkHostKey', () => {
  const cases: [string, string, number, Buffer, string][] = [
    ['plain host', 'plain.example', 22, k.plain, 'match'],
    ['comma list member', '10.0.0.5', 22, k.list, 'match'],
    ['comma list other member', 'b.example', 22, k.list, 'match'],
    ['[host]:port', '10.0.0.6', 2222, k.port, 'match'],
    ['[host]:port does not apply to port 22', '10.0.0.6', 22, k.port, 'unknown'],
    ['plain entry does not apply to another port', 'plain.example', 2222, k.plain, 'unknown'],
    ['hashed entry', 'hashed.example', 22, k.hashed, 'match'],
    ['hashed [host]:port entry', '10.0.0.7', 2200, k.hashedPort, 'match'],
    ['hashed entry, wrong key', 'hashed.example', 22, k.other, 'mismatch'],
    ['wildcard', 'x.wild.example', 22, k.wild, 'match'],
    ['negated wildcard', 'bad.wild.example', 22, k.wild, 'unknown'],
    ['? wildcard', 'node1.neg.example', 22, k.neg, 'match'],
    ['negated ?', 'node3.neg.example', 22, k.neg, 'unknown'],
    ['revoked key', 'revoked.example', 22, k.revoked, 'revoked'],
    ['a host under @cert-authority with no key of its own', 'h.ca.example', 22, k.ca, 'cert-authority'],
    ['unknown host', 'nowhere.example', 22, k.plain, 'unknown'],
    ['changed key', 'plain.example', 22, k.other, 'mismatch'],
    ['host known only with another key type', 'rsa.example', 22, k.other, 'mismatch'],
    ['second file', 'second.example', 22, k.other, 'match'],
  ];
  it.each(cases)('%s', async (_name, host, port, key, want) => {
    const r = await checkHostKey([file, file2, join(dir, 'missing')], host, port, key.subarray(4, 4 + key.readUInt32BE(0)).toString(), key);
    expect(r.status).toBe(want);
  });

  it('reports file:line and the expected fingerprints on mismatch', async () => {
    const r = await checkHostKey([file], 'plain.example', 22, ED, k.other);
    expect(r).toEqual({ status: 'mismatch', file, line: 3, expectedFingerprints: [`ED25519 ${fingerprint(k.plain)}`] });
  });

  it('lists the key types known for a host', async () => {
    expect(await knownKeyTypes([file], 'rsa.example', 22)).toEqual([RSA]);
    expect(await knownKeyTypes([file], '10.0.0.6', 2222)).toEqual([ED]);
    expect(await knownKeyTypes([file], 'nowhere', 22)).toEqual([]);
  });
});

describe('lookup over many lines', () => {
  it('finds what trying every line finds, in file order, for every kind of line (plain, lists, ports, wildcards, negations, hashed, markers)', () => {
    // A known_hosts of 3,000 lines of every kind, and 400 names looked up in it twice (the
    // index's remembered answers too), against the definition: every line whose host field matches.
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const names = Array.from({ length: 400 }, (_, i) => (i % 5 === 0 ? `[10.1.${i % 7}.${i}]:2222` : i % 3 ? `10.1.${i % 7}.${i}` : `Node${i}.Lab`));
    const keys = [ED, 'ssh-rsa', 'ecdsa-sha2-nistp256'].map((t) => ({ t, b: blob(t) }));
    const lines: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const n = names[rnd(names.length)]!;
      const m = names[rnd(names.length)]!;
      const k = keys[rnd(3)]!;
      const host = [
        n,
        `${n},${m}`,
        `${n.toUpperCase()},other`,
        hashed(n.toLowerCase()),
        `10.1.${rnd(7)}.*`,
        `10.1.?.${rnd(400)}`,
        `*,!${n}`,
        `${m},!${n}`,
        `node${rnd(400)}.lab`,
      ][rnd(9)]!;
      const marker = ['', '', '', '', '@revoked ', '@cert-authority '][rnd(6)]!;
      lines.push(`${marker}${host} ${k.t} ${k.b.toString('base64')}`);
    }
    const text = lines.join('\n') + '\n';
    const entries = parseKnownHosts(text, 'kh');
    const reference = (name: string) => entries.filter((e) => hostFieldMatches(e.hosts, name));
    let found = 0;
    for (let round = 0; round < 2; round++) {
      for (const raw of names) {
        const m = /^\[(.*)\]:(\d+)$/.exec(raw);
        const [host, port] = m ? [m[1]!, Number(m[2])] : [raw, 22];
        const name = m ? `[${host.toLowerCase()}]:${port}` : host.toLowerCase();
        const want = reference(name);
        expect(entriesForHost(entries, host, port)).toEqual(want.filter((e) => e.marker === undefined));
        found += want.length;
        for (const k of keys) {
          const got = checkHostKeyIn(entries, host, port, k.t, k.b);
          const revoked = want.some((e) => e.marker === 'revoked' && e.keyBlob.equals(k.b));
          const mine = want.filter((e) => e.marker === undefined);
          if (revoked) expect(got).toEqual({ status: 'revoked' });
          else if (mine.length === 0) expect(got.status).toBe(want.some((e) => e.marker === 'cert-authority') ? 'cert-authority' : 'unknown');
          else if (mine.some((e) => e.keyType === k.t && e.keyBlob.equals(k.b))) expect(got).toEqual({ status: 'match' });
          else expect(got).toMatchObject({ status: 'mismatch', line: (mine.find((e) => e.keyType === k.t) ?? mine[0])!.line });
        }
      }
    }
    // The lookups found something: the check above is not an empty one.
    expect(found).toBeGreaterThan(1000);
  });
});

describe('appendKnownHost', () => {
  it('creates the directory 0700 and the file 0600', async () => {
    const f = join(dir, 'new', '.ssh', 'known_hosts');
    const key = blob(ED);
    expect(await appendKnownHost(f, '10.1.1.1', 2222, ED, key)).toEqual({ status: 'added' });
    expect(statSync(join(dir, 'new', '.ssh')).mode & 0o777).toBe(0o700);
    expect(statSync(f).mode & 0o777).toBe(0o600);
    expect(readFileSync(f, 'utf8')).toBe(`[10.1.1.1]:2222 ${ED} ${b64(key)}\n`);
    expect((await checkHostKey([f], '10.1.1.1', 2222, ED, key)).status).toBe('match');
  });

  it('adds a missing final newline before appending', async () => {
    const f = join(dir, 'nonl');
    writeFileSync(f, `x.example ${ED} ${b64(k.plain)}`);
    await appendKnownHost(f, 'y.example', 22, ED, k.other);
    expect(readFileSync(f, 'utf8').split('\n')).toHaveLength(3);
    expect((await checkHostKey([f], 'x.example', 22, ED, k.plain)).status).toBe('match');
    expect((await checkHostKey([f], 'y.example', 22, ED, k.other)).status).toBe('match');
  });

  it('records a key exactly once under concurrency', async () => {
    const f = join(dir, 'concurrent');
    const key = blob(ED);
    const rs = await Promise.all(Array.from({ length: 20 }, () => appendKnownHost(f, '10.2.2.2', 22, ED, key)));
    expect(rs.filter((r) => r.status === 'added')).toHaveLength(1);
    expect(rs.filter((r) => r.status === 'match')).toHaveLength(19);
    expect(readFileSync(f, 'utf8').trim().split('\n')).toHaveLength(1);
  });

  it('records a key exactly once across processes (lock file)', async () => {
    const f = join(dir, 'multiproc');
    const key = blob(ED);
    const mod = new URL('../../src/connection/known-hosts.ts', import.meta.url).href;
    const script = join(dir, 'append.mts');
    writeFileSync(
      script,
      `import { appendKnownHost } from ${JSON.stringify(mod)};\n` +
        // start together, to make the race likely
        `await new Promise((r) => setTimeout(r, Number(process.argv[4]) - Date.now()));\n` +
        `const r = await appendKnownHost(process.argv[2], '10.9.9.9', 2022, 'ssh-ed25519', Buffer.from(process.argv[3], 'base64'));\n` +
        `console.log(r.status);\n`,
    );
    const { execFile } = await import('node:child_process');
    const startAt = String(Date.now() + 3000);
    const run = () =>
      new Promise<string>((res, rej) =>
        execFile(process.execPath, ['--import', 'tsx', script, f, b64(key), startAt], (err, out) => (err ? rej(err) : res(out.trim()))),
      );
    const outs = await Promise.all(Array.from({ length: 8 }, run));
    expect(outs.filter((o) => o === 'added')).toHaveLength(1);
    expect(outs.filter((o) => o === 'match')).toHaveLength(7);
    expect(readFileSync(f, 'utf8')).toBe(`[10.9.9.9]:2022 ${ED} ${b64(key)}\n`);
  });

  it('does not append when a different key appeared meanwhile', async () => {
    const f = join(dir, 'raced');
    writeFileSync(f, `10.3.3.3 ${ED} ${b64(k.plain)}\n`);
    const r = await appendKnownHost(f, '10.3.3.3', 22, ED, k.other);
    expect(r.status).toBe('mismatch');
    expect(readFileSync(f, 'utf8').trim().split('\n')).toHaveLength(1);
  });

  it('breaks a stale lock file', async () => {
    const f = join(dir, 'stale');
    writeFileSync(f + '.lock', '');
    const old = new Date(Date.now() - 60_000);
    const { utimesSync } = await import('node:fs');
    utimesSync(f + '.lock', old, old);
    expect((await appendKnownHost(f, '10.4.4.4', 22, ED, k.plain)).status).toBe('added');
  });
});
