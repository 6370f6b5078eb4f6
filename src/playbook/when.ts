/**
 * `when:` conditions: a tiny expression language, parsed at load time and evaluated per
 * host without eval().
 *
 *   expr := or ;  or := and ('or' and)* ;  and := not ('and' not)* ;  not := 'not' not | cmp
 *   cmp  := atom (('==' | '!=') atom)? | path 'is' ['not'] 'defined'
 *   atom := path | 'string' | "string" | number | true | false | null | '(' expr ')'
 *   path := name ('.' name)*
 *
 * Truthiness is Python's (false, null, 0, '', [], {} are false). A path whose first name is
 * not a variable is an error (a typo); a missing key further down is just undefined.
 */
import { ProvisionError, type SourceLocation } from '../errors.js';
import type { WhenExpr, WhenNode } from './types.js';

export class WhenSyntaxError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

type Tok = { t: 'path' | 'str' | 'num' | 'op' | 'kw' | 'end'; v: string; at: number };
const KEYWORDS = new Set(['and', 'or', 'not', 'is', 'defined', 'true', 'false', 'True', 'False', 'null', 'none', 'None']);

function tokenize(s: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const rest = s.slice(i);
    let m: RegExpExecArray | null;
    if (rest.startsWith('{{') || rest.startsWith('}}')) {
      throw new WhenSyntaxError('"when" is already an expression: write it without {{ }}', i);
    } else if ((m = /^(==|!=|\(|\))/.exec(rest))) {
      out.push({ t: 'op', v: m[1]!, at: i });
    } else if ((m = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*/.exec(rest))) {
      out.push({ t: KEYWORDS.has(m[0]) ? 'kw' : 'path', v: m[0], at: i });
    } else if ((m = /^-?\d+(\.\d+)?(?![A-Za-z0-9_.])/.exec(rest))) {
      out.push({ t: 'num', v: m[0], at: i });
    } else if (c === "'" || c === '"') {
      let j = i + 1;
      let v = '';
      while (j < s.length && s[j] !== c) {
        if (s[j] === '\\' && j + 1 < s.length) j++;
        v += s[j++];
      }
      if (j >= s.length) throw new WhenSyntaxError('unterminated string', i);
      out.push({ t: 'str', v, at: i });
      i = j + 1;
      continue;
    } else {
      throw new WhenSyntaxError(`unexpected character "${c}"`, i);
    }
    i += m[0].length;
  }
  out.push({ t: 'end', v: '', at: s.length });
  return out;
}

