/**
 * The SSH connection: one ssh2 Client per host (optionally through a ProxyJump host), host key
 * verification against known_hosts, authentication, and the Connection implementation.
 */
import { promises as fsp } from 'node:fs';
import { randomBytes } from 'node:crypto';
import ssh2 from 'ssh2';
import type { AnyAuthMethod, AuthenticationType, ClientChannel, ConnectConfig, SFTPWrapper, VerifyCallback } from 'ssh2';
import pLimit from 'p-limit';
import { ProvisionError } from '../errors.js';
import type { Connection, ConnectionSettings, ExecOptions, ExecResult, WriteFileOptions } from './types.js';
import {
  appendKnownHost,
  checkHostKey,
  expandHome,
  fingerprint,
  hostKeyName,
  keyTypeLabel,
  keyTypeOfBlob,
  knownKeyTypes,
  type HostKeyCheck,
} from './known-hosts.js';
import { FIXED_LOCALE, formatSeconds, recordExit, runOnChannel, sudoWrap, type RawResult, type SudoSpec } from './exec.js';
import { readRemoteFile, writeRemoteFile, type FileOpsContext } from './files.js';
import { batchScript, parseBatch } from './batch.js';

const { Client, utils } = ssh2;
type SshClient = InstanceType<typeof Client>;

/** Channels (exec sessions) open at once on one connection; sshd's MaxSessions is 10. */
export const MAX_CHANNELS = 4;
const CHANNEL_RETRY_DELAY_MS = 250;

/**
 * Host key algorithms we offer: ssh2's defaults without the SHA-1 signatures (`ssh-rsa`,
 * `ssh-dss`), as OpenSSH 8.8 and later. RSA host keys still work through rsa-sha2-512/256.
 */
const DEFAULT_HOST_KEY_ALGOS = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256'];

/** Host key algorithms to offer: the ones known_hosts has for the host first (as OpenSSH does). */
export function hostKeyAlgorithms(knownTypes: readonly string[]): string[] {
  const first: string[] = [];
  for (const t of knownTypes) {
    const algos = t === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256'] : [t];
    for (const a of algos) if (DEFAULT_HOST_KEY_ALGOS.includes(a) && !first.includes(a)) first.push(a);
  }
  return [...first, ...DEFAULT_HOST_KEY_ALGOS.filter((a) => !first.includes(a))];
}

interface Target {
  /** For messages: the inventory name, or `jump host user@addr:port`. */
  name: string;
  address: string;
  port: number;
  user: string;
}

const where = (t: Target) => `${t.name} (${t.address}:${t.port})`;

function describeKey(keyType: string, blob: Buffer): string {
  return `${keyTypeLabel(keyType)} ${fingerprint(blob)}`;
}

function knownHostsFiles(settings: ConnectionSettings): string[] {
  return settings.knownHostsFiles.length > 0 ? settings.knownHostsFiles : ['~/.ssh/known_hosts'];
}

/** Decide about an offered host key; throws ProvisionError('HOSTKEY') to refuse. */
export async function verifyHostKey(t: Target, files: readonly string[], policy: ConnectionSettings['hostKeyPolicy'], keyBlob: Buffer): Promise<void> {
  const keyType = keyTypeOfBlob(keyBlob);
  const offered = describeKey(keyType, keyBlob);
  let check: HostKeyCheck | { status: 'added' } = await checkHostKey(files, t.address, t.port, keyType, keyBlob);
  if (check.status === 'cert-authority') {
    // Under either policy: accept-new must not trust on first use a host whose owner said
    // "trust what this CA signs", and strict must say why the host is not known.
    throw new ProvisionError(
      'HOSTKEY',
      `host key for ${where(t)} is not known: ${check.file}:${check.line} (@cert-authority ${check.caFingerprint}) ` +
        `says to trust host certificates signed by that CA, and provision cannot verify host certificates; ` +
        `the host offered the plain key ${offered}`,
      {
        hint:
          `if that fingerprint is right, record the plain key (ssh-keyscan ${t.port === 22 ? '' : `-p ${t.port} `}${t.address} >> ${expandHome(files[0]!)}); ` +
          'host_key_checking: accept-new does not add keys for such hosts',
      },
    );
  }
  if (check.status === 'unknown') {
    if (policy !== 'accept-new') {
      const file = expandHome(files[0]!);
      throw new ProvisionError('HOSTKEY', `host key for ${where(t)} is not known; fingerprint ${offered}`, {
        hint:
          `if that fingerprint is right, add the key to ${file} ` +
          `(ssh-keyscan ${t.port === 22 ? '' : `-p ${t.port} `}${t.address} >> ${file}) or use host_key_checking: accept-new`,
      });
    }
    check = await appendKnownHost(files[0]!, t.address, t.port, keyType, keyBlob);
  }
  switch (check.status) {
    case 'match':
    case 'added':
      return;
    case 'revoked':
      throw new ProvisionError('HOSTKEY', `host key ${offered} of ${where(t)} is marked @revoked in known_hosts; refusing to connect`);
    case 'mismatch':
      throw new ProvisionError(
        'HOSTKEY',
        `REMOTE HOST IDENTIFICATION HAS CHANGED for ${where(t)}: it offered ${offered}, ` +
          `but ${check.file}:${check.line} expects ${check.expectedFingerprints.join(', ')}`,
        {
          hint:
            'someone could be intercepting the connection, or the host was reinstalled; if you are sure it was, ' +
            `remove the old key (ssh-keygen -R '${hostKeyName(t.address, t.port)}' -f ${check.file}) and connect again`,
        },
      );
    default:
      throw new ProvisionError('HOSTKEY', `host key for ${where(t)} is not known; fingerprint ${offered}`);
  }
}

