/**
 * Discovery-URL bootstrap (ETCD_DISCOVERY) on a private etcd that serves the v2 keys API
 * (`--enable-v2=true`): a token is a directory `/v2/keys/discovery/<token>` holding
 * `_config/size`; each member registers itself under it when it first starts. A token is
 * single use, so the controller records the one a cluster was bootstrapped with in
 * `<inventory dir>/.provision-state/<cluster>.json` and reuses it on every later run.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { ProvisionError } from '../errors.js';
import type { ClusterSpec, Inventory } from '../inventory/types.js';
import type { RedactRules } from '../report/redact.js';
import { DISCOVERY_TOKEN_PATTERN } from './token-pattern.js';

export type FetchLike = (url: string, init?: RequestInit) => Promise<Response>;

export const REQUEST_TIMEOUT_MS = 10_000;

export interface DiscoveryTokenInfo {
  url: string;
  /** Cluster size the token was made for (_config/size). */
  size: number;
  /** Members registered so far. */
  registered: number;
  /** Names of the registered members (their values read `name=peerURL`). */
  members: string[];
  full: boolean;
  used: boolean;
}

const trimSlash = (s: string) => s.replace(/\/+$/, '');

/** What run output must hide for this inventory: passwords, and discovery tokens however given. */
export function outputSecrets(inventory: Pick<Inventory, 'hosts' | 'cluster'>): RedactRules {
  const values: string[] = [];
  for (const h of inventory.hosts.values()) {
    if (h.connection.password !== undefined) values.push(h.connection.password);
    if (h.connection.becomePassword !== undefined) values.push(h.connection.becomePassword);
  }
  const url = inventory.cluster?.discovery?.url;
  if (url) {
    // A token given as a URL of another service (discovery.etcd.io/<token>): its last path part.
    const last =
      url
        .replace(/[?#].*$/, '')
        .replace(/\/+$/, '')
        .split('/')
        .pop() ?? '';
    if (last && !url.endsWith(`//${last}`)) values.push(last);
  }
  return { values, patterns: [DISCOVERY_TOKEN_PATTERN] };
}

/** Make a new token for `size` members; returns its URL (`<endpoint>/v2/keys/discovery/<token>`). */
export async function createDiscoveryToken(endpoint: string, size: number, fetchImpl: FetchLike = fetch): Promise<string> {
  if (!Number.isInteger(size) || size < 1) throw new ProvisionError('USAGE', `discovery: cluster size must be a positive integer, got ${size}`);
  const base = trimSlash(endpoint);
  const url = `${base}/v2/keys/discovery/${randomBytes(16).toString('hex')}`;
  const r = await request(base, `${url}/_config/size`, fetchImpl, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ value: String(size) }).toString(),
  });
  if (r.status !== 201 && r.status !== 200) throw unexpected(base, `PUT ${url}/_config/size`, r);
  return url;
}

/** Read a token: its size and the members registered so far. */
export async function inspectDiscoveryToken(url: string, size: number, fetchImpl: FetchLike = fetch): Promise<DiscoveryTokenInfo> {
  url = trimSlash(url);
  const base = baseOf(url);
  const [dir, conf] = await Promise.all([request(base, url, fetchImpl), request(base, `${url}/_config/size`, fetchImpl)]);
  for (const r of [dir, conf])
    if (r.status === 404 && keyNotFound(r)) throw new ProvisionError('COMMAND', `discovery token ${url} does not exist`, { hint: missingHint });
  if (dir.status !== 200) throw unexpected(base, `GET ${url}`, dir);
  if (conf.status !== 200) throw unexpected(base, `GET ${url}/_config/size`, conf);
  const got = Number((conf.json as V2Response | undefined)?.node?.value);
  if (!Number.isInteger(got) || got < 1) throw unexpected(base, `GET ${url}/_config/size`, conf);
  if (got !== size)
    throw new ProvisionError('COMMAND', `discovery token ${url} was made for ${got} members; the cluster has ${size}`, {
      hint: 'a token is made for one cluster size; use a new token for the new size',
    });
  const nodes = ((dir.json as V2Response | undefined)?.node?.nodes ?? []).filter((n) => !n.dir && !lastSegment(n.key).startsWith('_'));
  const members = nodes.map((n) => String(n.value ?? '').split('=')[0]!);
  return { url, size: got, registered: nodes.length, members, full: nodes.length >= got, used: nodes.length > 0 };
}

/**
 * A full token is fine when every member of the cluster is among those registered (the
 * cluster was bootstrapped with it; etcd ignores it once a member has its data dir); it is
 * an error when a member still has to register.
 */
