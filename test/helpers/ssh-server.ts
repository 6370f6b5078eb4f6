/**
 * An in-process SSH server (ssh2's Server) for connection tests.
 * - exec runs the command locally with `sh -c` in `cwd` (real shell semantics);
 * - sftp serves the local file system (enough handlers for read/write/rename);
 * - counts TCP connections and concurrent sessions, records every exec and its stdin.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { connect as netConnect, createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { join, resolve as resolvePath } from 'node:path';
import ssh2 from 'ssh2';
import type { Connection as ServerConnection, ParsedKey, ServerChannel, SFTPWrapper } from 'ssh2';
import { fingerprint } from '../../src/connection/known-hosts.js';

const { Server, utils } = ssh2;
const { STATUS_CODE, flagsToString } = utils.sftp;

export interface TestUser {
  password?: string;
  /** OpenSSH public key line (`ssh-ed25519 AAAA...`). */
  publicKey?: string;
}

export interface TestServerOptions {
  users: Record<string, TestUser>;
  /** Private host keys; an ed25519 key is generated when absent. */
  hostKeys?: string[];
  cwd: string;
  env?: NodeJS.ProcessEnv;
  /** Advertise posix-rename@openssh.com (default true). */
  posixRename?: boolean;
  /** Make renames (SFTP RENAME, posix-rename) fail for these targets. */
  failRename?: (from: string, to: string) => boolean;
  /** Allow direct-tcpip forwarding (acting as a ProxyJump host). */
  allowForwarding?: boolean;
  /**
   * Simulated hosts with identical state (the scale bench): a command seen before is answered
   * with what it printed the first time, without running it again. Only for read-only runs.
   */
  memoize?: boolean;
  /** Port to listen on (default: any free one). */
  port?: number;
  /**
   * More loopback addresses to listen on, on the same port (127.x.y.z): many simulated hosts,
   * each at its own address, all served by this one server.
   */
  alsoListen?: string[];
  /** Do not record execs and their stdin (memory stays flat over many sessions). */
  noRecord?: boolean;
}

export interface ExecRecord {
  user: string;
  command: string;
  stdin: Buffer;
  exitCode?: number | null;
}

export interface TestServer {
  port: number;
  /** Public key blobs and fingerprints of the host keys, in order. */
  hostKeys: { type: string; blob: Buffer; fingerprint: string }[];
  /** TCP connections accepted so far. */
  connections: number;
  /** Open sessions (channels) right now, and the most at once. */
  sessions: { current: number; max: number; total: number };
  execs: ExecRecord[];
  sftpOps: string[];
  /** Refuse this many of the next session opens ("Channel open failure"). */
  rejectSessions: number;
  /** direct-tcpip forwards served. */
  forwards: string[];
  /** Destroy every client socket (simulates a network failure). */
  dropConnections(): void;
  close(): Promise<void>;
}

export function generateKey(type: 'ed25519' | 'rsa' = 'ed25519', passphrase?: string): { private: string; public: string } {
  const opts: Record<string, unknown> = type === 'rsa' ? { bits: 2048 } : {};
  if (passphrase) {
    opts.passphrase = passphrase;
    opts.cipher = 'aes256-cbc';
  }
  // ssh2's generator drops a leading zero byte of an ed25519 public key (about 1 key in 300):
  // such a pair does not parse, and the test that drew it failed at random. Draw again.
  for (;;) {
    const k = utils.generateKeyPairSync(type as 'ed25519', opts as never);
    if (!(utils.parseKey(k.public) instanceof Error) && !(utils.parseKey(k.private, passphrase) instanceof Error)) return k;
  }
}

/** The SSH wire-format blob of a public (or private) key. */
export function publicKeyBlob(key: string | Buffer): Buffer {
  return parsed(key).getPublicSSH();
}

/** `ssh-ed25519 AAAA...` for a private key (file content). */
export function publicKeyLine(key: string | Buffer): string {
  const k = parsed(key);
  return `${k.type} ${k.getPublicSSH().toString('base64')}`;
}

function parsed(key: string | Buffer): ParsedKey {
  const k = utils.parseKey(key);
  if (k instanceof Error) throw k;
  return Array.isArray(k) ? k[0] : k;
}