interface AuthPlan {
  methods: { label: string; method: AnyAuthMethod; needs: AuthenticationType }[];
  notes: string[];
}

/**
 * A key file parsed once per process and content (hundreds of hosts share one key): ssh2 takes
 * the parsed key as it is.
 */
const parsedKeys = new Map<string, ReturnType<typeof utils.parseKey>>();
function parsedKey(data: Buffer): ReturnType<typeof utils.parseKey> {
  const k = data.toString('base64');
  let p = parsedKeys.get(k);
  if (!p) parsedKeys.set(k, (p = utils.parseKey(data)));
  return p;
}

async function planAuth(t: Target, settings: ConnectionSettings, withPassword: boolean): Promise<AuthPlan> {
  const methods: AuthPlan['methods'] = [];
  const notes: string[] = [];
  const agent = process.env.SSH_AUTH_SOCK;
  if (agent) methods.push({ label: 'publickey (agent)', needs: 'publickey', method: { type: 'agent', username: t.user, agent } });
  for (const f of settings.keyFiles) {
    const file = expandHome(f);
    let data: Buffer;
    try {
      data = await fsp.readFile(file);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') notes.push(`cannot read key ${file}: ${code ?? (e as Error).message}`);
      continue;
    }
    const passphrase = settings.keyPassphrases?.[f];
    const parsed = passphrase === undefined ? parsedKey(data) : utils.parseKey(data, passphrase);
    if (parsed instanceof Error) {
      if (/passphrase|encrypted/i.test(parsed.message)) {
        notes.push(`key ${file} is protected by a passphrase (load it into ssh-agent with: ssh-add ${file})`);
      } else {
        notes.push(`key ${file} is not usable: ${parsed.message}`);
      }
      continue;
    }
    methods.push({
      label: `publickey ${file}`,
      needs: 'publickey',
      method: { type: 'publickey', username: t.user, key: Array.isArray(parsed) ? parsed[0]! : parsed },
    });
  }
  if (withPassword && settings.password !== undefined) {
    const password = settings.password;
    methods.push({ label: 'password', needs: 'password', method: { type: 'password', username: t.user, password } });
    methods.push({
      label: 'keyboard-interactive',
      needs: 'keyboard-interactive',
      method: {
        type: 'keyboard-interactive',
        username: t.user,
        prompt: (_name, _instr, _lang, prompts, finish) => finish(prompts.map(() => password)),
      },
    });
  }
  return { methods, notes };
}