export function checkTokenHasRoom(info: DiscoveryTokenInfo, members: readonly string[], hint?: string): void {
  if (!info.full || members.every((m) => info.members.includes(m))) return;
  throw new ProvisionError(
    'COMMAND',
    `discovery token ${info.url} already has ${info.registered} of ${info.size} members registered (${info.members.join(', ')}): ` +
      `a token is single use; ${members.filter((m) => !info.members.includes(m)).join(', ')} cannot join through it`,
    {
      hint:
        hint ??
        "to bootstrap the cluster again, use a new token and empty the members' data dirs; to add a member to a running cluster, use `etcdctl member add` and bootstrap: static",
    },
  );
}

// ---- state file -------------------------------------------------------------------------

export interface ClusterState {
  discoveryUrl?: string;
  /** ISO time the token was made. */
  createdAt?: string;
}

export const stateFile = (inventoryDir: string, cluster: string): string => join(inventoryDir, '.provision-state', `${cluster}.json`);

export async function readClusterState(inventoryDir: string, cluster: string): Promise<ClusterState | undefined> {
  const path = stateFile(inventoryDir, cluster);
  let text: string;
  try {
    text = await fsp.readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    v = undefined;
  }
  const ok = (x: unknown) => x === undefined || typeof x === 'string';
  if (typeof v !== 'object' || v === null || Array.isArray(v) || !ok((v as ClusterState).discoveryUrl) || !ok((v as ClusterState).createdAt))
    throw new ProvisionError('USAGE', `state file ${path} is damaged (not a JSON object with discoveryUrl and createdAt)`, {
      hint: 'fix it, or remove it if the cluster is to be bootstrapped with a new token',
    });
  return v as ClusterState;
}

/**
 * `.provision-state/` holds capabilities (discovery tokens): the directory is 0700 and its
 * files 0600, also when it was made earlier with a looser mode (mkdir leaves an existing
 * directory's mode alone). Not followed if it is a symbolic link.
 */
export async function secureStateDir(inventoryDir: string, log?: (line: string) => void): Promise<void> {
  const dir = join(inventoryDir, '.provision-state');
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  const st = await fsp.lstat(dir);
  if (!st.isDirectory())
    throw new ProvisionError('USAGE', `${dir} is not a directory${st.isSymbolicLink() ? ' (a symbolic link)' : ''}; it holds the clusters' discovery tokens`, {
      hint: 'make it a directory (mode 0700) or remove it',
    });
  if ((st.mode & 0o777) !== 0o700) {
    log?.(`${dir} had mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}; setting 0700`);
    await fsp.chmod(dir, 0o700);
  }
  for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
    if (!e.isFile()) continue;
    const f = join(dir, e.name);
    const mode = (await fsp.lstat(f)).mode & 0o777;
    if (mode & 0o077) {
      log?.(`${f} had mode ${mode.toString(8).padStart(4, '0')}; setting 0600`);
      await fsp.chmod(f, 0o600);
    }
  }
}

/** Atomic: a temp file in the same directory, flushed, then renamed over the old one. */
export async function writeClusterState(inventoryDir: string, cluster: string, state: ClusterState, log?: (line: string) => void): Promise<void> {
  const path = stateFile(inventoryDir, cluster);
  await secureStateDir(inventoryDir, log);
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fh = await fsp.open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(`${JSON.stringify(state, null, 2)}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await fsp.rename(tmp, path);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
}

export interface DiscoveryResolution {
  url: string;
  /** inventory: discovery.url; state: the recorded token; created: made now (and recorded). */
  source: 'inventory' | 'state' | 'created';
  info: DiscoveryTokenInfo;
}

/**
 * The discovery URL a cluster with bootstrap: discovery already has: `discovery.url`, or the
 * token recorded for it on `discovery.endpoint`; undefined when none was made yet.
 */
export async function knownDiscoveryUrl(
  cluster: ClusterSpec,
  inventoryDir: string,
  opts: { fetchImpl?: FetchLike; log?: (line: string) => void } = {},
): Promise<DiscoveryResolution | undefined> {
  const f = opts.fetchImpl ?? fetch;
  const size = cluster.members.length;
  if (cluster.bootstrap !== 'discovery' || !cluster.discovery) throw new ProvisionError('USAGE', `cluster ${cluster.name} does not use bootstrap: discovery`);
  if (cluster.discovery.url) return { url: cluster.discovery.url, source: 'inventory', info: await inspectDiscoveryToken(cluster.discovery.url, size, f) };
  const endpoint = trimSlash(cluster.discovery.endpoint ?? '');
  if (!endpoint) throw new ProvisionError('INVENTORY', `cluster ${cluster.name}: bootstrap discovery needs discovery.url or discovery.endpoint`);
  const state = await readClusterState(inventoryDir, cluster.name);
  if (!state?.discoveryUrl) return undefined;
  const file = stateFile(inventoryDir, cluster.name);
  if (baseOf(state.discoveryUrl) !== endpoint)
    throw new ProvisionError(
      'USAGE',
      `cluster ${cluster.name} was bootstrapped with discovery token ${state.discoveryUrl}, not on discovery.endpoint ${endpoint}`,
      {
        hint: `a cluster keeps its token; to bootstrap it again from scratch on the new endpoint, remove ${file} and the members' data dirs`,
      },
    );
  opts.log?.(`discovery: reusing token ${state.discoveryUrl} (recorded ${state.createdAt ?? 'earlier'} in ${file})`);
  return { url: state.discoveryUrl, source: 'state', info: await inspectDiscoveryToken(state.discoveryUrl, size, f) };
}

