/**
 * Asking for a secret on the terminal, as ssh(1) and ansible's getpass do: the prompt on the
 * terminal, nothing echoed, Enter ends it, Ctrl-C cancels. It reads the controlling terminal
 * (/dev/tty) when standard input is not one, and refuses when there is no terminal at all
 * (scripts use --become-password-file / --connection-password-file).
 */
import fs from 'node:fs';
import tty from 'node:tty';
import { ProvisionError } from '../errors.js';

export type AskSecret = (prompt: string) => Promise<string>;

function openTerminal(): { input: tty.ReadStream; output: NodeJS.WritableStream; close: () => void } | undefined {
  if (process.stdin.isTTY) return { input: process.stdin as tty.ReadStream, output: process.stderr, close: () => process.stdin.pause() };
  try {
    const fd = fs.openSync('/dev/tty', 'r+');
    const input = new tty.ReadStream(fd);
    const output = new tty.WriteStream(fd);
    return { input, output, close: () => input.destroy() };
  } catch {
    return undefined;
  }
}

export const askSecret: AskSecret = (prompt) => {
  const term = openTerminal();
  if (!term) {
    return Promise.reject(
      new ProvisionError('USAGE', `cannot ask "${prompt.replace(/:\s*$/, '')}": there is no terminal`, {
        hint: 'in scripts, give --become-password-file FILE or --connection-password-file FILE',
      }),
    );
  }
  const { input, output } = term;
  return new Promise((resolve, reject) => {
    let value = '';
    const wasRaw = input.isRaw;
    input.setRawMode(true);
    input.resume();
    output.write(prompt);
    const done = (err?: Error) => {
      input.off('data', onData);
      input.setRawMode(wasRaw);
      term.close();
      output.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new ProvisionError('INTERRUPTED', 'interrupted'));
        if (ch === '\u0004' && value === '') return done(new ProvisionError('USAGE', 'no password given (end of input)'));
        if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
        else if (ch === '\u0015')
          value = ''; // Ctrl-U: erase the line
        else if (ch >= ' ') value += ch;
      }
    };
    input.on('data', onData);
  });
};

/** The first line of a password file (as ansible's --become-password-file), without its newline. */
export function readPasswordFile(file: string, option: string): string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ProvisionError('USAGE', `${option}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const first = text.split(/\r?\n/, 1)[0]!;
  if (first === '') throw new ProvisionError('USAGE', `${option}: ${file} is empty (the password is its first line)`);
  return first;
}
