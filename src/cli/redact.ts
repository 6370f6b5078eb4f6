/**
 * The last line of defence for secrets: every byte the CLI prints goes through here, and any
 * password it knows of (the inventory's, prompted ones, password files') is shown as ********,
 * however it got into the text (a template that rendered it into a command, remote output, an
 * error about another key, a YAML alias that reused it).
 */
import type { MainIO } from './main.js';

export const MASK = '********';

export interface Redactor {
  io: MainIO;
  add(secret: string | undefined): void;
}

export function redacting(io: MainIO): Redactor {
  const secrets = new Set<string>();
  const clean = (s: string): string => {
    let out = s;
    // Longest first, so that a secret containing another is masked whole.
    for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
      out = out.split(secret).join(MASK);
      // As JSON output and escaped terminal text would show it.
      const json = JSON.stringify(secret).slice(1, -1);
      if (json !== secret) out = out.split(json).join(MASK);
    }
    return out;
  };
  return {
    io: { ...io, stdout: (s) => io.stdout(clean(s)), stderr: (s) => io.stderr(clean(s)) },
    // Very short values would mask ordinary text everywhere; sudo and sshd take them all the same.
    add: (secret) => {
      if (secret && secret.length >= 3) secrets.add(secret);
    },
  };
}
