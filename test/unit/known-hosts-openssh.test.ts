/**
 * Host keys as OpenSSH matches them, checked against entries made by OpenSSH itself:
 * `ssh-keygen -H` lower-cases a name before hashing it, and ssh lower-cases the host name it
 * looks up, so a key recorded for `DB1.Example.COM` is that host's key under every spelling,
 * and a changed key is refused under every spelling and both policies.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkHostKey, knownKeyTypes, appendKnownHost } from '../../src/connection/known-hosts.js';
import { hostKeyAlgorithms, verifyHostKey } from '../../src/connection/ssh.js';
import { ProvisionError } from '../../src/errors.js';

let dir: string;
/** Public key blob and known_hosts key text of a fresh ed25519 key made by ssh-keygen. */
function keygen(name: string): { line: string; blob: Buffer } {
  const f = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', '', '-f', f]);
  const [type, b64] = readFileSync(`${f}.pub`, 'utf8').trim().split(' ');
  return { line: `${type} ${b64}`, blob: Buffer.from(b64!, 'base64') };
}

/** A known_hosts file written with these names as given, then hashed by `ssh-keygen -H`. */
function hashedFile(name: string, lines: string[]): string {
  const f = join(dir, name);
  writeFileSync(f, lines.join('\n') + '\n');
  execFileSync('ssh-keygen', ['-H', '-f', f], { stdio: 'ignore' });
  const text = readFileSync(f, 'utf8');
  expect(text).not.toMatch(/example|Mixed/i); // really hashed
  return f;
}

let known: { line: string; blob: Buffer };
let other: { line: string; blob: Buffer };
let ca: { line: string; blob: Buffer };
let hashed: string;
let plain: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kh-openssh-'));
  known = keygen('known');
  other = keygen('other');
  ca = keygen('ca');
  const lines = [`DB1.Example.COM ${known.line}`, `[Mixed.Host.Example]:2222 ${known.line}`];
  hashed = hashedFile('hashed', lines);
  plain = join(dir, 'plain');
  writeFileSync(plain, lines.join('\n') + '\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const spellings: [string, number][] = [
  ['DB1.Example.COM', 22],
  ['db1.example.com', 22],
  ['DB1.EXAMPLE.COM', 22],
  ['Mixed.Host.Example', 2222],
  ['mixed.host.example', 2222],
  ['MIXED.HOST.EXAMPLE', 2222],
];

describe('entries hashed by ssh-keygen -H, and the same entries in plain text', () => {
  for (const kind of ['hashed', 'plain'] as const) {
    it.each(spellings)(`${kind}: %s port %i: its key matches, another key is a mismatch`, async (host, port) => {
      const f = kind === 'hashed' ? hashed : plain;
      expect((await checkHostKey([f], host, port, 'ssh-ed25519', known.blob)).status).toBe('match');
      expect((await checkHostKey([f], host, port, 'ssh-ed25519', other.blob)).status).toBe('mismatch');
      expect(await knownKeyTypes([f], host, port)).toEqual(['ssh-ed25519']);
    });
  }
  it('ssh-keygen -F finds a hashed entry by the lower-cased name (what ssh looks up)', () => {
    expect(execFileSync('ssh-keygen', ['-F', 'db1.example.com', '-f', hashed]).toString()).toMatch(/found: line 1/);
  });
});

const target = (address: string, port: number) => ({ name: 'db1', address, port, user: 'root' });

async function refusal(p: Promise<void>): Promise<ProvisionError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(ProvisionError);
  return e as ProvisionError;
}

