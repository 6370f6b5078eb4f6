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

/** Render a template string. */
export function renderTemplateString(source: string, vars: Record<string, unknown>, name = '<inline>'): string {
  try {
    return new nunjucks.Environment(null, OPTS).renderString(source, vars);
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
  const env = new nunjucks.Environment(null, OPTS);
  const walk = (v: unknown, key: string): unknown => {
    if (typeof v === 'string') {
      if (!/\{\{|\{%/.test(v)) return v;
      try {
        return env.renderString(v, vars);
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
