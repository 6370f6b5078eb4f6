import { createHash } from 'node:crypto';
import { probeScript } from '../connection/batch.js';
import type { Step } from '../plan/types.js';
import { defineFact, UNKNOWABLE, type Unknowable } from './types.js';
import { probeFailed, SH_ABSENT } from './util.js';

export const MAX_CONTENT = 1024 * 1024;

export type FileFact =
  | { exists: false }
  | {
      exists: true;
      type: 'file' | 'directory' | 'link' | 'other';
      /** Permission bits incl. setuid/setgid/sticky, e.g. 0o644. */
      mode: number;
      owner: string;
      group: string;
      size: number;
      /** Regular files: hex sha256 of the bytes. */
      sha256?: string;
      /** Regular files up to MAX_CONTENT, decoded as UTF-8. */
      content?: string;
      /** Links: where it points. */
      target?: string;
    };

const MARK = '--provision-content--';
// The path is passed as $1, never pasted into the script. The content comes last, after a
// marker line, so nothing in it (nor in a link target) can be mistaken for the header.
// The type is read from the raw mode (%f, hex), never from %F's words: those are translated
// ("普通文件" for "regular file" under LANG=zh_CN.UTF-8). %F stays for people reading the output.
const SCRIPT = `p=$1
if [ ! -e "$p" ] && [ ! -L "$p" ]; then
${SH_ABSENT}
fi
s=$(stat -c '%F|%a|%U|%G|%s|%f' -- "$p") || return 2
printf '%s\\n' "$s"
case $(( 0x\${s##*|} & 61440 )) in
40960) printf '%s\\n' '${MARK}'; readlink -- "$p" || return 2 ;;
32768)
  h=$(sha256sum < "$p") || return 2
  printf '%s\\n' "\${h%% *}"
  z=\${s%|*}
  if [ "\${z##*|}" -le ${MAX_CONTENT} ]; then printf '%s\\n' '${MARK}'; cat -- "$p" || return 2; fi ;;
esac`;

/** S_IFMT bits of a raw mode -> the fact's type. */
const TYPES: Record<number, 'file' | 'directory' | 'link'> = { 0o100000: 'file', 0o040000: 'directory', 0o120000: 'link' };

/** The type from %f (hex raw mode) when given, else (recorded output of older probes) from %F's English words. */
function typeOf(words: string | undefined, rawHex: string | undefined): 'file' | 'directory' | 'link' | 'other' {
  if (rawHex !== undefined && /^[0-9a-f]+$/i.test(rawHex)) return TYPES[parseInt(rawHex, 16) & 0o170000] ?? 'other';
  return words === 'directory' ? 'directory' : words === 'symbolic link' ? 'link' : words?.startsWith('regular') ? 'file' : 'other';
}

export const file = defineFact<FileFact, { path: string }>({
  name: 'file',
  command: ({ path }) => probeScript(SCRIPT, path),
  parse(stdout, exitCode, { path }, stderr) {
    if (exitCode !== 0) throw probeFailed(`file(${path})`, exitCode, stderr);
    if (stdout === 'absent\n') return { exists: false };
    const at = stdout.indexOf(`\n${MARK}\n`);
    const head = (at < 0 ? stdout : stdout.slice(0, at)).split('\n');
    const body = at < 0 ? undefined : stdout.slice(at + MARK.length + 2);
    // %F's words may hold no '|'; the five fields after them are fixed (user and group names cannot hold one).
    const fields = head[0]!.split('|');
    const raw = fields.length >= 6 ? fields.pop() : undefined;
    const [size, group, owner, mode] = [fields.pop(), fields.pop(), fields.pop(), fields.pop()];
    const type = typeOf(fields.join('|'), raw);
    if (mode === undefined || size === undefined) throw probeFailed(`file(${path})`, exitCode, `unexpected output: ${head[0]}`);
    return {
      exists: true,
      type,
      mode: parseInt(mode, 8),
      owner: owner!,
      group: group!,
      size: Number(size),
      ...(type === 'file' ? { sha256: head[1], content: body } : {}),
      ...(type === 'link' && body !== undefined ? { target: body.replace(/\n$/, '') } : {}),
    };
  },
  predict: ({ path }, earlier, probed) => predictPath(path, earlier, probed),
});

export const sha256 = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex');

/** The file at `path` after the earlier steps; undefined when they do not touch it. */
export function predictPath(path: string, earlier: readonly Step[], probed: FileFact): FileFact | Unknowable | undefined {
  let f: FileFact | Unknowable | undefined;
  for (const step of earlier) {
    const cur = f ?? probed;
    if (step.kind === 'file' && step.path === path) {
      const a = step.after;
      f = { exists: true, type: 'file', mode: step.mode, owner: step.owner, group: step.group, size: Buffer.byteLength(a), sha256: sha256(a), content: a };
    }
    for (const e of step.effects ?? []) {
      if (e.kind === 'package') {
        // A package may create any path that is absent, but (rpm %config(noreplace)) it
        // leaves existing configuration files alone.
        if (cur !== UNKNOWABLE && !cur.exists) f = UNKNOWABLE;
      } else if (e.kind === 'path' && e.path === path) {
        if (e.state === 'absent') f = { exists: false };
        else if (cur !== UNKNOWABLE && cur.exists && (e.type === undefined || e.type === cur.type))
          f = { ...cur, mode: e.mode ?? cur.mode, owner: e.owner ?? cur.owner, group: e.group ?? cur.group };
        else if (e.type === 'directory' && e.mode !== undefined && e.owner && e.group)
          f = { exists: true, type: 'directory', mode: e.mode, owner: e.owner, group: e.group, size: 4096 };
        else f = UNKNOWABLE;
      }
    }
  }
  return f;
}
