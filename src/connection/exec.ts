/**
 * Running one command on one ssh2 exec channel: output collection, timeout, stdin, and the
 * sudo (become) protocol.
 *
 * sudo protocol (like Ansible's): the command sent is
 *   sudo -H -S -p <prompt> -u <user> -- sh -c '<echo OK-marker>\n<command>'
 * (`-n` instead of `-S -p` when there is no password). The password is written to stdin only
 * after sudo printed our prompt on stderr; the user's stdin only after the OK marker appeared on
 * stdout (so that neither ends up in the other's place when sudo does not ask). A second prompt
 * means the password was wrong. The marker line and the prompts are removed from the output.
 */
import type { ClientChannel } from 'ssh2';
import { ProvisionError } from '../errors.js';
import { shellJoin } from './quote.js';

export interface RawResult {
  exitCode: number;
  stdout: Buffer;
  stderr: Buffer;
  durationMs: number;
}

export interface SudoSpec {
  user: string;
  password?: string;
  /** Prompt given to `sudo -p`; unique per connection so it can be recognised. */
  prompt: string;
  /** Printed by the wrapper once sudo let us in; safe chars only. */
  okMarker: string;
}

export interface RunOptions {
  /** Host name for messages. */
  host: string;
  /** The command as shown in messages (never contains the sudo password). */
  display: string;
  timeoutMs: number;
  stdin?: Buffer;
  sudo?: SudoSpec;
  /** Aborted (with a ProvisionError as reason) when the connection is lost. */
  lost: AbortSignal;
}

/**
 * Put before every command whose output provision reads, as Ansible's modules do for theirs
 * (LANG=C, LC_ALL=C, LC_MESSAGES=C): a node whose login sets LANG=zh_CN.UTF-8 otherwise prints
 * translated text from stat ("普通文件" for "regular file"), rpm ("未安装软件包"), dnf,
 * systemctl and sudo itself. Through sudo it is set again inside the wrapper, since sudo's PAM
 * session may set LANG anew (pam_env reading /etc/default/locale on Debian).
 */
export const FIXED_LOCALE = 'export LANG=C LC_ALL=C LC_MESSAGES=C; unset LANGUAGE\n';

/** The command line sent for `command` run through sudo. */
export function sudoWrap(command: string, spec: SudoSpec): string {
  const flags = spec.password !== undefined ? ['-H', '-S', '-p', spec.prompt] : ['-H', '-n'];
  return shellJoin(['sudo', ...flags, '-u', spec.user, '--', 'sh', '-c', `echo ${spec.okMarker}\n${command}`]);
}

const SIGNALS: Record<string, number> = {
  HUP: 1,
  INT: 2,
  QUIT: 3,
  ILL: 4,
  ABRT: 6,
  FPE: 8,
  KILL: 9,
  USR1: 10,
  SEGV: 11,
  USR2: 12,
  PIPE: 13,
  ALRM: 14,
  TERM: 15,
};

export function formatSeconds(ms: number): string {
  const s = ms / 1000;
  return Number.isInteger(s) ? `${s}s` : `${s.toFixed(1)}s`;
}

function countOccurrences(hay: string, needle: string): number {
  let n = 0;
  for (let i = hay.indexOf(needle); i !== -1; i = hay.indexOf(needle, i + needle.length)) n++;
  return n;
}

function stripAll(buf: Buffer, needle: string): Buffer {
  if (needle === '') return buf;
  const n = Buffer.from(needle);
  const parts: Buffer[] = [];
  let from = 0;
  for (let i = buf.indexOf(n); i !== -1; i = buf.indexOf(n, from)) {
    parts.push(buf.subarray(from, i));
    from = i + n.length;
  }
  if (from === 0) return buf;
  parts.push(buf.subarray(from));
  return Buffer.concat(parts);
}

/** Interpret a sudo that never let the command start. */
function sudoFailure(host: string, stderr: string, wrongPassword: boolean, user: string): ProvisionError | undefined {
  if (wrongPassword || /incorrect password attempt|Sorry, try again/i.test(stderr)) {
    return new ProvisionError('AUTH', `wrong sudo password on ${host}`, { hint: 'check become_password' });
  }
  if (/a password is required|a terminal is required/i.test(stderr)) {
    return new ProvisionError('AUTH', `sudo on ${host} needs a password; set become_password`);
  }
  if (/must have a tty|requiretty/i.test(stderr)) {
    return new ProvisionError('AUTH', `sudo on ${host} requires a tty (Defaults requiretty in /etc/sudoers)`, {
      hint: 'remove "Defaults requiretty" for the login user on that host',
    });
  }
  if (/not in the sudoers|not allowed to (execute|run)|may not run sudo|unknown user/i.test(stderr)) {
    const first = stderr.split('\n').find((l) => l.trim() !== '') ?? '';
    return new ProvisionError('AUTH', `sudo to ${user} refused on ${host}: ${first.trim()}`);
  }
  if (/sudo: (command )?not found|sudo: not found/.test(stderr)) {
    return new ProvisionError('AUTH', `sudo is not installed on ${host}`);
  }
  return undefined;
}

