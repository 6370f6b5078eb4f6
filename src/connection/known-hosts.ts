/**
 * OpenSSH known_hosts: parsing, lookup and (for accept-new) appending.
 *
 * Supported: plain patterns, comma lists, `[host]:port`, hashed `|1|salt|hash` entries,
 * negation `!pattern`, wildcards `*` and `?`, `@revoked` (refuses the key) and
 * `@cert-authority` (reported: ssh2 cannot verify host certificates, so such a host is refused
 * unless its plain key is recorded as well; it is never trusted on first use).
 *
 * Host names are matched as OpenSSH does: ssh lower-cases the name it looks up, and
 * `ssh-keygen -H` lower-cases a name before hashing it, so `DB1.Example.com` is looked up as
 * `db1.example.com` in hashed and plain entries alike.
 */
import { createHash, createHmac } from 'node:crypto';
import { promises as fsp, constants as fsc } from 'node:fs';
import { dirname } from 'node:path';
import { homedir } from 'node:os';
import { sleep } from '../util/poll.js';

export type HostKeyCheck =
  | { status: 'match' }
  | { status: 'mismatch'; expectedFingerprints: string[]; file: string; line: number }
  | { status: 'unknown' }
  | { status: 'revoked' }
  /** No key recorded for the host, but a @cert-authority line covers it. */
  | { status: 'cert-authority'; file: string; line: number; caFingerprint: string };

export interface KnownHostEntry {
  file: string;
  line: number; // 1-based
  marker?: 'revoked' | 'cert-authority';
  /** The host field as written (comma list, or one hashed `|1|salt|hash`). */
  hosts: string;
  keyType: string;
  keyBlob: Buffer;
}

/** `SHA256:<base64 without padding>`, as `ssh-keygen -l` prints it. */
export function fingerprint(keyBlob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '');
}

/** `ED25519`, `RSA`, `ECDSA`, ... as OpenSSH names key types in messages. */
export function keyTypeLabel(keyType: string): string {
  if (keyType === 'ssh-ed25519') return 'ED25519';
  if (keyType === 'ssh-rsa' || keyType.startsWith('rsa-sha2-')) return 'RSA';
  if (keyType.startsWith('ecdsa-sha2-')) return 'ECDSA';
  if (keyType === 'ssh-dss') return 'DSA';
  if (keyType.startsWith('sk-ssh-ed25519')) return 'ED25519-SK';
  if (keyType.startsWith('sk-ecdsa')) return 'ECDSA-SK';
  return keyType.toUpperCase();
}

/** The key type name stored inside an SSH public key blob (its first string). */
export function keyTypeOfBlob(keyBlob: Buffer): string {
  if (keyBlob.length < 4) throw new Error('malformed SSH public key');
  const len = keyBlob.readUInt32BE(0);
  if (len > keyBlob.length - 4) throw new Error('malformed SSH public key');
  return keyBlob.subarray(4, 4 + len).toString('latin1');
}

/**
 * The name looked up in known_hosts: `host` for port 22, `[host]:port` otherwise, lower-cased
 * as ssh does before it looks a host up (and as `ssh-keygen -H` does before hashing).
 */
export function hostKeyName(host: string, port: number): string {
  const h = host.toLowerCase();
  return port === 22 ? h : `[${h}]:${port}`;
}

export function expandHome(file: string): string {
  if (file === '~') return homedir();
  if (file.startsWith('~/')) return homedir() + file.slice(1);
  return file;
}

/** Parse known_hosts text; malformed lines are skipped (as OpenSSH does). */
export function parseKnownHosts(text: string, file = '<known_hosts>'): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.replace(/\r$/, '').trim();
    if (raw === '' || raw.startsWith('#')) continue;
    const fields = raw.split(/[ \t]+/);
    let marker: KnownHostEntry['marker'];
    if (fields[0]!.startsWith('@')) {
      const m = fields.shift()!;
      if (m === '@revoked') marker = 'revoked';
      else if (m === '@cert-authority') marker = 'cert-authority';
      else continue; // unknown marker: ignore the line
    }
    if (fields.length < 3) continue;
    const [hosts, keyType, b64] = fields as [string, string, string];
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) continue;
    const keyBlob = Buffer.from(b64, 'base64');
    if (keyBlob.length === 0) continue;
    entries.push({ file, line: i + 1, marker, hosts, keyType, keyBlob });
  }
  return entries;
}

