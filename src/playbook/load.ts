/**
 * Playbook loader: a YAML list of plays (Ansible-like). Tasks are checked against the
 * operation registry's ArgSpecs at load time; argument values stay raw (templates are
 * rendered later). `when:` is parsed here, evaluated per host later.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isScalar, type Node } from 'yaml';
import { isProvisionError, type SourceLocation } from '../errors.js';
import type { Inventory } from '../inventory/types.js';
import { selectHosts } from '../inventory/patterns.js';
import type { ArgSpec, OperationDef } from '../operations/types.js';
import { describe, type MapEntry, type YNode, YamlSource } from '../util/yaml.js';
import { short } from '../util/text.js';
import { readInputFile } from '../util/input-file.js';
import type { Play, Playbook, Task, WhenExpr, WhenNode } from './types.js';
import { checkTemplate, freeVariables } from '../template/index.js';
import { didYouMean } from '../util/did-you-mean.js';
import { WhenSyntaxError, parseWhen } from './when.js';

export type Registry = Map<string, OperationDef<any>>;

const PLAY_KEYS = ['name', 'hosts', 'become', 'vars', 'tasks', 'handlers'] as const;
const TASK_KEYS = ['name', 'notify', 'when', 'become', 'throttle'] as const;
const PATTERN_TERM_RE = /^[!&]?[A-Za-z0-9._*?-]+$/;
const VAR_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function loadPlaybook(file: string, registry: Registry, inventory?: Inventory): Playbook {
  return parsePlaybook(readInputFile(file, 'playbook', 'PLAYBOOK'), file, registry, inventory);
}

export function parsePlaybook(text: string, file: string, registry: Registry, inventory?: Inventory): Playbook {
  const src: YamlSource = YamlSource.parse(text, file, 'PLAYBOOK');
  if (src.isNull(src.root)) src.fail(src.root, 'the playbook is empty', 'a playbook is a list of plays: - hosts: etcd\\n  tasks: [...]');
  const items = src.seq(src.root, 'a playbook (a list of plays)');
  if (items.length === 0) src.fail(src.root, 'the playbook has no plays');
  return { file, plays: items.map((n) => new PlayParser(src, registry, inventory).play(n)) };
}

/**
 * First names of the variables a condition mentions as `kind`: 'var' (read, except under
 * `is defined`) or 'defined' (tested with `is defined`).
 */
function varsOf(n: WhenNode, kind: 'var' | 'defined'): string[] {
  switch (n.kind) {
    case 'var':
    case 'defined':
      return n.kind === kind ? [n.path[0]!] : [];
    case 'lit':
      return [];
    case 'not':
      return varsOf(n.expr, kind);
    default:
      return [...varsOf(n.left, kind), ...varsOf(n.right, kind)];
  }
}

const readVars = (n: WhenNode): string[] => varsOf(n, 'var');
const testedVars = (n: WhenNode): string[] => varsOf(n, 'defined');

/**
 * "<op> <first argument>" for a task without a name, as long as that argument is short, on
 * one line, and not a file's content: a name is printed everywhere, and `content` may be a
 * secret (a key written with secret: true).
 */
function defaultName(op: string, args: Record<string, unknown>): string {
  for (const [k, v] of Object.entries(args)) {
    if (k === 'content' || k === 'secret') continue;
    if (typeof v === 'number') return `${op} ${v}`;
    if (typeof v !== 'string') return op;
    return v.includes('\n') || v.length > 80 ? op : `${op} ${v}`;
  }
  return op;
}

interface PendingNotify {
  names: string[];
  node: YNode;
}

/** Variables every task has, besides the inventory's (see hostVars in src/executor/host.ts). */
export const BUILTIN_VARS = ['inventory_hostname', 'address', 'groups', 'cluster', 'playbook_dir', 'check_mode'] as const;

class PlayParser {
  private readonly notifies: PendingNotify[] = [];
  /** Names a task may read (any host's variables, the play's, built-ins); unset without an inventory. */
  private known?: Set<string>;

  constructor(
    private readonly src: YamlSource,
    private readonly registry: Registry,
    private readonly inventory?: Inventory,
  ) {}

