/**
 * The cluster's certificates, made on the controller in the directory the inventory names
 * (cluster.tls.dir): a CA, one certificate per member (server and peer: serverAuth +
 * clientAuth) and a client certificate for etcdctl. ECDSA P-256 keys throughout.
 *
 * Keys are made with node:crypto and written 0600 from the start; certificates are made by
 * the openssl CLI (argv arrays, never a shell) because node:crypto can read X.509 but not
 * sign it, and openssl is on every Debian. Existing files are read back with
 * X509Certificate and kept while they are valid: nothing is regenerated on a re-run unless
 * it expires within RENEW_DAYS, no longer matches the wanted names, or its CA was replaced.
 */
import { execFile } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { promises as fsp, rmSync } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { formatMode } from '../util/format.js';
import { canonicalIp } from '../util/ip.js';
import { join } from 'node:path';
import { ProvisionError } from '../errors.js';
import type { ClusterSpec } from '../inventory/types.js';

export const CA_DAYS = 3650;
export const LEAF_DAYS = 730;
/** Certificates expiring within this many days are made again. */
export const RENEW_DAYS = 30;

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const DAY_MS = 86_400_000;

export interface CertHost {
  name: string;
  address: string;
}

/** A certificate and its key: paths on the controller and PEM contents. */
export interface PemFiles {
  certPath: string;
  keyPath: string;
  cert: string;
  key: string;
}

export interface ClusterCerts {
  dir: string;
  ca: PemFiles;
  /** Member name -> its certificate (server and peer). */
  members: Record<string, PemFiles>;
  /** clientAuth only, for etcdctl. */
  client: PemFiles;
  /** What this call made ('ca', member names, 'client'); empty when everything was reused. */
  generated: string[];
}

export interface SubjectAltNames {
  dns: string[];
  ip: string[];
}

export interface CertOptions {
  /** Clock for the expiry check (tests). */
  now?: () => number;
  /**
   * --check: change nothing in the directory (no mode fixed, nothing made there). What would be
   * made is made as a stand-in in a private temporary directory, removed before this returns
   * (and at process exit, however the process ends). The CA key is never copied: a stand-in
   * leaf is signed by the CA where it is, or by a stand-in CA when the CA itself would be made.
   */
  dryRun?: boolean;
}

