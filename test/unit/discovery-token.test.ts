import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkTokenHasRoom,
  createDiscoveryToken,
  inspectDiscoveryToken,
  readClusterState,
  resolveDiscoveryUrl,
  secureStateDir,
  stateFile,
  writeClusterState,
  type DiscoveryTokenInfo,
  type FetchLike,
} from '../../src/discovery/token.js';
import type { ClusterSpec } from '../../src/inventory/types.js';

const root = mkdtempSync(join(tmpdir(), 'provision-discovery-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Call {
  method: string;
  url: string;
  body?: string;
  type?: string;
}

/** A fake v2 keys API: a Map of key -> value; dirs are implied by their keys. */
function fakeEtcd(opts: { v2?: boolean; down?: boolean } = {}) {
  const keys = new Map<string, string>();
  const calls: Call[] = [];
  const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
  const f: FetchLike = async (url, init = {}) => {
    const method = init.method ?? 'GET';
    calls.push({ method, url, body: init.body as string | undefined, type: (init.headers as Record<string, string> | undefined)?.['Content-Type'] });
    if (opts.down) throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    const m = /^http:\/\/etcd:2379\/v2\/keys(\/.*)$/.exec(url);
    if (!m || opts.v2 === false) return new Response('404 page not found\n', { status: 404, headers: { 'content-type': 'text/plain' } });
    const key = m[1]!;
    if (method === 'PUT') {
      keys.set(key, new URLSearchParams(String(init.body)).get('value') ?? '');
      return json(201, { action: 'set', node: { key, value: keys.get(key) } });
    }
    if (keys.has(key)) return json(200, { action: 'get', node: { key, value: keys.get(key) } });
    const children = [...keys.keys()].filter((k) => k.startsWith(`${key}/`));
    if (children.length === 0) return json(404, { errorCode: 100, message: 'Key not found', cause: key, index: 4 });
    const direct = [...new Set(children.map((k) => k.slice(key.length + 1).split('/')[0]!))].filter((n) => !n.startsWith('_'));
    const nodes = direct.map((n) => (keys.has(`${key}/${n}`) ? { key: `${key}/${n}`, value: keys.get(`${key}/${n}`) } : { key: `${key}/${n}`, dir: true }));
    return json(200, { action: 'get', node: { key, dir: true, ...(nodes.length ? { nodes } : {}) } });
  };
  return { f, keys, calls };
}

const EP = 'http://etcd:2379';
const register = (keys: Map<string, string>, url: string, id: string, name: string) =>
  keys.set(`${url.slice(`${EP}/v2/keys`.length)}/${id}`, `${name}=http://10.0.0.1:2380`);

describe('createDiscoveryToken (fake etcd)', () => {
  it('PUTs the size as a form and returns the token URL', async () => {
    const e = fakeEtcd();
    const url = await createDiscoveryToken(`${EP}/`, 3, e.f);
    expect(url).toMatch(/^http:\/\/etcd:2379\/v2\/keys\/discovery\/[0-9a-f]{32}$/);
    expect(e.calls).toEqual([{ method: 'PUT', url: `${url}/_config/size`, body: 'value=3', type: 'application/x-www-form-urlencoded' }]);
    expect(await createDiscoveryToken(EP, 3, e.f)).not.toBe(url);
  });

  it.each<[string, Parameters<typeof fakeEtcd>[0], number, RegExp]>([
    ['unreachable', { down: true }, 3, /discovery endpoint http:\/\/etcd:2379 is unreachable \(ECONNREFUSED\)/],
    ['v2 disabled', { v2: false }, 3, /etcd at http:\/\/etcd:2379 does not serve the v2 keys API that discovery needs \(HTTP 404: 404 page not found\)/],
    ['size 0', {}, 0, /size must be a positive integer/],
  ])('fails clearly: %s', async (_n, o, size, err) => {
    await expect(createDiscoveryToken(EP, size, fakeEtcd(o).f)).rejects.toThrow(err);
  });

  it('the v2 error says how to fix it', async () => {
    const e = await createDiscoveryToken(EP, 3, fakeEtcd({ v2: false }).f).catch((x) => x);
    expect(e.code).toBe('COMMAND');
    expect(e.hint).toMatch(/--enable-v2=true/);
    const u = await createDiscoveryToken(EP, 3, fakeEtcd({ down: true }).f).catch((x) => x);
    expect(u.code).toBe('CONNECT');
  });
});

describe('inspectDiscoveryToken (fake etcd)', () => {
  it('counts registered members, hiding _config', async () => {
    const e = fakeEtcd();
    const url = await createDiscoveryToken(EP, 3, e.f);
    expect(await inspectDiscoveryToken(url, 3, e.f)).toEqual({ url, size: 3, registered: 0, members: [], full: false, used: false });
    register(e.keys, url, 'a1', 'etcd0');
    expect(await inspectDiscoveryToken(url, 3, e.f)).toMatchObject({ registered: 1, members: ['etcd0'], full: false, used: true });
    register(e.keys, url, 'b2', 'etcd1');
    register(e.keys, url, 'c3', 'etcd2');
    expect(await inspectDiscoveryToken(`${url}/`, 3, e.f)).toMatchObject({ registered: 3, full: true, used: true });
  });

  it.each<[string, (e: ReturnType<typeof fakeEtcd>, url: string) => void, number, RegExp]>([
    ['a missing token', (e) => e.keys.clear(), 3, /discovery token .* does not exist/],
    ['another size', () => {}, 5, /was made for 3 members; the cluster has 5/],
    ['a damaged size', (e, url) => e.keys.set(`${url.slice(`${EP}/v2/keys`.length)}/_config/size`, 'x'), 3, /_config\/size answered HTTP 200/],
  ])('fails for %s', async (_n, spoil, size, err) => {
    const e = fakeEtcd();
    const url = await createDiscoveryToken(EP, 3, e.f);
    spoil(e, url);
    await expect(inspectDiscoveryToken(url, size, e.f)).rejects.toThrow(err);
  });
});

describe('checkTokenHasRoom', () => {
  const info = (registered: string[], size = 3): DiscoveryTokenInfo => ({
    url: 'U',
    size,
    registered: registered.length,
    members: registered,
    full: registered.length >= size,
    used: registered.length > 0,
  });
  it.each<[string, DiscoveryTokenInfo, boolean]>([
    ['fresh', info([]), true],
    ['partly used', info(['etcd0']), true],
    ['full with exactly our members (bootstrapped with it)', info(['etcd2', 'etcd0', 'etcd1']), true],
    ['full with others', info(['x', 'y', 'z']), false],
    ['full, one of ours missing', info(['etcd0', 'etcd1', 'old']), false],
  ])('%s', (_n, i, ok) => {
    const run = () => checkTokenHasRoom(i, ['etcd0', 'etcd1', 'etcd2']);
    if (ok) expect(run).not.toThrow();
    else expect(run).toThrow(/^discovery token U already has 3 of 3 members registered \(.*\): a token is single use; .* cannot join through it$/);
  });
});

describe('cluster state file', () => {
  it('round-trips atomically (0600, no temp file left)', async () => {
    const dir = join(root, 'inv1');
    expect(await readClusterState(dir, 'lab')).toBeUndefined();
    await writeClusterState(dir, 'lab', { discoveryUrl: 'http://x/v2/keys/discovery/t', createdAt: '2026-01-01T00:00:00.000Z' });
    await writeClusterState(dir, 'lab', { discoveryUrl: 'http://x/v2/keys/discovery/u', createdAt: '2026-01-02T00:00:00.000Z' });
    expect(await readClusterState(dir, 'lab')).toEqual({ discoveryUrl: 'http://x/v2/keys/discovery/u', createdAt: '2026-01-02T00:00:00.000Z' });
    expect(stateFile(dir, 'lab')).toBe(join(dir, '.provision-state', 'lab.json'));
    expect(statSync(stateFile(dir, 'lab')).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(dir, '.provision-state'))).toEqual(['lab.json']);
  });

  it('a .provision-state/ that exists with a looser mode gets 0700, and its files 0600', async () => {
    const dir = join(root, 'inv-loose');
    mkdirSync(join(dir, '.provision-state'), { recursive: true, mode: 0o755 });
    chmodSync(join(dir, '.provision-state'), 0o755);
    writeFileSync(join(dir, '.provision-state', 'other.json'), '{}', { mode: 0o644 });
    chmodSync(join(dir, '.provision-state', 'other.json'), 0o644);
    const log: string[] = [];
    await writeClusterState(dir, 'lab', { discoveryUrl: 'http://x/v2/keys/discovery/t' }, (l) => log.push(l));
    expect(statSync(join(dir, '.provision-state')).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, '.provision-state', 'other.json')).mode & 0o777).toBe(0o600);
    expect(statSync(stateFile(dir, 'lab')).mode & 0o777).toBe(0o600);
    expect(log.join('\n')).toMatch(/\.provision-state had mode 0755; setting 0700/);
  });

  it('a real run that reuses a recorded token tightens the directory too; a symbolic link is refused', async () => {
    const dir = join(root, 'inv-reuse');
    await writeClusterState(dir, 'lab', { discoveryUrl: 'http://x/v2/keys/discovery/t' });
    chmodSync(join(dir, '.provision-state'), 0o755);
    chmodSync(stateFile(dir, 'lab'), 0o644);
    await secureStateDir(dir);
    expect(statSync(join(dir, '.provision-state')).mode & 0o777).toBe(0o700);
    expect(statSync(stateFile(dir, 'lab')).mode & 0o777).toBe(0o600);
    const linked = join(root, 'inv-link');
    mkdirSync(linked);
    symlinkSync(join(dir, '.provision-state'), join(linked, '.provision-state'));
    await expect(secureStateDir(linked)).rejects.toThrow(/is not a directory \(a symbolic link\)/);
  });

  it.each(['not json', '[]', '{"discoveryUrl": 3}'])('refuses a damaged file: %s', async (text) => {
    const dir = join(root, `bad-${text.length}`);
    mkdirSync(join(dir, '.provision-state'), { recursive: true });
    writeFileSync(join(dir, '.provision-state', 'lab.json'), text);
    await expect(readClusterState(dir, 'lab')).rejects.toThrow(/state file .*lab.json is damaged/);
  });
});