/** OpenSSH-style wildcard match (`*` any run, `?` one char), case-insensitive for host names. */
export function wildcardMatch(pattern: string, value: string): boolean {
  const p = pattern.toLowerCase();
  const v = value.toLowerCase();
  // iterative glob with backtracking on the last '*'
  let pi = 0;
  let vi = 0;
  let star = -1;
  let mark = 0;
  while (vi < v.length) {
    if (pi < p.length && (p[pi] === '?' || p[pi] === v[vi])) {
      pi++;
      vi++;
    } else if (pi < p.length && p[pi] === '*') {
      star = pi++;
      mark = vi;
    } else if (star !== -1) {
      pi = star + 1;
      vi = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.length && p[pi] === '*') pi++;
  return pi === p.length;
}

function hashedMatch(field: string, name: string): boolean {
  // |1|base64(salt)|base64(HMAC-SHA1(salt, name))
  const parts = field.split('|');
  if (parts.length !== 4 || parts[1] !== '1') return false;
  const salt = Buffer.from(parts[2]!, 'base64');
  const want = Buffer.from(parts[3]!, 'base64');
  if (salt.length === 0 || want.length !== 20) return false;
  const got = createHmac('sha1', salt).update(name).digest();
  return got.equals(want);
}

/** Does a known_hosts host field match `name` (already in `[host]:port` form when needed)? */
export function hostFieldMatches(field: string, name: string): boolean {
  if (field.startsWith('|')) return hashedMatch(field, name);
  let positive = false;
  for (const pat of field.split(',')) {
    if (pat === '') continue;
    if (pat.startsWith('!')) {
      if (wildcardMatch(pat.slice(1), name)) return false; // a negated match vetoes the line
    } else if (wildcardMatch(pat, name)) {
      positive = true;
    }
  }
  return positive;
}

/**
 * The entries of a list of files, parsed once while none of them changed (same inode, size,
 * mtime and ctime): a run over hundreds of hosts reads one known_hosts of hundreds of lines
 * once, not once per host, and the same array keeps its index (indexOf).
 */
const parsedLists = new Map<string, { stamps: string; entries: KnownHostEntry[] }>();

async function readEntries(files: readonly string[]): Promise<KnownHostEntry[]> {
  const found: { file: string; size: number; stamp: string }[] = [];
  for (const f of files) {
    const file = expandHome(f);
    try {
      const st = await fsp.stat(file);
      found.push({ file, size: st.size, stamp: `${file} ${st.ino} ${st.size} ${st.mtimeMs} ${st.ctimeMs}` });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  const key = files.join('\n');
  const stamps = found.map((x) => x.stamp).join('\n');
  const hit = parsedLists.get(key);
  if (hit && hit.stamps === stamps) return hit.entries;
  const entries: KnownHostEntry[] = [];
  // Kept only when no file changed while it was read.
  let unchanged = true;
  for (const { file, size } of found) {
    let text: string;
    try {
      text = await fsp.readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      unchanged = false;
      continue;
    }
    if (Buffer.byteLength(text) !== size) unchanged = false;
    entries.push(...parseKnownHosts(text, file));
  }
  if (unchanged) parsedLists.set(key, { stamps, entries });
  return entries;
}

/**
 * Where a name may match, over a list of entries: the lines whose patterns are all plain names
 * (most lines: `host`, `[host]:port`, `host,address`) by each name, and the others (hashed,
 * wildcards, negations) to try one by one, and the answers already given. A run over hundreds
 * of hosts looks each one up in a known_hosts of hundreds of lines: without it every lookup
 * tried every line (500 hosts: 0.37 s of the controller's CPU, and growing with the square).
 */
interface EntryIndex {
  byName: Map<string, number[]>;
  scan: number[];
  answers: Map<string, readonly KnownHostEntry[]>;
}
const indexes = new WeakMap<readonly KnownHostEntry[], EntryIndex>();

function indexOf(entries: readonly KnownHostEntry[]): EntryIndex {
  let ix = indexes.get(entries);
  if (ix) return ix;
  ix = { byName: new Map(), scan: [], answers: new Map() };
  for (let i = 0; i < entries.length; i++) {
    const pats = entries[i]!.hosts.split(',').filter((p) => p !== '');
    if (entries[i]!.hosts.startsWith('|') || pats.some((p) => /[*?]/.test(p) || p.startsWith('!'))) {
      ix.scan.push(i);
      continue;
    }
    for (const p of new Set(pats.map((x) => x.toLowerCase()))) {
      const list = ix.byName.get(p);
      if (list) list.push(i);
      else ix.byName.set(p, [i]);
    }
  }
  indexes.set(entries, ix);
  return ix;
}

/** The entries (any marker) whose host field matches `name`, in file order. */
function matching(entries: readonly KnownHostEntry[], name: string): readonly KnownHostEntry[] {
  const ix = indexOf(entries);
  let found = ix.answers.get(name);
  if (!found) {
    const at = [...(ix.byName.get(name) ?? []), ...ix.scan.filter((i) => hostFieldMatches(entries[i]!.hosts, name))];
    found = at.sort((a, b) => a - b).map((i) => entries[i]!);
    ix.answers.set(name, found);
  }
  return found;
}

/** Entries (not revoked, not CA) that apply to host:port. */
export function entriesForHost(entries: readonly KnownHostEntry[], host: string, port: number): KnownHostEntry[] {
  return matching(entries, hostKeyName(host, port)).filter((e) => e.marker === undefined);
}

/** The pure part of checkHostKey, over already parsed entries. */
export function checkHostKeyIn(entries: readonly KnownHostEntry[], host: string, port: number, keyType: string, keyBlob: Buffer): HostKeyCheck {
  const all = matching(entries, hostKeyName(host, port));
  // Revoked keys are refused whatever else the files say.
  if (all.some((e) => e.marker === 'revoked' && e.keyBlob.equals(keyBlob))) return { status: 'revoked' };
  const mine = all.filter((e) => e.marker === undefined);
  if (mine.length === 0) {
    // OpenSSH would ask for a certificate signed by this CA; ssh2 cannot verify one, and a
    // plain key is not what the CA vouches for: say so instead of treating the host as new.
    const ca = all.find((e) => e.marker === 'cert-authority');
    if (ca) return { status: 'cert-authority', file: ca.file, line: ca.line, caFingerprint: `${keyTypeLabel(ca.keyType)} ${fingerprint(ca.keyBlob)}` };
    return { status: 'unknown' };
  }
  if (mine.some((e) => e.keyType === keyType && e.keyBlob.equals(keyBlob))) return { status: 'match' };
  // The host is known, but not with this key. Prefer entries of the offered key type for the
  // report; a host known only under other key types is treated as changed too (we ask the server
  // for the known types first, so a server that no longer offers them is suspicious).
  const sameType = mine.filter((e) => e.keyType === keyType);
  const report = sameType.length > 0 ? sameType : mine;
  return {
    status: 'mismatch',
    expectedFingerprints: report.map((e) => `${keyTypeLabel(e.keyType)} ${fingerprint(e.keyBlob)}`),
    file: report[0]!.file,
    line: report[0]!.line,
  };
}

/** Look host:port up in the known_hosts files (missing files are fine). */
export async function checkHostKey(files: readonly string[], host: string, port: number, keyType: string, keyBlob: Buffer): Promise<HostKeyCheck> {
  return checkHostKeyIn(await readEntries(files), host, port, keyType, keyBlob);
}

/** Key types recorded for host:port, in file order, without duplicates. */
export async function knownKeyTypes(files: readonly string[], host: string, port: number): Promise<string[]> {
  const types: string[] = [];
  for (const e of entriesForHost(await readEntries(files), host, port)) {
    if (!types.includes(e.keyType)) types.push(e.keyType);
  }
  return types;
}

/** Per-process serialisation per file, under the cross-process lock file. */
const localQueues = new Map<string, Promise<unknown>>();

async function withLockFile<T>(file: string, fn: () => Promise<T>): Promise<T> {
  const lock = file + '.lock';
  const deadline = Date.now() + 15_000;
  let delay = 10;
  for (;;) {
    try {
      const h = await fsp.open(lock, fsc.O_CREAT | fsc.O_EXCL | fsc.O_WRONLY, 0o600);
      await h.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      // A lock left behind by a crashed writer is broken after 10 s.
      try {
        const st = await fsp.stat(lock);
        if (Date.now() - st.mtimeMs > 10_000) {
          await fsp.unlink(lock).catch(() => undefined);
          continue;
        }
      } catch {
        continue; // vanished meanwhile: retry at once
      }
      if (Date.now() > deadline) throw new Error(`cannot lock ${file}: ${lock} exists (remove it if no other provision run is active)`, { cause: e });
      await sleep(delay + Math.random() * delay);
      delay = Math.min(delay * 2, 500);
    }
  }
  try {
    return await fn();
  } finally {
    await fsp.unlink(lock).catch(() => undefined);
  }
}

/**
 * Record a new host key (accept-new). Under `<file>.lock` the file is re-read: if the key was
 * added meanwhile nothing is written ({status:'match'}); if a different key appeared, that
 * result ('mismatch'/'revoked') is returned and nothing is written. Otherwise one line is
 * appended with a single write() on an O_APPEND descriptor: {status:'added'}.
 * Creates the directory (0700) and the file (0600) when missing.
 */
export async function appendKnownHost(file: string, host: string, port: number, keyType: string, keyBlob: Buffer): Promise<HostKeyCheck | { status: 'added' }> {
  const path = expandHome(file);
  const prev = localQueues.get(path) ?? Promise.resolve();
  const run = prev
    .catch(() => undefined)
    .then(async () => {
      await fsp.mkdir(dirname(path), { recursive: true, mode: 0o700 });
      return withLockFile(path, async () => {
        let text = '';
        try {
          text = await fsp.readFile(path, 'utf8');
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        }
        const now = checkHostKeyIn(parseKnownHosts(text, path), host, port, keyType, keyBlob);
        if (now.status !== 'unknown') return now;
        const line = `${hostKeyName(host, port)} ${keyType} ${keyBlob.toString('base64')}\n`;
        const data = text !== '' && !text.endsWith('\n') ? '\n' + line : line;
        const h = await fsp.open(path, 'a', 0o600);
        try {
          await h.write(data);
        } finally {
          await h.close();
        }
        return { status: 'added' as const };
      });
    });
  localQueues.set(path, run);
  try {
    return await run;
  } finally {
    if (localQueues.get(path) === run) localQueues.delete(path);
  }
}