  play(node: Node): Play {
    const src: YamlSource = this.src;
    const entries = src.map(node, 'a play');
    src.checkKeys(entries, PLAY_KEYS, 'play');
    const get = (k: string) => entries.find((e) => e.key === k);
    const hostsE = get('hosts');
    if (!hostsE) src.fail(node, 'play has no "hosts:" (which hosts it runs on)', 'e.g. hosts: etcd');
    const hosts = this.pattern(hostsE);
    const tasksE = get('tasks');
    if (!tasksE) src.fail(node, 'play has no "tasks:" list');
    const nameE = get('name');
    const play: Play = {
      name: nameE ? src.string(nameE.value, 'play name', nameE.keyNode) : hosts,
      hosts,
      vars: {},
      tasks: [],
      handlers: [],
      location: src.loc(node),
    };
    const becomeE = get('become');
    if (becomeE) play.become = src.bool(becomeE.value, 'become', becomeE.keyNode);
    const varsE = get('vars');
    if (varsE) {
      for (const v of src.map(varsE.value, 'play vars', varsE.keyNode)) {
        if (!VAR_NAME_RE.test(v.key) || v.key === '__proto__') src.fail(v.keyNode, `invalid variable name "${short(v.key)}" in play vars`);
        play.vars[v.key] = src.toJS(v.value);
      }
    }
    if (this.inventory) {
      this.known = new Set<string>([...BUILTIN_VARS, ...Object.keys(play.vars), ...[...this.inventory.hosts.values()].flatMap((h) => Object.keys(h.vars))]);
    }
    const handlersE = get('handlers');
    if (handlersE) {
      const seen = new Map<string, SourceLocation>();
      for (const h of src.seq(handlersE.value, 'handlers', handlersE.keyNode)) {
        const task = this.task(h, true);
        const prev = seen.get(task.name);
        if (prev) src.fail(h, `handler "${short(task.name)}" is defined twice (first at line ${prev.line})`);
        seen.set(task.name, task.location);
        play.handlers.push(task);
      }
    }
    play.tasks = src.seq(tasksE.value, 'tasks', tasksE.keyNode).map((t) => this.task(t, false));
    const handlerNames = new Set(play.handlers.map((h) => h.name));
    for (const n of this.notifies) {
      for (const name of n.names) {
        if (!handlerNames.has(name)) {
          const known = [...handlerNames].map((h) => `"${h}"`).join(', ') || 'none';
          src.fail(n.node, `notify: no handler named "${short(name)}" in this play`, `handlers: ${known}`);
        }
      }
    }
    return play;
  }

  private pattern(e: MapEntry): string {
    const src: YamlSource = this.src;
    const hosts = src.string(e.value, 'hosts (a host pattern)', e.keyNode);
    const terms = hosts.split(/[,:]/).map((t) => t.trim());
    for (const t of terms) {
      if (!PATTERN_TERM_RE.test(t)) src.fail(e.value, `invalid host pattern "${short(hosts)}"`, 'e.g. etcd, etcd0,etcd1, etcd:!etcd2, etcd*');
    }
    if (this.inventory) {
      try {
        selectHosts(this.inventory, hosts);
      } catch (err) {
        if (isProvisionError(err)) src.fail(e.value, err.message, err.hint);
        throw err;
      }
    }
    return hosts;
  }

  private task(node: Node, isHandler: boolean): Task {
    const src: YamlSource = this.src;
    const what = isHandler ? 'handler' : 'task';
    const entries = src.map(node, `a ${what}`);
    let opE: MapEntry | undefined;
    for (const e of entries) {
      if ((TASK_KEYS as readonly string[]).includes(e.key)) continue;
      if (!this.registry.has(e.key)) {
        src.fail(
          e.keyNode,
          `unknown operation "${short(e.key)}" in ${what} (known operations: ${[...this.registry.keys()].sort().join(', ')})`,
          `other ${what} keys: ${TASK_KEYS.join(', ')}`,
        );
      }
      if (opE) src.fail(e.keyNode, `${what} has two operations, "${opE.key}" and "${e.key}"; use one task for each`);
      opE = e;
    }
    if (!opE) src.fail(node, `${what} has no operation (known operations: ${[...this.registry.keys()].sort().join(', ')})`);
    const op = opE.key;
    const args = this.args(op, opE);
    const task: Task = { name: '', op, args, notify: [], location: src.loc(node) };
    for (const e of entries) {
      if (e.key === 'name') task.name = src.string(e.value, `${what} name`, e.keyNode);
      else if (e.key === 'become') task.become = src.bool(e.value, 'become', e.keyNode);
      else if (e.key === 'notify') {
        task.notify = src.stringList(e.value, 'notify', e.keyNode);
        this.notifies.push({ names: task.notify, node: e.value ?? e.keyNode });
      } else if (e.key === 'when') task.when = this.when(e);
      else if (e.key === 'throttle') task.throttle = src.int(e.value, 'throttle (hosts running this task at once)', 1, 1000, e.keyNode);
    }
    if (!task.name) {
      if (isHandler) src.fail(node, 'handler has no name (notify refers to handlers by name)');
      task.name = defaultName(op, args);
    }
    return task;
  }