function errStatus(e: unknown): number {
  switch ((e as NodeJS.ErrnoException).code) {
    case 'ENOENT':
      return STATUS_CODE.NO_SUCH_FILE;
    case 'EACCES':
    case 'EPERM':
      return STATUS_CODE.PERMISSION_DENIED;
    default:
      return STATUS_CODE.FAILURE;
  }
}

function attrsOf(st: fs.Stats) {
  return { mode: st.mode, uid: st.uid, gid: st.gid, size: st.size, atime: Math.floor(st.atimeMs / 1000), mtime: Math.floor(st.mtimeMs / 1000) };
}

/** Make the server's SFTP VERSION packet advertise posix-rename@openssh.com (ssh2 sends none). */
function advertisePosixRename(sftp: SFTPWrapper): void {
  const s = sftp as unknown as { _protocol: { channelData(id: number, data: Buffer): void } };
  const proto = s._protocol;
  let patched = false;
  s._protocol = new Proxy(proto, {
    get(target, key) {
      if (key === 'channelData') {
        return (id: number, data: Buffer) => {
          if (!patched && data.length === 9 && data[4] === 2 /* VERSION */) {
            patched = true;
            const str = (x: string) => {
              const b = Buffer.from(x);
              const l = Buffer.alloc(4);
              l.writeUInt32BE(b.length);
              return Buffer.concat([l, b]);
            };
            const body = Buffer.concat([data.subarray(4), str('posix-rename@openssh.com'), str('1')]);
            const len = Buffer.alloc(4);
            len.writeUInt32BE(body.length);
            data = Buffer.concat([len, body]);
          }
          target.channelData(id, data);
        };
      }
      const v = (target as unknown as Record<PropertyKey, unknown>)[key];
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

function serveSftp(sftp: SFTPWrapper, o: TestServerOptions, ops: string[]): void {
  const handles = new Map<number, number>();
  let next = 1;
  const handleBuf = (fd: number) => {
    const h = Buffer.alloc(4);
    h.writeUInt32BE(next);
    handles.set(next++, fd);
    return h;
  };
  const fdOf = (h: Buffer) => (h.length === 4 ? handles.get(h.readUInt32BE(0)) : undefined);
  const guard = (reqid: number, fn: () => void) => {
    try {
      fn();
    } catch (e) {
      sftp.status(reqid, errStatus(e), (e as Error).message);
    }
  };
  const rename = (reqid: number, from: string, to: string, posix: boolean) =>
    guard(reqid, () => {
      ops.push(`${posix ? 'posix-rename' : 'rename'} ${from} ${to}`);
      if (o.failRename?.(from, to)) return sftp.status(reqid, STATUS_CODE.FAILURE, 'rename refused by test');
      if (!posix && fs.existsSync(to)) return sftp.status(reqid, STATUS_CODE.FAILURE, 'target exists');
      fs.renameSync(from, to);
      sftp.status(reqid, STATUS_CODE.OK);
    });

  sftp
    .on('OPEN', (reqid, filename, flags, attrs) =>
      guard(reqid, () => {
        ops.push(`open ${filename} ${flagsToString(flags)}`);
        // The mode the file is created with (before any later chmod): `open-mode 0600 <path>`.
        if (attrs?.mode !== undefined) ops.push(`open-mode ${(attrs.mode & 0o7777).toString(8).padStart(4, '0')} ${filename}`);
        const fd = fs.openSync(filename, flagsToString(flags) ?? 'r', attrs?.mode ?? 0o666);
        sftp.handle(reqid, handleBuf(fd));
      }),
    )
    .on('WRITE', (reqid, handle, offset, data) =>
      guard(reqid, () => {
        const fd = fdOf(handle);
        if (fd === undefined) return sftp.status(reqid, STATUS_CODE.FAILURE);
        fs.writeSync(fd, data, 0, data.length, offset);
        sftp.status(reqid, STATUS_CODE.OK);
      }),
    )
    .on('READ', (reqid, handle, offset, length) =>
      guard(reqid, () => {
        const fd = fdOf(handle);
        if (fd === undefined) return sftp.status(reqid, STATUS_CODE.FAILURE);
        const buf = Buffer.alloc(length);
        const n = fs.readSync(fd, buf, 0, length, offset);
        if (n === 0) return sftp.status(reqid, STATUS_CODE.EOF);
        sftp.data(reqid, buf.subarray(0, n));
      }),
    )
    .on('FSTAT', (reqid, handle) =>
      guard(reqid, () => {
        const fd = fdOf(handle);
        if (fd === undefined) return sftp.status(reqid, STATUS_CODE.FAILURE);
        sftp.attrs(reqid, attrsOf(fs.fstatSync(fd)));
      }),
    )
    .on('FSETSTAT', (reqid, handle, attrs) =>
      guard(reqid, () => {
        const fd = fdOf(handle);
        if (fd === undefined) return sftp.status(reqid, STATUS_CODE.FAILURE);
        ops.push(`fsetstat ${JSON.stringify(attrs)}`);
        if (attrs.mode !== undefined) fs.fchmodSync(fd, attrs.mode & 0o7777);
        if (attrs.uid !== undefined && attrs.gid !== undefined) fs.fchownSync(fd, attrs.uid, attrs.gid);
        sftp.status(reqid, STATUS_CODE.OK);
      }),
    )
    .on('SETSTAT', (reqid, path, attrs) =>
      guard(reqid, () => {
        if (attrs.mode !== undefined) fs.chmodSync(path, attrs.mode & 0o7777);
        if (attrs.uid !== undefined && attrs.gid !== undefined) fs.chownSync(path, attrs.uid, attrs.gid);
        sftp.status(reqid, STATUS_CODE.OK);
      }),
    )
    .on('CLOSE', (reqid, handle) =>
      guard(reqid, () => {
        const fd = fdOf(handle);
        if (fd === undefined) return sftp.status(reqid, STATUS_CODE.FAILURE);
        handles.delete(handle.readUInt32BE(0));
        fs.closeSync(fd);
        sftp.status(reqid, STATUS_CODE.OK);
      }),
    )
    .on('STAT', (reqid, path) => guard(reqid, () => sftp.attrs(reqid, attrsOf(fs.statSync(path)))))
    .on('LSTAT', (reqid, path) => guard(reqid, () => sftp.attrs(reqid, attrsOf(fs.lstatSync(path)))))
    .on('REMOVE', (reqid, path) =>
      guard(reqid, () => {
        ops.push(`remove ${path}`);
        fs.unlinkSync(path);
        sftp.status(reqid, STATUS_CODE.OK);
      }),
    )
    .on('RENAME', (reqid, from, to) => rename(reqid, from, to, false))
    .on('REALPATH', (reqid, path) =>
      guard(reqid, () => {
        const p = resolvePath(o.cwd, path);
        sftp.name(reqid, [{ filename: p, longname: p, attrs: {} as never }]);
      }),
    )
    .on(
      'EXTENDED' as never,
      ((reqid: number, name: string, data?: Buffer) => {
        if (name !== 'posix-rename@openssh.com' || !data) return sftp.status(reqid, STATUS_CODE.OP_UNSUPPORTED);
        const l1 = data.readUInt32BE(0);
        const from = data.subarray(4, 4 + l1).toString();
        const l2 = data.readUInt32BE(4 + l1);
        const to = data.subarray(8 + l1, 8 + l1 + l2).toString();
        rename(reqid, from, to, true);
      }) as never,
    );
  sftp.on('close', () => {
    for (const fd of handles.values()) fs.closeSync(fd);
    handles.clear();
  });
}

export async function startTestServer(o: TestServerOptions): Promise<TestServer> {
  const hostKeys = o.hostKeys ?? [generateKey('ed25519').private];
  const pubs = Object.fromEntries(Object.entries(o.users).map(([u, cfg]) => [u, cfg.publicKey ? parsed(cfg.publicKey) : undefined]));
  const sockets = new Set<Socket>();
  const clients = new Set<ServerConnection>();
  const state: TestServer = {
    port: 0,
    hostKeys: hostKeys.map((k) => {
      const blob = parsed(k).getPublicSSH();
      return { type: parsed(k).type, blob, fingerprint: fingerprint(blob) };
    }),
    connections: 0,
    sessions: { current: 0, max: 0, total: 0 },
    execs: [],
    sftpOps: [],
    rejectSessions: 0,
    forwards: [],
    dropConnections: () => {
      for (const s of sockets) s.destroy();
    },
    close: () =>
      new Promise<void>((r) => {
        for (const c of clients) c.end();
        for (const s of sockets) s.destroy();
        for (const x of extra) x.close();
        server.close(() => r());
      }),
  };
  const extra: NetServer[] = [];

  const memo = new Map<string, Promise<Answer>>();
  const server = new Server({ hostKeys }, (client) => {
    state.connections++;
    clients.add(client);
    const sock = (client as unknown as { _sock: Socket })._sock;
    if (sock) sockets.add(sock);
    let user = '';
    const children = new Set<ChildProcess>();
    const sessionDone = new Set<() => void>();
    client.on('error', () => undefined);
    client.on('close', () => {
      for (const d of sessionDone) d();
      clients.delete(client);
      if (sock) sockets.delete(sock);
      for (const c of children) c.kill('SIGKILL');
    });
    client.on('authentication', (ctx) => {
      const u = o.users[ctx.username];
      if (u) {
        if (ctx.method === 'password' && u.password !== undefined && ctx.password === u.password) {
          user = ctx.username;
          return ctx.accept();
        }
        const pub = pubs[ctx.username];
        if (ctx.method === 'publickey' && pub && ctx.key.algo === pub.type && ctx.key.data.equals(pub.getPublicSSH())) {
          if (!ctx.signature) return ctx.accept(); // "this key would do"
          if (pub.verify(ctx.blob!, ctx.signature, ctx.hashAlgo) === true) {
            user = ctx.username;
            return ctx.accept();
          }
        }
      }
      ctx.reject(['publickey', 'password']);
    });
    client.on('ready', () => {
      client.on('tcpip', (accept, reject, info) => {
        if (!o.allowForwarding) return reject();
        state.forwards.push(`${info.destIP}:${info.destPort}`);
        const out = netConnect(info.destPort, info.destIP);
        out.on('error', () => undefined);
        out.on('connect', () => {
          const ch = accept();
          ch.on('error', () => undefined);
          ch.pipe(out).pipe(ch);
          ch.on('close', () => out.destroy());
          out.on('close', () => ch.destroy());
        });
        out.on('error', () => reject());
      });
      client.on('session', (accept, reject) => {
        if (state.rejectSessions > 0) {
          state.rejectSessions--;
          return reject();
        }
        const session = accept();
        state.sessions.current++;
        state.sessions.total++;
        state.sessions.max = Math.max(state.sessions.max, state.sessions.current);
        let open = true;
        const done = () => {
          if (open) {
            open = false;
            state.sessions.current--;
          }
        };
        session.on('close', done);
        sessionDone.add(done);
        session.on('close', () => sessionDone.delete(done));
        let child: ChildProcess | undefined;
        session.on('signal', (accept2, _reject, info) => {
          accept2?.();
          child?.kill(`SIG${info.name}` as NodeJS.Signals);
        });
        session.on('exec', (acceptExec, _reject, info) => {
          const stream = acceptExec();
          const rec: ExecRecord = { user, command: info.command, stdin: Buffer.alloc(0) };
          if (!o.noRecord) state.execs.push(rec);
          if (o.memoize) return answerFromMemo(memo, info.command, stream, o);
          const c = spawn('sh', ['-c', info.command], { cwd: o.cwd, env: { ...process.env, ...o.env } });
          child = c;
          children.add(c);
          c.stdin.on('error', () => undefined);
          stream.on('data', (d: Buffer) => {
            rec.stdin = Buffer.concat([rec.stdin, d]);
            c.stdin.write(d);
          });
          stream.on('end', () => c.stdin.end());
          stream.on('error', () => undefined);
          c.stdout.on('data', (d: Buffer) => stream.write(d));
          c.stderr.on('data', (d: Buffer) => stream.stderr.write(d));
          stream.on('close', () => c.kill('SIGKILL'));
          c.on('close', (code, signal) => {
            children.delete(c);
            rec.exitCode = code;
            try {
              if (code !== null) stream.exit(code);
              else stream.exit(signal!.replace(/^SIG/, ''), false, '');
              stream.end();
            } catch {
              /* channel gone */
            }
          });
        });
        session.on('sftp', (acceptSftp) => {
          const sftp = acceptSftp();
          if (o.posixRename !== false) advertisePosixRename(sftp);
          serveSftp(sftp, o, state.sftpOps);
        });
      });
    });
  });
  await new Promise<void>((r) => server.listen(o.port ?? 0, '127.0.0.1', () => r()));
  state.port = (server.address() as AddressInfo).port;
  for (const addr of o.alsoListen ?? []) {
    const x = createNetServer((sock) => server.injectSocket(sock));
    extra.push(x);
    await new Promise<void>((r, j) => x.once('error', j).listen(state.port, addr, () => r()));
  }
  return state;
}

/**
 * A fake `sudo` in `<dir>/sudo` understanding -H -S -n -p -u --: it prompts on stderr and reads
 * the password from stdin like sudo -S, accepts $FAKE_SUDO_PASSWORD (or nothing when
 * $FAKE_SUDO_NOPASSWD is set), then execs the command. Returns the directory for PATH.
 */
export function installFakeSudo(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const script = `#!/bin/sh
stdin_pw=0; nonint=0; prompt='Password:'; user=root
while [ $# -gt 0 ]; do
  case "$1" in
    -H) shift;;
    -S) stdin_pw=1; shift;;
    -n) nonint=1; shift;;
    -p) prompt=$2; shift 2;;
    -u) user=$2; shift 2;;
    --) shift; break;;
    *) break;;
  esac
done
if [ -z "$FAKE_SUDO_NOPASSWD" ]; then
  if [ $nonint = 1 ]; then echo "sudo: a password is required" >&2; exit 1; fi
  tries=0
  while :; do
    printf '%s' "$prompt" >&2
    IFS= read -r pw || { echo "sudo: no password was provided" >&2; exit 1; }
    [ "$pw" = "$FAKE_SUDO_PASSWORD" ] && break
    tries=$((tries+1))
    if [ $tries -ge 3 ]; then echo "sudo: 3 incorrect password attempts" >&2; exit 1; fi
    echo "Sorry, try again." >&2
  done
fi
FAKE_SUDO_TARGET=$user; export FAKE_SUDO_TARGET
# As pam_env with /etc/default/locale does in Debian's sudo PAM session.
if [ -n "$FAKE_SUDO_SETS_LANG" ]; then LANG=$FAKE_SUDO_SETS_LANG; export LANG; fi
exec "$@"
`;
  const p = join(dir, 'sudo');
  writeFileSync(p, script);
  chmodSync(p, 0o755);
  return dir;
}

type Answer = { stdout: Buffer; stderr: Buffer; code: number; boundary?: string };
const BOUNDARY = /provision-batch-[0-9a-f]{24}/;

/** Runs a command once (`sh -c` in cwd); later calls with the same command get the same answer. */
function answerFromMemo(memo: Map<string, Promise<Answer>>, command: string, stream: ServerChannel, o: TestServerOptions): void {
  // A batch of probes (src/connection/batch.ts) differs from host to host only by its random
  // boundary: the same batch for the memo, its answer given back with this request's boundary.
  const boundary = BOUNDARY.exec(command)?.[0];
  const key = boundary ? command.replaceAll(boundary, 'BOUNDARY') : command;
  const mine = (b: Buffer, first: string | undefined) =>
    boundary && first && first !== boundary ? Buffer.from(b.toString('latin1').replaceAll(first, boundary), 'latin1') : b;
  let p = memo.get(key);
  if (!p) {
    p = new Promise<Answer>((resolve) => {
      const c = spawn('sh', ['-c', command], { cwd: o.cwd, env: { ...process.env, ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      c.stdout.on('data', (d: Buffer) => out.push(d));
      c.stderr.on('data', (d: Buffer) => err.push(d));
      c.on('close', (code) => resolve({ stdout: Buffer.concat(out), stderr: Buffer.concat(err), code: code ?? 255 }));
    });
    memo.set(
      key,
      p.then((a) => ({ ...a, boundary })),
    );
    p = memo.get(key)!;
  }
  stream.on('error', () => undefined);
  stream.on('data', () => undefined);
  void p.then((a) => {
    try {
      stream.write(mine(a.stdout, a.boundary));
      stream.stderr.write(mine(a.stderr, a.boundary));
      stream.exit(a.code);
      stream.end();
    } catch {
      /* channel gone */
    }
  });
}
