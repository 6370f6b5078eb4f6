import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import nunjucks from 'nunjucks';
import { ProvisionError, type SourceLocation } from '../errors.js';

// Jinja-like, as Ansible users expect: no HTML escaping, trim_blocks on, and an undefined
// variable is an error rather than an empty string in a config file.
const OPTS: nunjucks.ConfigureOptions = { autoescape: false, throwOnUndefined: true, trimBlocks: true };

const fail = (what: string, e: unknown, source?: string): ProvisionError =>
  new ProvisionError('PLAYBOOK', `template ${what}: ${explain(e, source)}`, { cause: e });

/** nunjucks says "attempted to output null or undefined value" at line/column: name the expression. */
function explain(e: unknown, source?: string): string {
  const msg = (e instanceof Error ? e.message : String(e)).replace(/^\(.*?\) /, '').replace(/\s*\n\s*/g, ': ');
  const m = /\[Line (\d+), Column (\d+)\]/.exec(msg);
  const plain = m ? msg.replace(m[0], `line ${m[1]}, column ${m[2]}`) : msg;
  if (!m || !source || !msg.includes('undefined value')) return plain;
  const line = source.split('\n')[Number(m[1]) - 1] ?? '';
  const expr = /\{\{.*?\}\}/.exec(line.slice(Number(m[2]) - 1))?.[0];
  return expr ? `undefined variable in ${expr} (line ${m[1]})` : plain;
}

/**
 * A template string's nunjucks Template, made once per source: a run renders the same argument
 * on every host, twice (the early read of the facts and the plan), and compiling it (lexer,
 * parser, code generation, new Function) costs a hundred times more than rendering it. A
 * Template compiles on its first render and keeps the result (as renderString's does for its
 * one render); one that fails to compile fails again on the next render, with the same error.
 * The sources are the playbook's own strings: as many as it has.
 */
const compiled = new Map<string, nunjucks.Template>();
let stringEnv: nunjucks.Environment | undefined;
function renderCached(source: string, vars: Record<string, unknown>): string {
  let t = compiled.get(source);
  if (!t) {
    stringEnv ??= new nunjucks.Environment(null, OPTS);
    compiled.set(source, (t = new nunjucks.Template(source, stringEnv)));
  }
  return t.render(vars);
}

/** Render a template string. */
export function renderTemplateString(source: string, vars: Record<string, unknown>, name = '<inline>'): string {
  try {
    return renderCached(source, vars);
  } catch (e) {
    throw fail(name, e, source);
  }
}

/** Render a local template file; `{% include %}` resolves next to it. */
export function renderTemplateFile(file: string, vars: Record<string, unknown>): string {
  const path = resolve(file);
  if (!existsSync(path)) throw new ProvisionError('PLAYBOOK', `template ${file}: file not found`);
  try {
    const env = new nunjucks.Environment(new nunjucks.FileSystemLoader(dirname(path), { noCache: true }), OPTS);
    return env.render(basename(path), vars);
  } catch (e) {
    throw fail(file, e, readFileSync(path, 'utf8'));
  }
}

/**
 * Render `{{ }}` / `{% %}` in every string of a task's arguments (nested lists and maps too);
 * other values and strings without template syntax are returned as they are.
 */
export function renderArgs(args: Record<string, unknown>, vars: Record<string, unknown>, location?: SourceLocation): Record<string, unknown> {
  const walk = (v: unknown, key: string): unknown => {
    if (typeof v === 'string') {
      if (!/\{\{|\{%/.test(v)) return v;
      try {
        return renderCached(v, vars);
      } catch (e) {
        throw new ProvisionError('PLAYBOOK', `argument ${key}: ${explain(e, v)}`, { location, cause: e });
      }
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, `${key}[${i}]`));
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, key ? `${key}.${k}` : k)]));
    return v;
  };
  return walk(args, '') as Record<string, unknown>;
}

interface NunjucksInternals {
  parser: { parse(src: string, extensions: unknown[], opts: nunjucks.ConfigureOptions): { findAll(type: unknown): FilterNode[] } };
  nodes: { Filter: unknown };
}
interface FilterNode {
  name: { value: string; lineno: number; colno: number };
}

/** A template's problem found without rendering it; `offset` is where in the source, when known. */
export interface TemplateProblem {
  message: string;
  offset?: number;
}

/**
 * Syntax errors and unknown filters of a template string, found at load time (rendering,
 * which needs each host's variables, happens later). Undefined when there are none.
 */