const cluster = (discovery: ClusterSpec['discovery'], name = 'lab'): ClusterSpec => ({
  name,
  members: ['etcd0', 'etcd1', 'etcd2'],
  bootstrap: 'discovery',
  token: 't',
  dataDir: '/var/lib/etcd',
  clientPort: 2379,
  peerPort: 2380,
  listen: 'address',
  package: { name: 'etcd' },
  discovery,
});

describe('resolveDiscoveryUrl (fake etcd)', () => {
  it('makes a token once, records it, and reuses it ever after', async () => {
    const dir = join(root, 'inv2');
    const e = fakeEtcd();
    const now = () => new Date('2026-11-23T10:00:00Z');
    const first = await resolveDiscoveryUrl(cluster({ endpoint: EP }), dir, { fetchImpl: e.f, now });
    expect(first.source).toBe('created');
    expect(JSON.parse(readFileSync(stateFile(dir, 'lab'), 'utf8'))).toEqual({ discoveryUrl: first.url, createdAt: '2026-11-23T10:00:00.000Z' });
    register(e.keys, first.url, 'a1', 'etcd0');
    const again = await resolveDiscoveryUrl(cluster({ endpoint: `${EP}/` }), dir, { fetchImpl: e.f });
    expect(again).toMatchObject({ url: first.url, source: 'state', info: { registered: 1 } });
    expect(e.calls.filter((c) => c.method === 'PUT')).toHaveLength(1);
  });

  it('a recorded token whose etcd was wiped is an error, not a new token', async () => {
    const dir = join(root, 'inv3');
    await writeClusterState(dir, 'lab', { discoveryUrl: `${EP}/v2/keys/discovery/gone` });
    const e = fakeEtcd();
    await expect(resolveDiscoveryUrl(cluster({ endpoint: EP }), dir, { fetchImpl: e.f })).rejects.toThrow(/does not exist/);
    expect(e.calls.some((c) => c.method === 'PUT')).toBe(false);
  });

  it('a recorded token on another endpoint is refused', async () => {
    const dir = join(root, 'inv4');
    await writeClusterState(dir, 'lab', { discoveryUrl: 'http://old:2379/v2/keys/discovery/x' });
    await expect(resolveDiscoveryUrl(cluster({ endpoint: EP }), dir, { fetchImpl: fakeEtcd().f })).rejects.toThrow(
      /was bootstrapped with discovery token http:\/\/old:2379/,
    );
  });

  it('discovery.url is used as given (and checked), nothing recorded', async () => {
    const dir = join(root, 'inv5');
    const e = fakeEtcd();
    const url = await createDiscoveryToken(EP, 3, e.f);
    expect(await resolveDiscoveryUrl(cluster({ url }), dir, { fetchImpl: e.f })).toMatchObject({ url, source: 'inventory', info: { size: 3 } });
    expect(existsSync(stateFile(dir, 'lab'))).toBe(false);
  });
});

