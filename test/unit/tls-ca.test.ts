import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import type { ClusterSpec } from '../../src/inventory/types.js';
import { createRuntime } from '../../src/operations/runtime.js';
import { ensureClusterCerts, memberSans, opensslConfig, parseSans, type CertHost } from '../../src/tls/ca.js';

const root = mkdtempSync(join(tmpdir(), 'provision-tls-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const cluster = (dir: string, over: Partial<ClusterSpec> = {}): ClusterSpec => ({
  name: 'lab',
  members: ['etcd0', 'etcd1', 'etcd2'],
  bootstrap: 'dns',
  token: 't',
  dataDir: '/var/lib/etcd',
  clientPort: 2379,
  peerPort: 2380,
  listen: 'address',
  package: { name: 'etcd' },
  dns: { domain: 'lab.internal', server: 'infra' },
  tls: { dir },
  ...over,
});
const HOSTS: CertHost[] = [
  { name: 'etcd0', address: '10.88.0.10' },
  { name: 'etcd1', address: '10.88.0.11' },
  { name: 'etcd2', address: '10.88.0.12' },
];

const text = (path: string) => execFileSync('openssl', ['x509', '-in', path, '-noout', '-text'], { encoding: 'utf8' });
const mtime = (path: string) => statSync(path).mtimeMs;
const mode = (path: string) => statSync(path).mode & 0o777;

describe('memberSans', () => {
  const cases: { name: string; over: Partial<ClusterSpec>; host: CertHost; dns: string[]; ip: string[] }[] = [
    { name: 'dns mode', over: {}, host: HOSTS[0]!, dns: ['etcd0', 'localhost', 'etcd0.lab.internal', 'lab.internal'], ip: ['10.88.0.10', '127.0.0.1'] },
    { name: 'static mode: no FQDN', over: { bootstrap: 'static' }, host: HOSTS[1]!, dns: ['etcd1', 'localhost'], ip: ['10.88.0.11', '127.0.0.1'] },
    { name: 'loopback address once', over: { bootstrap: 'static' }, host: { name: 'a', address: '127.0.0.1' }, dns: ['a', 'localhost'], ip: ['127.0.0.1'] },
    { name: 'IPv6', over: { bootstrap: 'static' }, host: { name: 'b', address: 'fd00::1' }, dns: ['b', 'localhost'], ip: ['fd00::1', '127.0.0.1'] },
  ];
  it.each(cases)('$name', ({ over, host, dns, ip }) => {
    expect(memberSans(cluster('/x', over), host)).toEqual({ dns, ip });
  });
});

describe('parseSans', () => {
  it.each([
    ['DNS:a, IP Address:10.0.0.1', ['DNS:a', 'IP:10.0.0.1']],
    ['DNS:Etcd0.Lab, IP Address:FD00:0:0:0:0:0:0:1', ['DNS:etcd0.lab', 'IP:fd00::1']],
    ['', []],
  ])('%s', (input, want) => expect(parseSans(input)).toEqual(want));
});