  private args(op: string, e: MapEntry): Record<string, unknown> {
    const src: YamlSource = this.src;
    const spec = this.registry.get(op)!.args;
    const out: Record<string, unknown> = {};
    const entries = src.map(e.value, `arguments of "${op}"`, e.keyNode);
    for (const a of entries) {
      const s = spec[a.key];
      if (!s || !Object.hasOwn(spec, a.key)) {
        src.fail(a.keyNode, `unknown argument "${short(a.key)}" for operation "${op}" (expected one of: ${Object.keys(spec).join(', ') || 'none'})`);
      }
      out[a.key] = this.arg(op, a, s);
    }
    for (const [name, s] of Object.entries(spec)) {
      if (s.required && !(name in out)) src.fail(e.keyNode, `missing required argument "${name}" for operation "${op}"`);
    }
    return out;
  }

  private arg(op: string, a: MapEntry, s: ArgSpec): unknown {
    const src: YamlSource = this.src;
    const value = src.toJS(a.value);
    const templated = typeof value === 'string' && value.includes('{{');
    const bad = (expected: string, hint?: string): never =>
      src.fail(a.value, `argument "${a.key}" of "${op}" must be ${expected}, not ${describe(src.resolve(a.value))}`, hint, a.keyNode);
    switch (s.type) {
      case 'string':
        if (typeof value !== 'string') bad('a string', typeof value === 'number' ? `quote it: ${a.key}: "${src.scalar(a.value)?.source ?? value}"` : undefined);
        break;
      case 'number':
        if (typeof value !== 'number' && !templated) bad('a number');
        break;
      case 'boolean':
        if (typeof value !== 'boolean' && !templated) bad('true or false');
        break;
      case 'string[]':
        if (!templated && !(Array.isArray(value) && value.every((v) => typeof v === 'string'))) bad('a list of strings');
        break;
      case 'map':
        if (value === null || typeof value !== 'object' || Array.isArray(value)) bad('a map');
        break;
      case 'any':
        break;
    }
    const invalid = templated ? undefined : s.validate?.(value);
    if (invalid) src.fail(a.value, `argument "${a.key}" of "${op}" ${invalid}`, undefined, a.keyNode);
    if (s.enum && typeof value === 'string' && !templated && !s.enum.includes(value)) {
      src.fail(a.value, `argument "${a.key}" of "${op}" must be one of: ${s.enum.join(', ')} (got "${short(value)}")`);
    }
    this.checkTemplates(op, a, value);
    this.checkDefined(op, a, value);
    return value;
  }