// ---- a real etcd 3.4.23 with the v2 API ---------------------------------------------------

const ETCD = '/usr/bin/etcd';
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function startEtcd(v2: boolean): Promise<{ child: ChildProcess; endpoint: string; log: () => string }> {
  const [client, peer] = [await freePort(), await freePort()];
  const data = mkdtempSync(join(root, 'etcd-'));
  const endpoint = `http://127.0.0.1:${client}`;
  const peerUrl = `http://127.0.0.1:${peer}`;
  const child = spawn(
    ETCD,
    [
      '--name',
      'disc',
      '--data-dir',
      data,
      ...(v2 ? ['--enable-v2=true'] : []),
      '--listen-client-urls',
      endpoint,
      '--advertise-client-urls',
      endpoint,
      '--listen-peer-urls',
      peerUrl,
      '--initial-advertise-peer-urls',
      peerUrl,
      '--initial-cluster',
      `disc=${peerUrl}`,
    ],
    // No ETCD_* from the environment may shadow the flags (etcd 3.4 refuses that).
    { stdio: ['ignore', 'ignore', 'pipe'], env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ETCD'))) },
  );
  let log = '';
  child.stderr!.on('data', (d) => (log += d));
  for (let i = 0; i < 100; i++) {
    const ok = await fetch(`${endpoint}/health`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return { child, endpoint, log: () => log };
    if (!running(child)) break;
    await sleep(100);
  }
  child.kill('SIGKILL');
  throw new Error(`etcd did not start: ${log.slice(-2000)}`);
}

const running = (c: ChildProcess) => c.exitCode === null && c.signalCode === null;
/** Stops the etcd this file started, by its PID. */
const stop = async (child?: ChildProcess) => {
  if (!child?.pid || !running(child)) return;
  const exited = new Promise((r) => child.once('exit', r));
  process.kill(child.pid, 'SIGTERM');
  await Promise.race([exited, sleep(5000)]);
  if (running(child)) process.kill(child.pid, 'SIGKILL');
};

describe.skipIf(!existsSync(ETCD))('discovery on a real etcd 3.4 (integration)', () => {
  let v2: Awaited<ReturnType<typeof startEtcd>> | undefined;
  let plain: Awaited<ReturnType<typeof startEtcd>> | undefined;
  beforeAll(async () => {
    [v2, plain] = await Promise.all([startEtcd(true), startEtcd(false)]);
  }, 30_000);
  afterAll(async () => {
    await Promise.all([stop(v2?.child), stop(plain?.child)]);
  });

  it('creates a token, sees members register until it is full', async () => {
    const url = await createDiscoveryToken(v2!.endpoint, 3);
    expect(await inspectDiscoveryToken(url, 3)).toEqual({ url, size: 3, registered: 0, members: [], full: false, used: false });
    // Members register as etcd does: PUT <token>/<member id> with value name=peerURL.
    for (const [i, name] of ['etcd0', 'etcd1', 'etcd2'].entries()) {
      const r = await fetch(`${url}/${(0xabc0 + i).toString(16)}`, {
        method: 'PUT',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: `value=${name}%3Dhttp%3A%2F%2F10.0.0.${i}%3A2380`,
      });
      expect(r.status).toBe(201);
    }
    const full = await inspectDiscoveryToken(url, 3);
    expect(full).toMatchObject({ registered: 3, full: true, used: true });
    expect(full.members.sort()).toEqual(['etcd0', 'etcd1', 'etcd2']);
    expect(() => checkTokenHasRoom(full, ['etcd0', 'etcd1', 'etcd2'])).not.toThrow();
    expect(() => checkTokenHasRoom(full, ['etcd0', 'etcd1', 'etcd3'])).toThrow(/already has 3 of 3 members registered/);
    await expect(inspectDiscoveryToken(`${v2!.endpoint}/v2/keys/discovery/nope`, 3)).rejects.toThrow(/does not exist/);
  });

  it('resolveDiscoveryUrl records the token and reuses it', async () => {
    const dir = join(root, 'inv-real');
    const c = cluster({ endpoint: v2!.endpoint });
    const a = await resolveDiscoveryUrl(c, dir);
    const b = await resolveDiscoveryUrl(c, dir);
    expect(a.source).toBe('created');
    expect(b).toMatchObject({ url: a.url, source: 'state', info: { size: 3, registered: 0 } });
  });

  it('an etcd without --enable-v2 is reported as such', async () => {
    await expect(createDiscoveryToken(plain!.endpoint, 3)).rejects.toThrow(
      /does not serve the v2 keys API that discovery needs \(HTTP 404: 404 page not found\)/,
    );
  });

  it('an endpoint nobody listens on is unreachable', async () => {
    const port = await freePort();
    await expect(createDiscoveryToken(`http://127.0.0.1:${port}`, 3)).rejects.toThrow(/is unreachable \(ECONNREFUSED\)/);
  });
});