function socketError(t: Target, err: NodeJS.ErrnoException, timeoutMs: number): ProvisionError {
  const w = where(t);
  switch (err.code) {
    case 'ECONNREFUSED':
      return new ProvisionError('CONNECT', `cannot connect to ${w}: connection refused`, { hint: 'is sshd running and is the port right?' });
    case 'EHOSTUNREACH':
      return new ProvisionError('CONNECT', `cannot connect to ${w}: host unreachable`);
    case 'ENETUNREACH':
      return new ProvisionError('CONNECT', `cannot connect to ${w}: network unreachable`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new ProvisionError('CONNECT', `cannot connect to ${w}: cannot resolve ${t.address}`);
    case 'ETIMEDOUT':
      return new ProvisionError('TIMEOUT', `cannot connect to ${w}: timed out after ${formatSeconds(timeoutMs)}`);
    case 'ECONNRESET':
      return new ProvisionError('CONNECT', `cannot connect to ${w}: connection reset by peer`);
    default:
      return new ProvisionError('CONNECT', `cannot connect to ${w}: ${err.message}`);
  }
}

/** Open and authenticate one ssh2 Client (over `sock` when going through a jump host). */
async function openClient(t: Target, settings: ConnectionSettings, opts: { withPassword: boolean; sock?: NodeJS.ReadableStream }): Promise<SshClient> {
  const files = knownHostsFiles(settings);
  const [auth, knownTypes] = await Promise.all([planAuth(t, settings, opts.withPassword), knownKeyTypes(files, t.address, t.port)]);
  const client = new Client();
  let hostKeyError: Error | undefined;
  const tried: string[] = [];

  const authHandler = (methodsLeft: AuthenticationType[] | null, _partial: boolean | null, next: (m: AnyAuthMethod | false) => void) => {
    for (;;) {
      const m = auth.methods.shift();
      if (!m) return next(false);
      if (methodsLeft && !methodsLeft.includes(m.needs)) continue;
      tried.push(m.label);
      return next(m.method);
    }
  };

  const hostVerifier = (key: Buffer, verify: VerifyCallback) => {
    verifyHostKey(t, files, settings.hostKeyPolicy, key).then(
      () => verify(true),
      (e: unknown) => {
        hostKeyError = e instanceof Error ? e : new Error(String(e));
        verify(false);
      },
    );
  };

  const config: ConnectConfig = {
    host: t.address,
    port: t.port,
    username: t.user,
    readyTimeout: settings.connectTimeoutMs,
    keepaliveInterval: settings.keepaliveIntervalMs,
    keepaliveCountMax: 3,
    hostVerifier,
    authHandler: authHandler as ConnectConfig['authHandler'],
    algorithms: { serverHostKey: hostKeyAlgorithms(knownTypes) as never },
  };
  if (opts.sock) config.sock = opts.sock as ConnectConfig['sock'];

  return new Promise<SshClient>((resolve, reject) => {
    let settled = false;
    const fail = (e: Error) => {
      if (settled) return;
      settled = true;
      client.removeListener('ready', onReady);
      client.end();
      reject(e);
    };
    const onReady = () => {
      if (settled) return;
      settled = true;
      resolve(client);
    };
    client.on('ready', onReady);
    client.on('error', (err: Error & { level?: string; code?: string }) => {
      if (settled) return;
      if (hostKeyError) return fail(hostKeyError);
      switch (err.level) {
        case 'agent':
          tried.push(`(agent failed: ${err.message})`);
          return; // ssh2 goes on with the next method
        case 'client-authentication': {
          const list = tried.length > 0 ? tried.join(', ') : 'no usable method: no key files, no agent, no password';
          return fail(
            new ProvisionError('AUTH', `authentication failed for ${t.user}@${t.address}:${t.port} (tried: ${list})`, {
              hint: [...auth.notes, `check the user, key files and password for ${t.name}`].join('; '),
            }),
          );
        }
        case 'client-timeout':
          return fail(new ProvisionError('TIMEOUT', `cannot connect to ${where(t)}: timed out after ${formatSeconds(settings.connectTimeoutMs)}`));
        case 'client-socket': {
          const se = socketError(t, err, settings.connectTimeoutMs);
          return fail(err.code === 'ECONNRESET' ? retryable(se) : se);
        }
        default: {
          const he = new ProvisionError('CONNECT', `ssh handshake with ${where(t)} failed: ${err.message}`, { cause: err });
          return fail(/before handshake|ECONNRESET/i.test(err.message) ? retryable(he) : he);
        }
      }
    });
    client.on('close', () => {
      if (hostKeyError) return fail(hostKeyError);
      fail(retryable(new ProvisionError('CONNECT', `connection to ${where(t)} closed before login`)));
    });
    try {
      client.connect(config);
      // Every step, the handshake's included, is a small request awaiting a small reply: without
      // TCP_NODELAY, Nagle's algorithm against the peer's delayed ACKs adds ~40 ms to a round
      // trip (twice in a handshake: the key exchange's reply and the userauth service's). Set now,
      // before the socket connects (Node applies it on connect), it takes a login on the lab from
      // 145 ms to 62 ms. A jump host's channel (config.sock) has no such setting.
      client.setNoDelay(true);
    } catch (e) {
      fail(new ProvisionError('CONNECT', `cannot connect to ${where(t)}: ${(e as Error).message}`, { cause: e }));
    }
  });
}

function forwardOut(jump: SshClient, jt: Target, address: string, port: number): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    try {
      jump.forwardOut('127.0.0.1', 0, address, port, (err, stream) => {
        if (err) reject(new ProvisionError('CONNECT', `${jt.name} cannot open a connection to ${address}:${port}: ${err.message}`));
        else resolve(stream);
      });
    } catch (e) {
      reject(new ProvisionError('CONNECT', `${jt.name} cannot open a connection to ${address}:${port}: ${(e as Error).message}`));
    }
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Open the connection to one host (through its jump host, if any) and log in. */
/**
 * Passwords are one line (sudo reads one; what follows would reach the command's stdin). The
 * inventory refuses them with file:line:col; this refuses them from any other source.
 */
function checkPasswords(settings: ConnectionSettings): void {
  for (const [key, v] of [
    ['password', settings.password],
    ['become_password', settings.becomePassword],
  ] as const) {
    if (v !== undefined && /[\r\n]/.test(v)) {
      throw new ProvisionError('AUTH', `${key} of ${settings.name} contains a line break (the value is not shown); refusing to send it`, {
        hint: 'a password is one line; a YAML block scalar (|) ends with a line break',
      });
    }
  }
}

export async function connect(settings: ConnectionSettings): Promise<Connection> {
  checkPasswords(settings);
  const target: Target = { name: settings.name, address: settings.address, port: settings.port, user: settings.user };
  let jump: SshClient | undefined;
  if (settings.proxyJump) {
    const pj = settings.proxyJump;
    const jt: Target = { name: `jump host ${pj.user}@${pj.address}:${pj.port}`, address: pj.address, port: pj.port, user: pj.user };
    jump = await openClient(jt, settings, { withPassword: false });
    try {
      const sock = await forwardOut(jump, jt, settings.address, settings.port);
      const client = await openClient(target, settings, { withPassword: true, sock });
      return new SshConnection(settings, client, jump);
    } catch (e) {
      jump.end();
      throw e;
    }
  }
  let attempts = 0;
  for (;;) {
    attempts++;
    try {
      const client = await openClient(target, settings, { withPassword: true });
      const conn = new SshConnection(settings, client);
      conn.connectAttempts = attempts;
      return conn;
    } catch (e) {
      if (!transient.has(e as Error) || attempts >= CONNECT_ATTEMPTS) throw e;
      // sshd drops handshakes beyond MaxStartups (default 10:30:100) at once: back off, retry.
      await sleep(CONNECT_BACKOFF_MS * 2 ** (attempts - 1) * (0.5 + Math.random()));
    }
  }
}

/** Handshakes that sshd dropped before login (reset, or closed before its banner) are retried. */
export const CONNECT_ATTEMPTS = 4;
const CONNECT_BACKOFF_MS = 250;
const transient = new WeakSet<Error>();
const retryable = (e: ProvisionError): ProvisionError => (transient.add(e), e);

export class SshConnection implements Connection {
  readonly host: string;
  /** Number of channel opens that needed the retry (for diagnostics). */
  channelRetries = 0;
  /** Handshakes it took to connect (more than 1 when sshd dropped one: MaxStartups). */
  connectAttempts = 1;
  private readonly limit = pLimit(MAX_CHANNELS);
  private readonly lostController = new AbortController();
  private sftpPromise?: Promise<SFTPWrapper>;
  private closing?: Promise<void>;
  private clientClosed = false;
  private readonly sudoBase: Omit<SudoSpec, 'user'>;
  private readonly files: FileOpsContext;

  constructor(
    private readonly settings: ConnectionSettings,
    private readonly client: SshClient,
    private readonly jump?: SshClient,
  ) {
    this.host = settings.name;
    const key = randomBytes(8).toString('hex');
    this.sudoBase = {
      prompt: `[sudo via provision, key=${key}] password:`,
      okMarker: `PROVISION-BECOME-OK-${key}`,
      password: settings.becomePassword,
    };
    const lost = (why: string) => {
      if (!this.lostController.signal.aborted) {
        this.lostController.abort(new ProvisionError('CONNECT', `connection to ${this.host} ${why}`));
      }
    };
    client.on('error', (err: Error) => lost(`lost: ${err.message}`));
    client.on('end', () => lost(this.closing ? 'is closed' : 'lost'));
    client.on('close', () => {
      this.clientClosed = true;
      lost(this.closing ? 'is closed' : 'lost');
      this.jump?.end();
    });
    jump?.on('error', () => undefined);
    jump?.on('close', () => client.end());
    this.files = {
      host: this.host,
      run: (command, o) => this.run(command, { become: o.become, stdin: o.stdin }),
      sftp: () => this.sftp(),
    };
  }

  usesSudo(become: boolean | undefined): boolean {
    return (become ?? this.settings.become) && this.settings.user !== this.settings.becomeUser;
  }

  private checkOpen(): void {
    const s = this.lostController.signal;
    if (s.aborted) throw s.reason instanceof Error ? s.reason : new ProvisionError('CONNECT', `connection to ${this.host} lost`);
  }

  /** Open a channel, retrying once on "(SSH) Channel open failure". */
  private async openChannel<T>(open: (cb: (err: Error | undefined, ch: T) => void) => void): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      this.checkOpen();
      try {
        return await new Promise<T>((resolve, reject) => {
          try {
            open((err, ch) => (err ? reject(err) : resolve(ch)));
          } catch (e) {
            reject(e);
          }
        });
      } catch (e) {
        this.checkOpen();
        const msg = (e as Error).message ?? '';
        if (attempt === 0 && /Channel open failure/i.test(msg)) {
          this.channelRetries++;
          await sleep(CHANNEL_RETRY_DELAY_MS);
          continue;
        }
        throw new ProvisionError('CONNECT', `cannot open a channel to ${this.host}: ${msg}`, { cause: e });
      }
    }
  }

  private run(command: string, o: { become: boolean; stdin?: Buffer; timeoutMs?: number; nodeLocale?: boolean }): Promise<RawResult> {
    const sudo: SudoSpec | undefined = o.become ? { ...this.sudoBase, user: this.settings.becomeUser } : undefined;
    const locale = o.nodeLocale ? '' : FIXED_LOCALE;
    const wire = locale + (sudo ? sudoWrap(locale + command, sudo) : command);
    return this.limit(async () => {
      const ch = await this.openChannel<ClientChannel>((cb) => this.client.exec(wire, (err, c) => cb(err, c && recordExit(c))));
      return runOnChannel(ch, {
        host: this.host,
        display: command,
        timeoutMs: o.timeoutMs ?? this.settings.commandTimeoutMs,
        stdin: o.stdin,
        sudo,
        lost: this.lostController.signal,
      });
    });
  }

  async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const stdin = opts.stdin === undefined ? undefined : typeof opts.stdin === 'string' ? Buffer.from(opts.stdin) : opts.stdin;
    const r = await this.run(command, { become: this.usesSudo(opts.become), stdin, timeoutMs: opts.timeoutMs, nodeLocale: opts.nodeLocale });
    return {
      command,
      exitCode: r.exitCode,
      stdout: r.stdout.toString('utf8'),
      stderr: r.stderr.toString('utf8'),
      durationMs: r.durationMs,
    };
  }

  async execMany(commands: readonly string[], opts: Omit<ExecOptions, 'stdin'> = {}): Promise<ExecResult[]> {
    const batch = batchScript(commands);
    const r = await this.run(batch.script, { become: this.usesSudo(opts.become), timeoutMs: opts.timeoutMs });
    const each = r.durationMs;
    return parseBatch(batch, r.stdout, r.stderr, commands.length, this.host).map((x, i) => ({
      command: commands[i]!,
      exitCode: x.exitCode,
      stdout: x.stdout.toString('utf8'),
      stderr: x.stderr.toString('utf8'),
      durationMs: each,
    }));
  }

  private sftp(): Promise<SFTPWrapper> {
    if (!this.sftpPromise) {
      const p = this.openChannel<SFTPWrapper>((cb) => this.client.sftp(cb));
      this.sftpPromise = p;
      p.then(
        (s) => {
          s.on('close', () => {
            if (this.sftpPromise === p) this.sftpPromise = undefined;
          });
          s.on('error', () => undefined);
        },
        () => {
          if (this.sftpPromise === p) this.sftpPromise = undefined;
        },
      );
    }
    return this.sftpPromise;
  }

  readFile(path: string, opts: { become?: boolean } = {}): Promise<Buffer | null> {
    return readRemoteFile(this.files, path, this.usesSudo(opts.become));
  }

  writeFile(path: string, content: string | Buffer, opts: WriteFileOptions = {}): Promise<void> {
    return writeRemoteFile(this.files, path, content, opts, this.usesSudo(opts.become));
  }

  close(): Promise<void> {
    if (!this.closing) {
      this.closing = new Promise<void>((resolve) => {
        if (this.clientClosed) return resolve();
        const timer = setTimeout(() => {
          // no orderly close within 2 s: drop the socket
          (this.client as unknown as { _sock?: { destroy?(): void } })._sock?.destroy?.();
          resolve();
        }, 2000);
        timer.unref?.();
        this.client.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
        this.client.end();
      }).then(() => {
        this.jump?.end();
      });
    }
    return this.closing;
  }
}
