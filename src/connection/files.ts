/**
 * readFile / writeFile on a remote host. Writes are atomic: the content goes to a temp file in
 * the target's directory, gets its mode/owner, and is renamed over the target; on any failure
 * the temp file is removed and the target is untouched.
 *
 * Without become: SFTP (rename with posix-rename@openssh.com, else `mv -fT`).
 * With become (sudo): one shell script under sudo, the content on stdin.
 *
 * Links are never followed unless planned: the write is refused when the target's directory
 * is a symbolic link, or the target is one (unless the plan replaces that link, `replaceLink`).
 * The sudo script works inside the directory it checked (`cd -P`, then relative names, and
 * `mv -T`), so swapping the directory for a link after the check does not redirect the write.
 */
import { randomBytes } from 'node:crypto';
import { formatMode } from '../util/format.js';
import { posix } from 'node:path';
import type { SFTPWrapper, Stats } from 'ssh2';
import { ProvisionError } from '../errors.js';
import type { WriteFileOptions } from './types.js';
import { shellJoin } from './quote.js';
import type { RawResult } from './exec.js';

export interface FileOpsContext {
  host: string;
  run(command: string, opts: { become: boolean; stdin?: Buffer }): Promise<RawResult>;
  sftp(): Promise<SFTPWrapper>;
}

const NO_SUCH_FILE = 2;

type SftpError = Error & { code?: number | string };

function call<T>(fn: (cb: (err: SftpError | undefined | null, v: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))));
}

function firstLine(b: Buffer): string {
  return b.toString('utf8').trim().split('\n').slice(-1)[0] ?? '';
}

function readError(ctx: FileOpsContext, path: string, why: string, cause?: unknown): ProvisionError {
  return new ProvisionError('COMMAND', `cannot read ${path} on ${ctx.host}: ${why}`, { cause });
}

function linkRefused(ctx: FileOpsContext, path: string, link: string): ProvisionError {
  return writeError(ctx, path, `${link} is a symbolic link; refusing to write through it (it was not one when the run planned this write)`);
}

function writeError(ctx: FileOpsContext, path: string, why: string, cause?: unknown): ProvisionError {
  return new ProvisionError('COMMAND', `cannot write ${path} on ${ctx.host}: ${why}`, { cause });
}

/** Shell script reading "$1"; exit 3 when it does not exist. */
const READ_SCRIPT = 'test -e "$1" || exit 3; exec cat -- "$1"';

export async function readRemoteFile(ctx: FileOpsContext, path: string, become: boolean): Promise<Buffer | null> {
  if (become) {
    const r = await ctx.run(shellJoin(['sh', '-c', READ_SCRIPT, 'sh', path]), { become: true });
    if (r.exitCode === 3) return null;
    if (r.exitCode !== 0) throw readError(ctx, path, firstLine(r.stderr) || `exit status ${r.exitCode}`);
    return r.stdout;
  }
  const sftp = await ctx.sftp();
  try {
    return await call<Buffer>((cb) => sftp.readFile(path, cb as never));
  } catch (e) {
    const err = e as SftpError;
    if (err.code === NO_SUCH_FILE || err.code === 'ENOENT') return null;
    throw readError(ctx, path, err.message, e);
  }
}

function chownSpec(opts: WriteFileOptions): string {
  if (opts.owner && opts.group) return `${opts.owner}:${opts.group}`;
  if (opts.owner) return opts.owner;
  if (opts.group) return `:${opts.group}`;
  return '';
}

/** Exit status of the scripts below when they refuse a link they were not told about. */
const LINK_REFUSED = 4;

/**
 * The script run under sudo. Positional args: $1 dir, $2 base name, $3 mode ('' = keep the
 * target's, else 0644), $4 chown spec ('' = keep the target's owner), $5 target path,
 * $6 'link' when the plan replaces a symbolic link at the target.
 */
const WRITE_SCRIPT = [
  'umask 077',
  `refuse() { printf '%s is a symbolic link; refusing to write through it (it was not one when the run planned this write)\\n' "$1" >&2; exit ${LINK_REFUSED}; }`,
  '[ -L "$1" ] && refuse "$1"',
  'cd -P -- "$1" || exit 1',
  // The directory we are in must still be the one the path names (not swapped meanwhile).
  '{ [ -L "$1" ] || [ ! "$1" -ef . ]; } && refuse "$1"',
  '[ -L "./$2" ] && [ "$6" != link ] && refuse "$5"',
  'tmp=$(mktemp "./.$2.provision-XXXXXX") || exit 1',
  'trap \'rm -f -- "$tmp"\' EXIT',
  "trap 'exit 1' HUP INT TERM PIPE",
  'cat > "$tmp" || exit 1',
  // Attributes are taken from a regular file only, never through a link.
  'if [ -f "./$2" ] && [ ! -L "./$2" ]; then chown --reference="./$2" -- "$tmp" 2>/dev/null || :; fi',
  'if [ -n "$3" ]; then chmod "$3" -- "$tmp"; elif [ -f "./$2" ] && [ ! -L "./$2" ]; then chmod --reference="./$2" -- "$tmp"; else chmod 0644 -- "$tmp"; fi || exit 1',
  'if [ -n "$4" ]; then chown -- "$4" "$tmp" || exit 1; fi',
  // -T: the target is replaced as a name; a target that became a link to a directory does not
  // receive the file inside it.
  '[ -L "./$2" ] && [ "$6" != link ] && refuse "$5"',
  'mv -fT -- "$tmp" "./$2" || exit 1',
  'trap - EXIT',
].join('\n');

