/**
 * Ansible's INI inventory form, read by turning it into the YAML form (one YAML line per
 * setting) and keeping, for every YAML line, the INI line and column it came from, so that
 * every error of the YAML loader names the INI file's own line and column.
 *
 *   host1 ansible_host=10.0.0.1 ansible_user=root   # before any section: group "ungrouped"
 *   [etcd]
 *   etcd[0:2] ansible_user=root                      # ranges, as Ansible's
 *   [etcd:vars]
 *   ansible_become=true
 *   [cluster:children]
 *   etcd
 */
import { ProvisionError, type SourceLocation } from '../errors.js';
import { shellWords } from './ansible.js';

interface Origin {
  line: number;
  /** INI column of the key, and of the value (1-based). */
  keyCol: number;
  valueCol: number;
  /** YAML columns of the key and the value on the generated line. */
  yKeyCol: number;
  yValueCol: number;
}

export interface IniYaml {
  yaml: string;
  /** Location in the generated YAML -> location in the INI file. */
  mapLocation: (line: number, col: number) => { line: number; col: number };
}

interface HostLine {
  name: string;
  line: number;
  col: number;
  vars: { key: string; value: string; keyCol: number; valueCol: number }[];
}

interface Group {
  name: string;
  line: number;
  hosts: HostLine[];
  vars: { key: string; value: string; line: number; keyCol: number; valueCol: number }[];
  children: { name: string; line: number; col: number }[];
}

const fail = (file: string, line: number, col: number, message: string, hint?: string): never => {
  throw new ProvisionError('INVENTORY', message, { location: { file, line, col } as SourceLocation, hint });
};

/** `web[01:03]` -> web01, web02, web03; `db-[a:c]` -> db-a, db-b, db-c. */
export function expandRange(pattern: string): string[] | undefined {
  const m = /^(.*?)\[([0-9a-zA-Z]+):([0-9a-zA-Z]+)(?::(\d+))?\](.*)$/.exec(pattern);
  if (!m) return [pattern];
  const [, pre, from, to, stepS, post] = m as unknown as [string, string, string, string, string | undefined, string];
  const step = stepS ? Number(stepS) : 1;
  if (step < 1) return undefined;
  const rest = expandRange(post);
  if (!rest) return undefined;
  const items: string[] = [];
  if (/^\d+$/.test(from) && /^\d+$/.test(to)) {
    const a = Number(from);
    const b = Number(to);
    if (b < a || (b - a) / step > 10000) return undefined;
    const width = from.length > 1 && from.startsWith('0') ? from.length : 0;
    for (let i = a; i <= b; i += step) items.push(String(i).padStart(width, '0'));
  } else if (/^[a-z]$/.test(from) && /^[a-z]$/.test(to) && from <= to) {
    for (let c = from.charCodeAt(0); c <= to.charCodeAt(0); c += step) items.push(String.fromCharCode(c));
  } else return undefined;
  return items.flatMap((i) => rest.map((r) => `${pre}${i}${r}`));
}

/** Where each word of a line starts (for columns), with quoting as shellWords understands it. */
function wordsWithCols(text: string): { word: string; col: number }[] | undefined {
  const out: { word: string; col: number }[] = [];
  let i = 0;
  while (i < text.length) {
    while (i < text.length && /\s/.test(text[i]!)) i++;
    if (i >= text.length) break;
    if (text[i] === '#' || text[i] === ';') break; // comment to the end of the line
    const start = i;
    let quote: string | undefined;
    while (i < text.length && (quote || !/\s/.test(text[i]!))) {
      const c = text[i]!;
      if (quote && c === quote) quote = undefined;
      else if (!quote && (c === '"' || c === "'")) quote = c;
      i++;
    }
    if (quote) return undefined;
    const w = shellWords(text.slice(start, i));
    out.push({ word: w?.join(' ') ?? '', col: start + 1 });
  }
  return out;
}

const NAME = /^[A-Za-z0-9_.-]+$/;

