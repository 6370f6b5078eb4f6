/**
 * Masking of secret and capability-like values in everything the reporters print (terminal
 * and --json), including error messages, remote output and diffs. Generic: what to mask is
 * given by the caller (literal values, and patterns whose first group is kept).
 */
import type { RunEvent } from '../executor/events.js';

export const HIDDEN = '<hidden>';

export interface RedactRules {
  /** Literal values to hide wherever they appear (too short values are ignored: they would hide ordinary text). */
  values?: readonly string[];
  /** Patterns (global) whose match is replaced by its first group followed by HIDDEN. */
  patterns?: readonly RegExp[];
}

/** Credentials in URLs (`scheme://user:password@host`) are hidden whatever the caller asks. */
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:)[^/\s@]+(?=@)/gi;
const MIN_LITERAL = 6;

export type Redactor = (text: string) => string;

export function redactor(rules: RedactRules = {}): Redactor {
  const values = [...new Set(rules.values ?? [])].filter((v) => v.length >= MIN_LITERAL).sort((a, b) => b.length - a.length);
  const patterns = [URL_PASSWORD, ...(rules.patterns ?? [])];
  return (text) => {
    let out = text;
    for (const v of values) if (out.includes(v)) out = out.split(v).join(HIDDEN);
    for (const re of patterns) out = out.replace(re, (_m, keep: string) => `${keep ?? ''}${HIDDEN}`);
    return out;
  };
}

/** A copy of `v` with every string redacted (plain objects and arrays; the original is not touched). */
export function redactDeep<T>(v: T, r: Redactor): T {
  if (typeof v === 'string') return r(v) as T;
  if (Array.isArray(v)) return v.map((x) => redactDeep(x, r)) as T;
  if (v !== null && typeof v === 'object') {
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) return v;
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, redactDeep(x, r)])) as T;
  }
  return v;
}

/** A reporter that sees every event with its strings redacted. */
export function redacting(report: (e: RunEvent) => void, r: Redactor): (e: RunEvent) => void {
  return (e) => report(redactDeep(e, r));
}