export async function writeRemoteFile(ctx: FileOpsContext, path: string, content: string | Buffer, opts: WriteFileOptions, become: boolean): Promise<void> {
  const data = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
  const dir = posix.dirname(path);
  const base = posix.basename(path);
  if (base === '' || base === '.' || base === '..' || path.endsWith('/')) throw writeError(ctx, path, 'not a file path');

  if (become) {
    const mode = opts.mode === undefined ? '' : formatMode(opts.mode);
    const cmd = shellJoin(['sh', '-c', WRITE_SCRIPT, 'sh', dir, base, mode, chownSpec(opts), path, opts.replaceLink ? 'link' : '']);
    const r = await ctx.run(cmd, { become: true, stdin: data });
    if (r.exitCode !== 0) throw writeError(ctx, path, firstLine(r.stderr) || `exit status ${r.exitCode}`);
    return;
  }

  const sftp = await ctx.sftp();
  const tmp = posix.join(dir, `.${base}.provision-${randomBytes(6).toString('hex')}.tmp`);
  let created = false;
  try {
    const lstat = async (p: string): Promise<Stats | undefined> => {
      try {
        return await call<Stats>((cb) => sftp.lstat(p, cb as never));
      } catch (e) {
        if ((e as SftpError).code !== NO_SUCH_FILE) throw e;
        return undefined;
      }
    };
    // No link where the plan had none: neither the directory nor the target (SFTP has no
    // openat; the directory is checked again right before the rename).
    const unplannedLink = async () => {
      if ((await lstat(dir))?.isSymbolicLink()) throw linkRefused(ctx, path, dir);
      const t = await lstat(path);
      if (t?.isSymbolicLink() && !opts.replaceLink) throw linkRefused(ctx, path, path);
      return t;
    };
    const found = await unplannedLink();
    // Attributes are kept from a regular file only, never read through a link.
    const existing = found?.isFile() ? found : undefined;
    const mode = opts.mode ?? (existing ? existing.mode & 0o7777 : 0o644);
    const handle = await call<Buffer>((cb) => sftp.open(tmp, 'wx', { mode }, cb as never));
    created = true;
    try {
      const CHUNK = 32 * 1024;
      for (let off = 0; off < data.length; off += CHUNK) {
        const len = Math.min(CHUNK, data.length - off);
        await call<void>((cb) => sftp.write(handle, data, off, len, off, cb as never));
      }
      // The mode at open() went through the server's umask: set it exactly.
      await call<void>((cb) => sftp.fsetstat(handle, { mode }, cb as never));
      if (existing && !opts.owner && !opts.group) {
        // Keep the replaced file's owner (best effort: only root may give files away).
        await call<void>((cb) => sftp.fsetstat(handle, { uid: existing!.uid, gid: existing!.gid }, cb as never)).catch(() => undefined);
      }
    } finally {
      await call<void>((cb) => sftp.close(handle, cb as never));
    }
    const spec = chownSpec(opts);
    if (spec) {
      const r = await ctx.run(shellJoin(['chown', '--', spec, tmp]), { become: false });
      if (r.exitCode !== 0) throw new Error(firstLine(r.stderr) || `chown exit status ${r.exitCode}`);
    }
    await unplannedLink();
    const exts = (sftp as unknown as { _extensions?: Record<string, string> })._extensions ?? {};
    if (exts['posix-rename@openssh.com'] === '1') {
      await call<void>((cb) => sftp.ext_openssh_rename(tmp, path, cb as never));
    } else {
      const r = await ctx.run(shellJoin(['mv', '-fT', '--', tmp, path]), { become: false });
      if (r.exitCode !== 0) throw new Error(firstLine(r.stderr) || `mv exit status ${r.exitCode}`);
    }
    created = false;
  } catch (e) {
    if (created) await call<void>((cb) => sftp.unlink(tmp, cb as never)).catch(() => undefined);
    if (e instanceof ProvisionError) throw e;
    throw writeError(ctx, path, (e as Error).message, e);
  }
}