describe('a changed key is refused under every spelling and both policies', () => {
  for (const policy of ['strict', 'accept-new'] as const) {
    it.each(spellings)(`${policy}: %s port %i`, async (host, port) => {
      const f = join(dir, `copy-${policy}-${host}-${port}`);
      writeFileSync(f, readFileSync(hashed));
      const before = readFileSync(f, 'utf8');
      const e = await refusal(verifyHostKey(target(host, port), [f], policy, other.blob));
      expect(e.code).toBe('HOSTKEY');
      expect(e.message).toMatch(/REMOTE HOST IDENTIFICATION HAS CHANGED/);
      expect(readFileSync(f, 'utf8')).toBe(before); // nothing appended
      await verifyHostKey(target(host, port), [f], policy, known.blob); // the right key passes
    });
  }

  it('accept-new records a new host in lower case, as ssh does, and knows it under every spelling', async () => {
    const f = join(dir, 'new-host');
    await verifyHostKey(target('New.Example', 2200), [f], 'accept-new', known.blob);
    expect(readFileSync(f, 'utf8')).toBe(`[new.example]:2200 ${known.line}\n`);
    for (const h of ['new.example', 'NEW.EXAMPLE']) {
      expect((await checkHostKey([f], h, 2200, 'ssh-ed25519', known.blob)).status).toBe('match');
      const e = await refusal(verifyHostKey(target(h, 2200), [f], 'accept-new', other.blob));
      expect(e.message).toMatch(/HAS CHANGED/);
    }
    expect(await appendKnownHost(f, 'NEW.example', 2200, 'ssh-ed25519', known.blob)).toEqual({ status: 'match' });
  });
});

describe('@cert-authority and @revoked', () => {
  it('a host vouched for by a @cert-authority line is refused under both policies, never trusted on first use', async () => {
    for (const policy of ['strict', 'accept-new'] as const) {
      const f = join(dir, `ca-${policy}`);
      writeFileSync(f, `@cert-authority *.CA.Example ${ca.line}\n`);
      const e = await refusal(verifyHostKey(target('Node1.ca.example', 22), [f], policy, known.blob));
      expect(e.code).toBe('HOSTKEY');
      expect(e.message).toMatch(/@cert-authority/);
      expect(e.message).toMatch(/host certificates/);
      expect(e.message).toContain(`${f}:1`);
      expect(readFileSync(f, 'utf8')).toBe(`@cert-authority *.CA.Example ${ca.line}\n`); // not appended
    }
  });

  it('a @cert-authority host whose plain key is also recorded is accepted with that key only', async () => {
    const f = join(dir, 'ca-and-key');
    writeFileSync(f, `@cert-authority *.ca.example ${ca.line}\nnode2.ca.example ${known.line}\n`);
    await verifyHostKey(target('NODE2.ca.example', 22), [f], 'accept-new', known.blob);
    expect((await refusal(verifyHostKey(target('node2.ca.example', 22), [f], 'accept-new', other.blob))).message).toMatch(/HAS CHANGED/);
  });

  it('a @revoked key is refused under both policies, whatever the spelling, even when also recorded as known', async () => {
    const f = join(dir, 'revoked');
    writeFileSync(f, `@revoked DB1.example.com ${known.line}\ndb1.example.com ${known.line}\n`);
    for (const policy of ['strict', 'accept-new'] as const) {
      for (const h of ['db1.example.com', 'DB1.EXAMPLE.COM']) {
        expect((await refusal(verifyHostKey(target(h, 22), [f], policy, known.blob))).message).toMatch(/@revoked/);
      }
    }
    // A revoked key for a host not otherwise known: refused too, not trusted on first use.
    const g = join(dir, 'revoked-only');
    writeFileSync(g, `@revoked * ${other.line}\n`);
    expect((await refusal(verifyHostKey(target('fresh.example', 22), [g], 'accept-new', other.blob))).message).toMatch(/@revoked/);
    expect(readFileSync(g, 'utf8')).toBe(`@revoked * ${other.line}\n`);
  });
});

describe('host key algorithms', () => {
  it('never offer ssh-rsa (SHA-1) or ssh-dss, even for a host known by an RSA key; rsa-sha2-512/256 are offered', () => {
    for (const known of [[], ['ssh-rsa'], ['ssh-dss'], ['ssh-ed25519', 'ssh-rsa']]) {
      const algos = hostKeyAlgorithms(known);
      expect(algos).not.toContain('ssh-rsa');
      expect(algos).not.toContain('ssh-dss');
      expect(algos).toContain('rsa-sha2-512');
      expect(algos).toContain('rsa-sha2-256');
    }
    expect(hostKeyAlgorithms(['ssh-rsa']).slice(0, 2)).toEqual(['rsa-sha2-512', 'rsa-sha2-256']);
  });
});