/** Stand-in directories of dry runs that exist right now; removed at exit whatever the path. */
const standIns = new Set<string>();
let exitHook = false;
function trackStandIn(dir: string): void {
  standIns.add(dir);
  if (exitHook) return;
  exitHook = true;
  // 'exit' runs on process.exit() too (a second Ctrl-C); only synchronous work is possible there.
  process.on('exit', () => {
    for (const d of standIns) rmSync(d, { recursive: true, force: true });
  });
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const RESERVED = new Set(['ca', 'client']);

/** The names a member's certificate must hold. */
export function memberSans(cluster: ClusterSpec, host: CertHost): SubjectAltNames {
  const dns = [host.name, 'localhost'];
  if (cluster.bootstrap === 'dns' && cluster.dns) dns.push(`${host.name}.${cluster.dns.domain}`, cluster.dns.domain);
  const ip = isIP(host.address) ? [host.address, '127.0.0.1'] : ['127.0.0.1'];
  if (!isIP(host.address)) dns.push(host.address);
  return { dns: uniq(dns), ip: uniq(ip) };
}

export async function ensureClusterCerts(
  cluster: ClusterSpec,
  hosts: CertHost[],
  log: (line: string) => void = () => {},
  opts: CertOptions = {},
): Promise<ClusterCerts> {
  if (!cluster.tls) throw new ProvisionError('USAGE', `cluster ${cluster.name} has no tls section`);
  const dir = cluster.tls.dir;
  const now = opts.now ?? Date.now;
  for (const h of hosts) {
    if (!NAME_RE.test(h.name) || RESERVED.has(h.name))
      throw new ProvisionError('INVENTORY', `cluster ${cluster.name}: member name "${h.name}" cannot name certificate files in ${dir}`, {
        hint: `member names must match ${NAME_RE.source} and not be "ca" or "client"`,
      });
  }
  const dry = opts.dryRun === true;
  if (dry) log = () => {};
  else await ensurePrivateDir(dir, log);
  const generated: string[] = [];
  const files = (n: string) => ({ certPath: join(dir, `${n}.crt`), keyPath: join(dir, `${n}.key`) });
  // Where new files go: the directory itself, or (dry run) a stand-in made on first need.
  let standIn: string | undefined;
  const target = async (): Promise<string> => {
    if (!dry) return dir;
    if (!standIn) {
      standIn = await fsp.mkdtemp(join(tmpdir(), 'provision-check-tls-'));
      trackStandIn(standIn);
    }
    return standIn;
  };
  const readOnly = { fixMode: !dry };

  try {
    let ca = await load(files('ca'), log, readOnly);
    const caWhy = ca ? caProblem(ca, now()) : 'absent';
    if (caWhy) {
      log(`tls: making a new CA in ${dir} (${caWhy})`);
      ca = await make(await target(), 'ca', { cn: `${cluster.name} etcd CA`, days: CA_DAYS, ca: true });
      generated.push('ca');
    }
    const caCert = ca!;

    const leaf = async (n: string, cn: string, eku: string[], sans?: SubjectAltNames): Promise<PemFiles> => {
      const have = caWhy ? undefined : await load(files(n), log, readOnly);
      const why = caWhy ? 'new CA' : have ? leafProblem(have, caCert, eku, sans, now()) : 'absent';
      if (!why) return strip(have!);
      log(`tls: making ${n}.crt (${why})`);
      generated.push(n);
      return strip(await make(await target(), n, { cn, days: LEAF_DAYS, eku, sans, issuer: caCert }));
    };

    const members: Record<string, PemFiles> = {};
    for (const h of hosts) members[h.name] = await leaf(h.name, h.name, [SERVER_AUTH, CLIENT_AUTH], memberSans(cluster, h));
    const client = await leaf('client', `${cluster.name}-client`, [CLIENT_AUTH]);
    return { dir, ca: strip(caCert), members, client, generated };
  } finally {
    // The stand-ins' contents are in memory; their files (throwaway keys) go now.
    if (standIn) {
      await fsp.rm(standIn, { recursive: true, force: true });
      standIns.delete(standIn);
    }
  }
}

interface Loaded extends PemFiles {
  x509: X509Certificate;
}

const strip = ({ certPath, keyPath, cert, key }: PemFiles): PemFiles => ({ certPath, keyPath, cert, key });
const uniq = (xs: string[]): string[] => [...new Set(xs)];

async function ensurePrivateDir(dir: string, log: (l: string) => void): Promise<void> {
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  const st = await fsp.stat(dir);
  if (!st.isDirectory()) throw new ProvisionError('USAGE', `tls dir ${dir} is not a directory`);
  if ((st.mode & 0o777) !== 0o700) {
    log(`tls: ${dir} had mode ${formatMode(st.mode & 0o777)}; setting 0700`);
    await fsp.chmod(dir, 0o700);
  }
}

/** The pair as files on disk; undefined when either is absent or cannot be parsed. */
async function load(paths: { certPath: string; keyPath: string }, log: (l: string) => void, o: { fixMode: boolean }): Promise<Loaded | undefined> {
  const read = (p: string) => fsp.readFile(p, 'utf8').catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? undefined : Promise.reject(e)));
  const [cert, key] = await Promise.all([read(paths.certPath), read(paths.keyPath)]);
  if (cert === undefined || key === undefined) return undefined;
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
    if (!x509.checkPrivateKey(createPrivateKey(key))) return undefined;
  } catch {
    return undefined;
  }
  const mode = (await fsp.stat(paths.keyPath)).mode & 0o777;
  if (mode !== 0o600 && o.fixMode) {
    log(`tls: ${paths.keyPath} had mode ${formatMode(mode)}; setting 0600`);
    await fsp.chmod(paths.keyPath, 0o600);
  }
  return { ...paths, cert, key, x509 };
}

const daysLeft = (x: X509Certificate, now: number): number => (Date.parse(x.validTo) - now) / DAY_MS;

function caProblem(ca: Loaded, now: number): string | undefined {
  if (!ca.x509.ca) return 'ca.crt is not a CA certificate';
  const left = daysLeft(ca.x509, now);
  if (left < RENEW_DAYS) return left <= 0 ? 'expired' : `expires in ${Math.floor(left)} days`;
  return undefined;
}

/** Why an existing leaf certificate must be made again; undefined when it is fine. */
function leafProblem(have: Loaded, ca: Loaded, eku: string[], sans: SubjectAltNames | undefined, now: number): string | undefined {
  const x = have.x509;
  if (!x.checkIssued(ca.x509) || !x.verify(ca.x509.publicKey)) return 'not signed by the current CA';
  const left = daysLeft(x, now);
  if (left < RENEW_DAYS) return left <= 0 ? 'expired' : `expires in ${Math.floor(left)} days`;
  const usages = x.keyUsage ?? [];
  if (!eku.every((u) => usages.includes(u))) return 'missing extended key usage';
  if (sans) {
    const want = sanSet(sans);
    const got = new Set(parseSans(x.subjectAltName ?? ''));
    if (want.size !== got.size || [...want].some((s) => !got.has(s))) return `names changed: has ${[...got].sort().join(', ') || 'none'}`;
  }
  return undefined;
}