export function iniToYaml(text: string, file: string): IniYaml {
  const groups = new Map<string, Group>();
  const order: string[] = [];
  const group = (name: string, line: number): Group => {
    let g = groups.get(name);
    if (!g) {
      g = { name, line, hosts: [], vars: [], children: [] };
      groups.set(name, g);
      order.push(name);
    }
    return g;
  };
  let section: { group: Group; kind: 'hosts' | 'vars' | 'children' } = { group: group('ungrouped', 1), kind: 'hosts' };
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = i + 1;
    const t = raw.trim();
    if (t === '' || t.startsWith('#') || t.startsWith(';')) return;
    const indent = raw.length - raw.trimStart().length;
    const head = /^\[([^\]]*)\]\s*(?:[#;].*)?$/.exec(t);
    if (head) {
      const [name, kind = 'hosts', extra] = head[1]!.split(':');
      if (!name || !NAME.test(name) || extra !== undefined || !['hosts', 'vars', 'children'].includes(kind)) {
        fail(file, line, indent + 1, `invalid section "[${head[1]}]"`, 'sections are [group], [group:vars] or [group:children]');
      }
      section = { group: group(name!, line), kind: kind as 'hosts' | 'vars' | 'children' };
      return;
    }
    if (t.startsWith('[')) fail(file, line, indent + 1, 'a section header must end with "]"');
    const words = wordsWithCols(raw);
    if (!words) return fail(file, line, indent + 1, 'unbalanced quote');
    if (words.length === 0) return;
    const g = section.group;
    if (section.kind === 'vars') {
      // key=value, or key = value with spaces around "="
      const m = /^([^=\s]+)\s*=\s*(.*)$/.exec(t);
      if (!m) return fail(file, line, indent + 1, `expected key=value in [${g.name}:vars]`);
      const valueText = m[2]!.replace(/\s+[#;].*$/, '');
      const unq = shellWords(valueText);
      const value = unq && unq.length === 1 ? unq[0]! : valueText;
      g.vars.push({ key: m[1]!, value, line, keyCol: indent + 1, valueCol: indent + 1 + t.indexOf(m[2]!) });
      return;
    }
    if (section.kind === 'children') {
      if (words.length > 1) fail(file, line, words[1]!.col, `[${g.name}:children] lists one group name per line`);
      g.children.push({ name: words[0]!.word, line, col: words[0]!.col });
      return;
    }
    const [first, ...rest] = words;
    const vars = rest.map((w) => {
      const eq = w.word.indexOf('=');
      if (eq <= 0) fail(file, line, w.col, `expected key=value after the host name, not "${w.word.slice(0, 40)}"`);
      const rawWord = raw.slice(w.col - 1);
      return { key: w.word.slice(0, eq), value: w.word.slice(eq + 1), keyCol: w.col, valueCol: w.col + rawWord.indexOf('=') + 1 };
    });
    const names = expandRange(first!.word.replace(/:(\d+)$/, '')) ?? fail(file, line, first!.col, `invalid host range "${first!.word}"`);
    // "host:2222" is Ansible's host-and-port shorthand: the port goes to ansible_port.
    const port = /:(\d+)$/.exec(first!.word)?.[1];
    if (port && !/^\[|:.*:/.test(first!.word))
      vars.push({ key: 'ansible_port', value: port, keyCol: first!.col, valueCol: first!.col + first!.word.lastIndexOf(':') + 1 });
    for (const name of names) g.hosts.push({ name, line, col: first!.col, vars });
  });

  // The YAML: every group directly under all.children (membership of children by name).
  const out: string[] = [];
  const origins: (Origin | undefined)[] = [];
  const emit = (text: string, o?: Origin) => {
    out.push(text);
    origins.push(o);
  };
  const q = (v: string) => JSON.stringify(v);
  // Numbers and booleans as Ansible reads them on host lines; secrets and the rest as strings.
  const scalar = (key: string, v: string) =>
    /pass/.test(key) ? q(v) : /^-?\d+$/.test(v) || /^(true|false)$/.test(v) ? v : /^(True|False)$/.test(v) ? v.toLowerCase() : q(v);
  const varLines = (pad: string, list: { key: string; value: string; line: number; keyCol: number; valueCol: number }[]) => {
    for (const v of list) {
      const text = `${pad}${q(v.key)}: ${scalar(v.key, v.value)}`;
      emit(text, { line: v.line, keyCol: v.keyCol, valueCol: v.valueCol, yKeyCol: pad.length + 1, yValueCol: pad.length + q(v.key).length + 3 });
    }
  };
  const all = groups.get('all');
  emit('all:');
  if (all?.hosts.length) fail(file, all.line, 1, 'hosts cannot be listed under [all]', 'put them in a group, or before the first section');
  if (all?.children.length) fail(file, all.children[0]!.line, all.children[0]!.col, '[all:children] is implied: every group is in all');
  if (all?.vars.length) {
    emit('  vars:');
    varLines('    ', all.vars);
  }
  const rest = order.filter((n) => n !== 'all' && (n !== 'ungrouped' || groups.get(n)!.hosts.length > 0));
  if (rest.length) emit('  children:');
  for (const name of rest) {
    const g = groups.get(name)!;
    emit(`    ${q(name)}:`, { line: g.line, keyCol: 2, valueCol: 2, yKeyCol: 5, yValueCol: 5 });
    if (g.hosts.length) {
      emit('      hosts:');
      for (const h of g.hosts) {
        const o = { line: h.line, keyCol: h.col, valueCol: h.col, yKeyCol: 9, yValueCol: 9 };
        if (h.vars.length === 0) {
          emit(`        ${q(h.name)}: {}`, o);
          continue;
        }
        emit(`        ${q(h.name)}:`, o);
        varLines(
          '          ',
          h.vars.map((v) => ({ ...v, line: h.line })),
        );
      }
    }
    if (g.children.length) {
      emit('      children:');
      for (const c of g.children) emit(`        ${q(c.name)}:`, { line: c.line, keyCol: c.col, valueCol: c.col, yKeyCol: 9, yValueCol: 9 });
    }
    if (g.vars.length) {
      emit('      vars:');
      varLines('        ', g.vars);
    }
  }
  const mapLocation = (line: number, col: number) => {
    const o = origins[line - 1];
    if (!o) return { line: 1, col: 1 };
    if (col >= o.yValueCol) return { line: o.line, col: o.valueCol + Math.max(0, col - o.yValueCol - 1) };
    return { line: o.line, col: o.keyCol + Math.max(0, col - o.yKeyCol) };
  };
  return { yaml: out.join('\n') + '\n', mapLocation };
}

/** Whether an inventory file is in the INI form: by its extension, else by its first line. */
export function looksLikeIni(file: string, text: string): boolean {
  if (/\.ini$/i.test(file)) return true;
  if (/\.(ya?ml|json)$/i.test(file)) return false;
  const first = text.split(/\r?\n/).find((l) => l.trim() !== '' && !/^\s*[#;]/.test(l));
  if (!first) return false;
  return (
    /^\s*\[[^\]]*\]\s*$/.test(first) ||
    (/^\s*[A-Za-z0-9_.[\]:-]+(\s+[A-Za-z_][A-Za-z0-9_]*=\S*)*\s*$/.test(first) && !first.includes(': ') && !first.trim().endsWith(':'))
  );
}
