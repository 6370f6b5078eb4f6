/**
 * The last line of defence for secrets: every byte the CLI prints (every command's output,
 * errors included) goes through here, masked by the reporters' redactor (src/report/redact.ts):
 * the passwords it knows of (the inventory's, -e's, prompted ones, password files', key
 * passphrases), however they got into the text (a template that rendered one into a command,
 * remote output, an error about another key), and capability-like values (discovery tokens).
 * Values are added as they become known, so a password typed at a prompt is masked from then on.
 */
import { HIDDEN, redactor, type RedactRules, type Redactor } from '../report/redact.js';
import type { MainIO } from './main.js';

export interface OutputRedactor {
  io: MainIO;
  add(secret: string | undefined): void;
  /** More rules (values and patterns), e.g. outputSecrets(inventory). */
  merge(rules: RedactRules): void;
  /** The redactor as it stands (for the reporters' own, event-level masking). */
  redact: Redactor;
}

export function redactingIO(io: MainIO, base: RedactRules = {}): OutputRedactor {
  const values = new Set(base.values ?? []);
  const patterns = [...(base.patterns ?? [])];
  let current = redactor({ values: [...values], patterns });
  const rebuild = () => {
    current = redactor({ values: [...values], patterns });
  };
  const clean = (s: string): string => {
    let out = current(s);
    // As --json writes a value with quotes or backslashes in it.
    for (const v of values) {
      const json = JSON.stringify(v).slice(1, -1);
      if (json !== v) out = current(out.split(json).join(v));
    }
    return out;
  };
  return {
    io: { ...io, stdout: (s) => io.stdout(clean(s)), stderr: (s) => io.stderr(clean(s)) },
    add: (secret) => {
      if (secret && !values.has(secret)) {
        values.add(secret);
        rebuild();
      }
    },
    merge: (rules) => {
      (rules.values ?? []).forEach((v) => values.add(v));
      for (const p of rules.patterns ?? []) if (!patterns.includes(p)) patterns.push(p);
      rebuild();
    },
    redact: (t) => clean(t),
  };
}

export { HIDDEN };