/** `DNS:a, IP Address:10.0.0.1` (node's and openssl's form) -> ['DNS:a', 'IP:10.0.0.1']. */
export function parseSans(text: string): string[] {
  return text
    .split(/,\s*/)
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => (s.startsWith('IP Address:') ? `IP:${canonicalIp(s.slice(11))}` : s.startsWith('DNS:') ? `DNS:${s.slice(4).toLowerCase()}` : s));
}

const sanSet = (s: SubjectAltNames): Set<string> => new Set([...s.dns.map((d) => `DNS:${d.toLowerCase()}`), ...s.ip.map((i) => `IP:${canonicalIp(i)}`)]);

// openssl prints IPv6 SANs uncompressed and in capitals (FD00:0:0:0:0:0:0:1): compared canonical.

interface MakeSpec {
  cn: string;
  days: number;
  ca?: boolean;
  eku?: string[];
  sans?: SubjectAltNames;
  issuer?: Loaded;
}

/**
 * Make a key and certificate in a temp dir inside `dir`, then rename both into place (key
 * first: a crash in between leaves a pair that does not match, which the next run redoes).
 */
async function make(dir: string, name: string, spec: MakeSpec): Promise<Loaded> {
  const tmp = await fsp.mkdtemp(join(dir, '.tmp-'));
  try {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const key = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const tkey = join(tmp, 'key.pem');
    const tcrt = join(tmp, 'cert.pem');
    const cnf = join(tmp, 'openssl.cnf');
    await fsp.writeFile(tkey, key, { mode: 0o600, flag: 'wx' });
    await fsp.writeFile(cnf, opensslConfig(spec), { flag: 'wx' });
    const days = String(spec.days);
    if (!spec.issuer) {
      await openssl(['req', '-new', '-x509', '-key', tkey, '-config', cnf, '-extensions', 'ext', '-days', days, '-sha256', '-out', tcrt]);
    } else {
      const csr = await openssl(['req', '-new', '-key', tkey, '-config', cnf]);
      const serial = `0x${(randomBytes(16)[0]! & 0x7f).toString(16).padStart(2, '0')}${randomBytes(15).toString('hex')}`;
      await openssl(
        [
          'x509',
          '-req',
          '-CA',
          spec.issuer.certPath,
          '-CAkey',
          spec.issuer.keyPath,
          '-set_serial',
          serial,
          '-days',
          days,
          '-sha256',
          '-extfile',
          cnf,
          '-extensions',
          'ext',
          '-out',
          tcrt,
        ],
        csr,
      );
    }
    const cert = await fsp.readFile(tcrt, 'utf8');
    const certPath = join(dir, `${name}.crt`);
    const keyPath = join(dir, `${name}.key`);
    await fsp.rename(tkey, keyPath);
    await fsp.chmod(tcrt, 0o644);
    await fsp.rename(tcrt, certPath);
    return { certPath, keyPath, cert, key, x509: new X509Certificate(cert) };
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
  }
}

/** A self-contained openssl config: the system's openssl.cnf adds nothing to our certificates. */
export function opensslConfig(spec: Pick<MakeSpec, 'cn' | 'ca' | 'eku' | 'sans'>): string {
  // pathlen:0: the CA signs end-entity certificates only, never another CA.
  const ext = spec.ca
    ? ['basicConstraints = critical,CA:TRUE,pathlen:0', 'keyUsage = critical,keyCertSign,cRLSign', 'subjectKeyIdentifier = hash']
    : [
        'basicConstraints = critical,CA:FALSE',
        'keyUsage = critical,digitalSignature',
        `extendedKeyUsage = ${(spec.eku ?? []).map((o) => (o === SERVER_AUTH ? 'serverAuth' : o === CLIENT_AUTH ? 'clientAuth' : o)).join(',')}`,
        'subjectKeyIdentifier = hash',
        'authorityKeyIdentifier = keyid',
        ...(spec.sans ? [`subjectAltName = ${[...spec.sans.dns.map((d) => `DNS:${d}`), ...spec.sans.ip.map((i) => `IP:${i}`)].join(',')}`] : []),
      ];
  // Values come from validated names (letters, digits, . _ -) and IP addresses only.
  return ['[req]', 'distinguished_name = dn', 'prompt = no', 'utf8 = yes', '[dn]', `CN = ${spec.cn}`, '[ext]', ...ext, ''].join('\n');
}

export function openssl(args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // The timeout catches a hung openssl, not a slow machine.
    const child = execFile('openssl', args, { timeout: 300_000, maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        return reject(
          new ProvisionError('COMMAND', 'openssl is not installed on this machine (needed to make TLS certificates)', { hint: 'apt-get install openssl' }),
        );
      reject(new ProvisionError('COMMAND', `openssl ${args[0]} failed: ${String(stderr).trim() || err.message}`, { cause: err }));
    });
    // openssl may exit before reading its stdin (`req -x509` reads none): the write then fails
    // with EPIPE, which must not crash the run; the exit status above is what counts.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input ?? '');
  });
}