  /**
   * A variable a template reads that no host, the play or provision defines is a typo: found
   * here, with its place, before any host is touched (rendering would fail on every host).
   */
  private checkDefined(op: string, a: MapEntry, value: unknown): void {
    if (!this.known) return;
    // A template file (the file operation's `template`, relative to the playbook): its variables too.
    if (a.key === 'template' && typeof value === 'string' && !value.includes('{{')) {
      const file = path.resolve(path.dirname(path.resolve(this.src.file)), value);
      let text: string | undefined;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch {
        text = undefined; // a missing template is reported when the task runs
      }
      const unknown = text === undefined ? undefined : freeVariables(text).find((v) => !this.known!.has(v.name));
      if (unknown && text !== undefined) {
        const before = text.slice(0, unknown.offset).split('\n');
        this.src.failAt(
          { file, line: before.length, col: before[before.length - 1]!.length + 1 },
          `undefined variable "${unknown.name}"${this.suggest(unknown.name)} (template of the task at ${path.basename(this.src.file)}:${this.src.loc(a.value).line})`,
          "variables come from the inventory (vars, group_vars, host_vars), the play's vars and -e",
        );
      }
    }
    const strings: string[] = [];
    const walk = (v: unknown): void => {
      if (typeof v === 'string') strings.push(v);
      else if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === 'object') Object.values(v).forEach(walk);
    };
    walk(value);
    for (const text of strings) {
      if (!/\{\{|\{%/.test(text)) continue;
      const unknown = freeVariables(text).find((v) => !this.known!.has(v.name));
      if (!unknown) continue;
      const at = typeof value === 'string' ? this.offsetLoc(a.value, unknown.offset) : this.src.loc(a.value, a.keyNode);
      this.src.failAt(
        at,
        `argument "${a.key}" of "${op}": undefined variable "${unknown.name}"${this.suggest(unknown.name)}`,
        "variables come from the inventory (vars, group_vars, host_vars), the play's vars and -e",
      );
    }
  }

  private suggest(name: string): string {
    const close = didYouMean(name, this.known!);
    return close ? `; did you mean "${close}"?` : '';
  }

  /** Template syntax and filter names of every string in an argument, before any host is touched. */
  private checkTemplates(op: string, a: MapEntry, value: unknown): void {
    const src: YamlSource = this.src;
    const strings: string[] = [];
    const walk = (v: unknown): void => {
      if (typeof v === 'string') strings.push(v);
      else if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === 'object') Object.values(v).forEach(walk);
    };
    walk(value);
    for (const text of strings) {
      if (!/\{\{|\{%/.test(text)) continue;
      const problem = checkTemplate(text);
      if (!problem) continue;
      // Exact position when the argument is the template itself on one line.
      const at = typeof value === 'string' && problem.offset !== undefined ? this.offsetLoc(a.value, problem.offset) : src.loc(a.value, a.keyNode);
      // A file's content may be secret (secret: true): the message does not quote it.
      src.failAt(at, `argument "${a.key}" of "${op}": template error: ${problem.message}`, a.key === 'content' ? undefined : `in: ${short(text)}`);
    }
  }

  private when(e: MapEntry): WhenExpr {
    const src: YamlSource = this.src;
    const s = src.scalar(e.value);
    if (s && typeof s.value === 'boolean') return { source: String(s.value), root: { kind: 'lit', value: s.value } };
    const parts = src.stringList(e.value, 'when (a condition or a list of conditions, all must hold)', e.keyNode);
    const nodes = isScalar(src.resolve(e.value)) ? [e.value] : src.seq(e.value, 'when');
    const parsed = parts.map((text, i) => {
      try {
        return parseWhen(text);
      } catch (err) {
        if (!(err instanceof WhenSyntaxError)) throw err;
        src.failAt(this.offsetLoc(nodes[i], err.offset), `invalid when condition: ${err.message}`, `in: ${short(text)}`);
      }
    });
    if (parsed.length === 0) src.fail(e.value, 'when: empty list of conditions', undefined, e.keyNode);
    if (this.known) {
      parsed.forEach((p, i) => {
        // A name the condition tests with "is defined" may be read where the test allows it.
        const tested = new Set(testedVars(p.root));
        const name = readVars(p.root).find((n) => !this.known!.has(n) && !tested.has(n));
        if (name === undefined) return;
        const text = parts[i]!;
        const offset = Math.max(0, text.search(new RegExp(`(?<![\\w.'"])${name}(?![\\w])`)));
        src.failAt(
          this.offsetLoc(nodes[i], offset),
          `when: undefined variable "${name}"${this.suggest(name)}`,
          `in: ${short(text)} (use "${name} is defined" to test for it)`,
        );
      });
    }
    const root = parsed.map((p) => p.root).reduce((left, right): WhenNode => ({ kind: 'and', left, right }));
    return { source: parsed.map((p) => p.source).join(' and '), root };
  }

  /** Location of character `offset` of a scalar's value, exact for single-line plain or quoted scalars. */
  private offsetLoc(node: YNode, offset: number): SourceLocation {
    const s = this.src.scalar(node);
    if (!s?.range) return this.src.loc(node);
    const raw = this.src.text.slice(s.range[0], s.range[1]);
    const v = String(s.value);
    if (raw === v) return this.src.locAt(s.range[0] + offset);
    if (raw.length === v.length + 2 && raw.slice(1, -1) === v) return this.src.locAt(s.range[0] + 1 + offset);
    return this.src.loc(node);
  }
}