describe('opensslConfig', () => {
  it('member: serverAuth+clientAuth and SANs', () => {
    const c = opensslConfig({ cn: 'etcd0', eku: ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'], sans: { dns: ['etcd0'], ip: ['10.0.0.1'] } });
    expect(c).toContain('extendedKeyUsage = serverAuth,clientAuth');
    expect(c).toContain('subjectAltName = DNS:etcd0,IP:10.0.0.1');
    expect(c).toContain('CN = etcd0');
  });
  it('CA', () => expect(opensslConfig({ cn: 'x CA', ca: true })).toContain('basicConstraints = critical,CA:TRUE'));
});

describe('ensureClusterCerts (openssl)', () => {
  const dir = join(root, 'pki', 'lab');
  const c = cluster(dir);
  const log: string[] = [];

  it('makes CA, member and client certificates with the wanted names and usages', async () => {
    const certs = await ensureClusterCerts(c, HOSTS, (l) => log.push(l));
    expect(certs.generated).toEqual(['ca', 'etcd0', 'etcd1', 'etcd2', 'client']);
    expect(mode(dir)).toBe(0o700);
    for (const n of ['ca', 'etcd0', 'etcd1', 'etcd2', 'client']) expect(mode(join(dir, `${n}.key`)), n).toBe(0o600);
    expect(certs.members.etcd1!.cert).toBe(readFileSync(join(dir, 'etcd1.crt'), 'utf8'));
    expect(certs.ca.certPath).toBe(join(dir, 'ca.crt'));

    const ca = text(join(dir, 'ca.crt'));
    expect(ca).toMatch(/CA:TRUE, pathlen:0/); // signs end-entity certificates only
    expect(ca).toContain('ASN1 OID: prime256v1');

    const m = text(join(dir, 'etcd0.crt'));
    expect(m).toContain('TLS Web Server Authentication, TLS Web Client Authentication');
    for (const s of ['DNS:etcd0', 'DNS:localhost', 'DNS:etcd0.lab.internal', 'DNS:lab.internal', 'IP Address:10.88.0.10', 'IP Address:127.0.0.1'])
      expect(m).toContain(s);
    expect(m).toContain('ecdsa-with-SHA256');
    expect(m).toContain('Issuer: CN = lab etcd CA');
    expect(m).not.toContain('etcd1');

    const cl = text(join(dir, 'client.crt'));
    expect(cl).toContain('TLS Web Client Authentication');
    expect(cl).not.toContain('TLS Web Server Authentication');

    // openssl agrees the chain holds.
    const v = execFileSync('openssl', ['verify', '-CAfile', join(dir, 'ca.crt'), join(dir, 'etcd0.crt'), join(dir, 'client.crt')], { encoding: 'utf8' });
    expect(v).toMatch(/etcd0.crt: OK[\s\S]*client.crt: OK/);
  });

  it('a re-run reuses everything (files untouched)', async () => {
    const before = ['ca', 'etcd0', 'etcd1', 'etcd2', 'client'].map((n) => [mtime(join(dir, `${n}.crt`)), mtime(join(dir, `${n}.key`))]);
    const certs = await ensureClusterCerts(c, HOSTS);
    expect(certs.generated).toEqual([]);
    expect(['ca', 'etcd0', 'etcd1', 'etcd2', 'client'].map((n) => [mtime(join(dir, `${n}.crt`)), mtime(join(dir, `${n}.key`))])).toEqual(before);
  });

  it('a changed address makes only that member certificate again', async () => {
    const before = mtime(join(dir, 'etcd0.crt'));
    const ca = readFileSync(join(dir, 'ca.crt'), 'utf8');
    const moved = HOSTS.map((h) => (h.name === 'etcd1' ? { ...h, address: '10.88.0.99' } : h));
    const lines: string[] = [];
    const certs = await ensureClusterCerts(c, moved, (l) => lines.push(l));
    expect(certs.generated).toEqual(['etcd1']);
    expect(lines.join('\n')).toContain('etcd1.crt (names changed');
    expect(text(join(dir, 'etcd1.crt'))).toContain('IP Address:10.88.0.99');
    expect(mtime(join(dir, 'etcd0.crt'))).toBe(before);
    expect(readFileSync(join(dir, 'ca.crt'), 'utf8')).toBe(ca);
  });

  it('a new member is added; a mode change is repaired without regenerating', async () => {
    chmodSync(join(dir, 'etcd0.key'), 0o644);
    const certs = await ensureClusterCerts(c, [...HOSTS, { name: 'etcd3', address: '10.88.0.13' }]);
    expect(certs.generated).toEqual(['etcd1', 'etcd3']);
    expect(mode(join(dir, 'etcd0.key'))).toBe(0o600);
  });

  it('certificates expiring within 30 days are made again; the CA (10 years) is kept', async () => {
    const ca = readFileSync(join(dir, 'ca.crt'), 'utf8');
    const lines: string[] = [];
    const later = Date.now() + 710 * 86_400_000;
    const certs = await ensureClusterCerts(c, HOSTS, (l) => lines.push(l), { now: () => later });
    expect(certs.generated).toEqual(['etcd0', 'etcd1', 'etcd2', 'client']);
    expect(lines[0]).toMatch(/etcd0.crt \(expires in (19|20) days\)/);
    expect(readFileSync(join(dir, 'ca.crt'), 'utf8')).toBe(ca);
  });

  it('a damaged key or a replaced CA makes what depends on it again', async () => {
    writeFileSync(join(dir, 'etcd2.key'), 'garbage\n', { mode: 0o600 });
    expect((await ensureClusterCerts(c, HOSTS)).generated).toEqual(['etcd2']);
    rmSync(join(dir, 'ca.key'));
    const certs = await ensureClusterCerts(c, HOSTS);
    expect(certs.generated).toEqual(['ca', 'etcd0', 'etcd1', 'etcd2', 'client']);
    expect((await ensureClusterCerts(c, HOSTS)).generated).toEqual([]);
  });

  it('a non-DNS cluster gets no FQDN', async () => {
    const d2 = join(root, 'static');
    await ensureClusterCerts(cluster(d2, { bootstrap: 'static', dns: undefined }), HOSTS.slice(0, 1));
    const m = text(join(d2, 'etcd0.crt'));
    expect(m).not.toContain('lab.internal');
    expect(m).toContain('DNS:etcd0, DNS:localhost');
  });

  it('refuses member names that collide with the CA or client files', async () => {
    await expect(ensureClusterCerts(c, [{ name: 'client', address: '10.0.0.1' }])).rejects.toThrow(/cannot name certificate files/);
    await expect(ensureClusterCerts(cluster(dir, { tls: undefined }), HOSTS)).rejects.toThrow(/no tls section/);
  });
});

describe('--check: certificates predicted without copying keys', () => {
  /**
   * Watches dir and every directory made under it, calling hit(path) on each event; the paths where it
   * returned true are in seen. Node 20's { recursive: true } watcher throws an uncaught ENOENT when a
   * directory is removed before it has scanned it (the prediction's temporary directories are), so
   * this one watches each directory on its own and lets one vanish quietly.
   */
  const watchTree = (dir: string, hit: (path: string) => boolean) => {
    const seen: string[] = [];
    const watchers: FSWatcher[] = [];
    const watched = new Set<string>();
    const isDir = (path: string) => {
      try {
        return statSync(path).isDirectory();
      } catch {
        return false; // gone already
      }
    };
    const visit = (path: string) => {
      if (hit(path)) seen.push(path);
      if (isDir(path)) add(path);
    };
    const add = (d: string) => {
      if (watched.has(d)) return;
      watched.add(d);
      try {
        const w = watch(d, (_ev, name) => name && visit(join(d, name)));
        w.on('error', () => {});
        watchers.push(w);
        // What was made in d before the watch began.
        readdirSync(d).forEach((name) => visit(join(d, name)));
      } catch {
        // gone before it could be watched or read
      }
    };
    add(dir);
    return { seen, close: () => watchers.forEach((w) => w.close()) };
  };

  /** Every file under dir (recursively), with its content. */
  const filesUnder = (dir: string): Map<string, string> => {
    const out = new Map<string, string>();
    for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
      if (e.isFile()) out.set(join(e.parentPath, e.name), readFileSync(join(e.parentPath, e.name), 'utf8'));
    }
    return out;
  };

  it('the watcher sees a secret written in a directory made while it watches, and a removed directory does not upset it', async () => {
    const top = mkdtempSync(join(root, 'watch-'));
    const watcher = watchTree(top, (path) => {
      try {
        return readFileSync(path, 'utf8').includes('SECRET');
      } catch {
        return false;
      }
    });
    try {
      for (let i = 0; i < 20; i++) {
        const d = mkdtempSync(join(top, 'gone-'));
        rmSync(d, { recursive: true });
      }
      const sub = mkdtempSync(join(top, 'sub-'));
      writeFileSync(join(sub, 'key'), 'SECRET\n');
      await vi.waitFor(() => expect(watcher.seen).toContain(join(sub, 'key')), { timeout: 30_000, interval: 20 });
    } finally {
      watcher.close();
    }
  });

  it('a missing member certificate is predicted as made; the CA key is never copied, the real directory is untouched, nothing is left', async () => {
    const dir = join(root, 'check-no-copy');
    await ensureClusterCerts(cluster(dir), HOSTS);
    rmSync(join(dir, 'etcd1.crt'));
    rmSync(join(dir, 'etcd1.key'));
    chmodSync(join(dir, 'etcd0.key'), 0o640); // a real run would fix this; --check must not
    const caKey = readFileSync(join(dir, 'ca.key'), 'utf8');
    const before = filesUnder(dir);
    const private_tmp = mkdtempSync(join(root, 'tmpdir-'));
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = private_tmp;
    const marker = caKey.trim().split('\n')[1]!;
    // Watch the temporary directory while the prediction is made: no file there may ever hold the CA key.
    const watcher = watchTree(private_tmp, (path) => {
      try {
        return readFileSync(path, 'utf8').includes(marker);
      } catch {
        return false; // a directory, or gone already
      }
    });
    try {
      const inventory = {
        file: join(root, 'inventory.yaml'),
        hosts: new Map(HOSTS.map((h) => [h.name, { name: h.name, connection: { address: h.address } }])),
      } as never;
      const rt = createRuntime({ check: true, inventory, log: () => {} });
      const c = cluster(dir, { members: HOSTS.map((h) => h.name) });
      const r = await rt.certs(c);
      expect(r.provisional).toMatch(/certificates not made yet \(etcd1\)/);
      expect(r.certs.ca.cert).toBe(before.get(join(dir, 'ca.crt')));
      expect(r.certs.members.etcd0!.cert).toBe(before.get(join(dir, 'etcd0.crt')));
      expect(r.certs.members.etcd1!.cert).toMatch(/BEGIN CERTIFICATE/);
      // Nothing made or kept on the controller, even before dispose().
      expect(filesUnder(private_tmp).size).toBe(0);
      for (const content of filesUnder(private_tmp).values()) expect(content).not.toContain(caKey);
      rt.dispose();
    } finally {
      watcher.close();
      process.env.TMPDIR = saved;
      if (saved === undefined) delete process.env.TMPDIR;
    }
    expect(watcher.seen).toEqual([]);
    expect(filesUnder(dir)).toEqual(before);
    expect(mode(join(dir, 'etcd0.key'))).toBe(0o640);
    expect(readdirSync(private_tmp)).toEqual([]);
  });

  it('no certificates at all: predicted, and the directory is not even created', async () => {
    const dir = join(root, 'check-nothing-yet');
    const inventory = {
      file: join(root, 'inventory.yaml'),
      hosts: new Map(HOSTS.map((h) => [h.name, { name: h.name, connection: { address: h.address } }])),
    } as never;
    const rt = createRuntime({ check: true, inventory, log: () => {} });
    const r = await rt.certs(cluster(dir, { members: HOSTS.map((h) => h.name) }));
    expect(r.provisional).toMatch(/certificates not made yet \(ca, etcd0, etcd1, etcd2, client\)/);
    expect(existsSync(dir)).toBe(false);
    rt.dispose();
  });
});