/**
 * The discovery URL of a cluster with bootstrap: discovery. With `discovery.endpoint`, the
 * token recorded for the cluster is reused; only a cluster without one gets a new token,
 * recorded at once (before any member has used it).
 */
export async function resolveDiscoveryUrl(
  cluster: ClusterSpec,
  inventoryDir: string,
  opts: { fetchImpl?: FetchLike; log?: (line: string) => void; now?: () => Date } = {},
): Promise<DiscoveryResolution> {
  // A real run keeps the recorded tokens private (--check changes nothing, here neither).
  if (existsSync(join(inventoryDir, '.provision-state'))) await secureStateDir(inventoryDir, opts.log);
  const known = await knownDiscoveryUrl(cluster, inventoryDir, opts);
  if (known) return known;
  const size = cluster.members.length;
  const endpoint = trimSlash(cluster.discovery!.endpoint!);
  const url = await createDiscoveryToken(endpoint, size, opts.fetchImpl ?? fetch);
  const state = await readClusterState(inventoryDir, cluster.name);
  await writeClusterState(inventoryDir, cluster.name, { ...state, discoveryUrl: url, createdAt: (opts.now?.() ?? new Date()).toISOString() }, opts.log);
  opts.log?.(`discovery: made token ${url} for ${size} members (recorded in ${stateFile(inventoryDir, cluster.name)})`);
  return { url, source: 'created', info: { url, size, registered: 0, members: [], full: false, used: false } };
}

// ---- HTTP -------------------------------------------------------------------------------

interface V2Node {
  key: string;
  value?: string;
  dir?: boolean;
  nodes?: V2Node[];
}
interface V2Response {
  node?: V2Node;
  errorCode?: number;
  message?: string;
}
interface Reply {
  status: number;
  text: string;
  json?: unknown;
}

const missingHint = 'the discovery etcd may have been wiped; to bootstrap from scratch remove the recorded token (or discovery.url) so a new one is made';

/** `http://h:2379/v2/keys/discovery/x` -> `http://h:2379`. */
const baseOf = (url: string): string => {
  const i = url.indexOf('/v2/keys/');
  return i < 0 ? url : url.slice(0, i);
};
const lastSegment = (key: string): string => key.slice(key.lastIndexOf('/') + 1);
const keyNotFound = (r: Reply): boolean => (r.json as V2Response | undefined)?.errorCode === 100;

async function request(base: string, url: string, fetchImpl: FetchLike, init: RequestInit = {}): Promise<Reply> {
  let res: Response;
  try {
    res = await fetchImpl(url, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  } catch (e) {
    const err = e as Error & { cause?: { code?: string; message?: string } };
    if (err.name === 'TimeoutError' || err.name === 'AbortError')
      throw new ProvisionError('TIMEOUT', `discovery endpoint ${base} did not answer within ${REQUEST_TIMEOUT_MS / 1000}s`, { cause: e });
    throw new ProvisionError('CONNECT', `discovery endpoint ${base} is unreachable (${err.cause?.code ?? err.cause?.message ?? err.message})`, {
      hint: 'is the etcd that serves discovery running, and reachable from this machine?',
      cause: e,
    });
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const reply = { status: res.status, text, json };
  // etcd without --enable-v2 has no /v2/keys route: a plain-text 404 ("404 page not found").
  if ((res.status === 404 && json === undefined) || res.status === 501 || /not (supported|implemented)/i.test(text))
    throw new ProvisionError(
      'COMMAND',
      `etcd at ${base} does not serve the v2 keys API that discovery needs (HTTP ${res.status}: ${text.trim().slice(0, 100)})`,
      {
        hint: 'start that etcd with --enable-v2=true (etcd 3.4 and 3.5; etcd 3.6 has no v2 API)',
      },
    );
  return reply;
}

function unexpected(base: string, what: string, r: Reply): ProvisionError {
  const msg = (r.json as V2Response | undefined)?.message ?? r.text.trim().slice(0, 200);
  return new ProvisionError('COMMAND', `discovery endpoint ${base}: ${what} answered HTTP ${r.status}${msg ? `: ${msg}` : ''}`);
}