/** Run a command on an open exec channel; resolves for any exit status. */
/**
 * A channel's exit status, recorded from the moment the channel opens. A short command's
 * open confirmation, output, exit-status and close can arrive in one TCP read; ssh2 then
 * emits 'exit' in the same tick as the open callback, before runOnChannel (after an await)
 * could listen, and the status would be lost (seen as exit 255 with no output).
 */
const earlyExit = new WeakMap<ClientChannel, { code: number | null; signal?: string }>();

export function recordExit(ch: ClientChannel): ClientChannel {
  ch.once('exit', (code: number | null, signal?: string) => earlyExit.set(ch, { code, signal }));
  return ch;
}

export function runOnChannel(ch: ClientChannel, o: RunOptions): Promise<RawResult> {
  const started = Date.now();
  return new Promise<RawResult>((resolve, reject) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    /** stdout and stderr in the order they came, for the timeout message. */
    const said: Buffer[] = [];
    let exitCode: number | undefined;
    let done = false;
    let timer: NodeJS.Timeout | undefined;

    const sudo = o.sudo;
    let okSeen = sudo === undefined;
    let head: Buffer = Buffer.alloc(0); // stdout held back until the OK marker line is complete
    let errText = ''; // stderr (latin1) seen before the OK marker, to find prompts
    let prompts = 0;
    let wrongPassword = false;

    const finish = (e: Error | undefined, r?: RawResult) => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      o.lost.removeEventListener('abort', onLost);
      if (e) reject(e);
      else resolve(r!);
    };
    const kill = () => {
      try {
        ch.signal('KILL');
      } catch {
        /* ignore */
      }
      try {
        ch.close();
      } catch {
        /* ignore */
      }
    };
    const onLost = () => {
      finish(new ProvisionError('CONNECT', `connection to ${o.host} lost while running: ${o.display}`, { cause: o.lost.reason }));
    };
    if (o.lost.aborted) return onLost();
    o.lost.addEventListener('abort', onLost);

    const sendStdin = () => {
      try {
        if (o.stdin !== undefined && o.stdin.length > 0) ch.end(o.stdin);
        else ch.end();
      } catch {
        /* channel already gone: the close handler reports */
      }
    };

    ch.on('data', (chunk: Buffer) => {
      if (okSeen) {
        out.push(chunk);
        said.push(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const nl = head.indexOf(10);
      if (nl === -1 && head.length < sudo!.okMarker.length + 1) return;
      okSeen = true;
      const first = head.subarray(0, nl === -1 ? head.length : nl).toString('latin1');
      out.push(first === sudo!.okMarker ? head.subarray(nl + 1) : head);
      head = Buffer.alloc(0);
      sendStdin();
    });
    ch.stderr.on('data', (chunk: Buffer) => {
      err.push(chunk);
      said.push(chunk);
      if (okSeen || sudo === undefined) return;
      errText += chunk.toString('latin1');
      const n = countOccurrences(errText, sudo.prompt);
      if (n > prompts) {
        prompts = n;
        if (prompts === 1 && sudo.password !== undefined && !/[\r\n]/.test(sudo.password)) {
          // One line, never more: the rest would become the command's own stdin.
          ch.write(sudo.password + '\n');
        } else {
          // asked again: the password was wrong. Do not let sudo try (and log) more.
          wrongPassword = true;
          finish(sudoFailure(o.host, '', true, sudo.user));
          kill();
        }
      }
    });
    const onExit = (code: number | null, signal?: string) => {
      if (typeof code === 'number') exitCode = code;
      else if (signal) exitCode = 128 + (SIGNALS[signal.replace(/^SIG/, '')] ?? 127);
    };
    const early = earlyExit.get(ch);
    if (early) onExit(early.code, early.signal);
    else ch.on('exit', onExit);
    ch.on('close', () => {
      if (done) return;
      if (o.lost.aborted) return onLost();
      if (!okSeen && head.length > 0) out.push(head);
      const stdout = Buffer.concat(out);
      let stderr: Buffer = Buffer.concat(err);
      if (sudo) {
        if (!okSeen) {
          const f = sudoFailure(o.host, stderr.toString('utf8'), wrongPassword, sudo.user);
          if (f) return finish(f);
        }
        stderr = stripAll(stderr, sudo.prompt);
      }
      finish(undefined, { exitCode: exitCode ?? 255, stdout, stderr, durationMs: Date.now() - started });
    });
    ch.on('error', () => {
      /* followed by close */
    });

    timer = setTimeout(() => {
      // What the command said last is often why it hangs (yum: "Waiting for process with pid ...").
      let text = Buffer.concat(said).toString('utf8');
      if (sudo) text = text.split(sudo.prompt).join('');
      const last = text.trim().split('\n').slice(-5).join('\n');
      finish(
        new ProvisionError(
          'TIMEOUT',
          `command timed out after ${formatSeconds(o.timeoutMs)} on ${o.host}: ${o.display}${last ? `\nlast output:\n${last}` : ''}`,
        ),
      );
      kill();
    }, o.timeoutMs);
    timer.unref?.();

    if (okSeen) sendStdin();
  });
}