/** Parses a condition; throws WhenSyntaxError with the offset of the problem. */
export function parseWhen(source: string): WhenExpr {
  const toks = tokenize(source);
  let p = 0;
  const peek = () => toks[p]!;
  const isKw = (v: string) => peek().t === 'kw' && peek().v === v;
  const fail = (what: string): never => {
    const t = peek();
    throw new WhenSyntaxError(`${what}, found ${t.t === 'end' ? 'the end' : `"${t.v}"`}`, t.at);
  };
  let depth = 0;

  const or = (): WhenNode => {
    if (++depth > 50) fail('expression nested too deeply');
    let left = and();
    while (isKw('or')) {
      p++;
      left = { kind: 'or', left, right: and() };
    }
    depth--;
    return left;
  };
  const and = (): WhenNode => {
    let left = not();
    while (isKw('and')) {
      p++;
      left = { kind: 'and', left, right: not() };
    }
    return left;
  };
  const not = (): WhenNode => {
    if (isKw('not')) {
      p++;
      if (++depth > 50) fail('expression nested too deeply');
      const expr = not();
      depth--;
      return { kind: 'not', expr };
    }
    return cmp();
  };
  const cmp = (): WhenNode => {
    const left = atom();
    if (isKw('is')) {
      if (left.kind !== 'var') fail('"is defined" needs a variable before it');
      p++;
      const negate = isKw('not');
      if (negate) p++;
      if (!isKw('defined')) fail('expected "defined"');
      p++;
      return { kind: 'defined', path: (left as { path: string[] }).path, negate };
    }
    const t = peek();
    if (t.t === 'op' && (t.v === '==' || t.v === '!=')) {
      p++;
      return { kind: t.v === '==' ? 'eq' : 'ne', left, right: atom() };
    }
    return left;
  };
  const atom = (): WhenNode => {
    const t = peek();
    if (t.t === 'path') {
      p++;
      return { kind: 'var', path: t.v.split('.') };
    }
    if (t.t === 'str') {
      p++;
      return { kind: 'lit', value: t.v };
    }
    if (t.t === 'num') {
      p++;
      return { kind: 'lit', value: Number(t.v) };
    }
    if (t.t === 'kw' && ['true', 'True', 'false', 'False', 'null', 'none', 'None'].includes(t.v)) {
      p++;
      return { kind: 'lit', value: t.v === 'true' || t.v === 'True' ? true : t.v === 'false' || t.v === 'False' ? false : null };
    }
    if (t.t === 'op' && t.v === '(') {
      p++;
      const e = or();
      if (!(peek().t === 'op' && peek().v === ')')) fail('expected ")"');
      p++;
      return e;
    }
    return fail('expected a variable, a string or a number');
  };

  if (peek().t === 'end') throw new WhenSyntaxError('empty condition', 0);
  const root = or();
  if (peek().t !== 'end') fail('expected "and", "or" or the end');
  return { source, root };
}

const MISSING = Symbol('missing');

function lookup(path: string[], vars: Record<string, unknown>, expr: WhenExpr, location?: SourceLocation): unknown {
  let cur: unknown = vars;
  for (let i = 0; i < path.length; i++) {
    const k = path[i]!;
    let next: unknown = MISSING;
    if (cur instanceof Map) next = cur.has(k) ? cur.get(k) : MISSING;
    else if (cur !== null && typeof cur === 'object' && Object.hasOwn(cur, k)) next = (cur as Record<string, unknown>)[k];
    if (next === MISSING) {
      if (i === 0) {
        throw new ProvisionError('PLAYBOOK', `undefined variable "${k}" in when: ${expr.source}`, {
          location,
          hint: `write "${k} is defined" to test whether it exists`,
        });
      }
      return undefined;
    }
    cur = next;
  }
  return cur;
}

function exists(path: string[], vars: Record<string, unknown>): boolean {
  let cur: unknown = vars;
  for (const k of path) {
    if (cur instanceof Map) cur = cur.get(k);
    else if (cur !== null && typeof cur === 'object' && Object.hasOwn(cur, k)) cur = (cur as Record<string, unknown>)[k];
    else return false;
    if (cur === undefined) return false;
  }
  return true;
}

export function truthy(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0;
  if (v instanceof Map || v instanceof Set) return v.size > 0;
  if (v !== null && typeof v === 'object') return Object.keys(v).length > 0;
  return Boolean(v);
}

/** Evaluates a parsed condition against template variables. */
export function evaluateWhen(expr: WhenExpr, vars: Record<string, unknown>, location?: SourceLocation): boolean {
  const value = (n: WhenNode): unknown => {
    switch (n.kind) {
      case 'var':
        return lookup(n.path, vars, expr, location);
      case 'lit':
        return n.value;
      case 'not':
        return !truthy(value(n.expr));
      case 'and':
        return truthy(value(n.left)) && truthy(value(n.right));
      case 'or':
        return truthy(value(n.left)) || truthy(value(n.right));
      case 'eq':
      case 'ne': {
        const a = value(n.left) ?? null;
        const b = value(n.right) ?? null;
        return (a === b) === (n.kind === 'eq');
      }
      case 'defined':
        return exists(n.path, vars) !== n.negate;
    }
  };
  return truthy(value(expr.root));
}