export function checkTemplate(source: string): TemplateProblem | undefined {
  const env = new nunjucks.Environment(null, OPTS);
  try {
    new nunjucks.Template(source, env, 'template', true);
  } catch (e) {
    const msg = (e instanceof Error ? e.message : String(e)).replace(/^\(.*?\)\s*/, '');
    const m = /\[Line (\d+), Column (\d+)\]/.exec(msg);
    const message = msg
      .replace(m?.[0] ?? '', '')
      .trim()
      .replace(/\s*\n\s*/g, ': ');
    return { message, ...(m ? { offset: offsetOf(source, Number(m[1]), Number(m[2])) } : {}) };
  }
  const internals = nunjucks as unknown as NunjucksInternals;
  for (const f of internals.parser.parse(source, [], OPTS).findAll(internals.nodes.Filter)) {
    try {
      env.getFilter(f.name.value);
    } catch {
      return { message: `unknown filter "${f.name.value}"`, offset: offsetOf(source, f.name.lineno + 1, f.name.colno + 1) };
    }
  }
  return undefined;
}

/** Offset of 1-based line/column in `source` (clamped to its length). */
function offsetOf(source: string, line: number, col: number): number {
  let at = 0;
  for (let l = 1; l < line; l++) {
    const nl = source.indexOf('\n', at);
    if (nl < 0) break;
    at = nl + 1;
  }
  return Math.min(source.length, at + Math.max(0, col - 1));
}

interface AstNode {
  typename: string;
  fields: string[];
  value?: unknown;
  lineno: number;
  colno: number;
  children?: AstNode[];
  [k: string]: unknown;
}

/** nunjucks' own global functions, which are no variables. */
const GLOBALS = new Set(['range', 'cycler', 'joiner', 'loop', 'super', 'caller']);
/** Tests and filters that exist to ask whether a variable is defined. */
const DEFINED_TESTS = new Set(['defined', 'undefined', 'none']);
const DEFAULT_FILTERS = new Set(['default', 'd']);

/**
 * The variables a template reads without defining them itself (loop variables, `set`,
 * macro arguments are its own), except where it asks whether they are defined (`x is
 * defined`, `x | default(...)`), each with its offset in the source. Empty on a syntax error
 * (checkTemplate reports those).
 */
export function freeVariables(source: string): { name: string; offset: number }[] {
  let root: AstNode;
  try {
    root = (nunjucks as unknown as { parser: { parse(s: string, e: unknown[], o: unknown): AstNode } }).parser.parse(source, [], OPTS);
  } catch {
    return [];
  }
  const out: { name: string; offset: number }[] = [];
  const rootSymbol = (n: AstNode | undefined): AstNode | undefined => {
    while (n && n.typename === 'LookupVal') n = n.target as AstNode;
    return n?.typename === 'Symbol' ? n : undefined;
  };
  const names = (n: unknown): string[] => {
    const x = n as AstNode | undefined;
    if (!x) return [];
    if (x.typename === 'Symbol') return [String(x.value)];
    return (x.children ?? []).flatMap(names);
  };
  const visit = (n: unknown, bound: Set<string>, skip?: AstNode): void => {
    if (!n || typeof n !== 'object') return;
    const node = n as AstNode;
    if (Array.isArray(n)) return (n as unknown[]).forEach((c) => visit(c, bound, skip));
    if (!node.typename) return;
    if (node === skip) return;
    switch (node.typename) {
      case 'Symbol':
        if (!bound.has(String(node.value)) && !GLOBALS.has(String(node.value))) {
          out.push({ name: String(node.value), offset: offsetOf(source, node.lineno + 1, node.colno + 1) });
        }
        return;
      case 'Is':
        if (DEFINED_TESTS.has(String((node.right as AstNode | undefined)?.value))) return visit(node.left, bound, rootSymbol(node.left as AstNode));
        return visit(node.left, bound);
      case 'Filter': {
        const args = ((node.args as AstNode | undefined)?.children ?? []) as AstNode[];
        const name = String((node.name as AstNode | undefined)?.value);
        args.forEach((a, i) => visit(a, bound, i === 0 && DEFAULT_FILTERS.has(name) ? rootSymbol(a) : undefined));
        return;
      }
      case 'FunCall':
        visit(node.args, bound);
        if ((node.name as AstNode)?.typename !== 'Symbol') visit(node.name, bound);
        return;
      case 'For':
      case 'AsyncEach':
      case 'AsyncAll': {
        visit(node.arr, bound);
        const inner = new Set([...bound, ...names(node.name), 'loop']);
        visit(node.body, inner);
        visit(node.else_, bound);
        return;
      }
      case 'Set': {
        visit(node.value, bound);
        visit(node.body, bound);
        for (const t of names({ typename: 'NodeList', children: node.targets } as unknown)) bound.add(t);
        return;
      }
      case 'Macro': {
        const inner = new Set([...bound, ...names(node.args)]);
        bound.add(String((node.name as AstNode)?.value));
        visit(node.body, inner);
        return;
      }
      case 'LookupVal':
        visit(node.target, bound, skip);
        visit(node.val, bound);
        return;
    }
    for (const f of node.fields ?? []) visit(node[f], bound, skip);
    if (!node.fields?.includes('children')) (node.children ?? []).forEach((c) => visit(c, bound, skip));
  };
  visit(root, new Set());
  return out;
}
