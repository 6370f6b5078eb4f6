/**
 * YAML with source positions, shared by the inventory and playbook loaders (text.ts and
 * input-file.ts hold the helpers for messages and for reading the files).
 * Every check a loader makes goes through a `YamlSource`, so every error it throws names
 * file:line:col and is a ProvisionError of the loader's code (never a bare Error).
 */
import { Alias, LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, visit } from 'yaml';
import type { Document, Node, Pair, Scalar, YAMLMap, YAMLSeq } from 'yaml';
import { ProvisionError, type ErrorCode, type SourceLocation } from '../errors.js';
import { short } from './text.js';

export type YNode = Node | null | undefined;

export interface MapEntry {
  key: string;
  keyNode: Node;
  value: YNode;
  pair: Pair;
}

const MAX_DEPTH = 64;
const MAX_ALIASES = 1000;

export class YamlSource {
  readonly root: YNode;
  private aliasCount = 0;
  private secretKeys: readonly string[] = [];

  private constructor(
    readonly text: string,
    readonly file: string,
    readonly code: ErrorCode,
    private readonly doc: Document.Parsed,
    private readonly lines: LineCounter,
  ) {
    this.root = doc.contents;
  }

  /**
   * Parse `text`; invalid YAML (including duplicate keys and unknown tags) throws with its
   * location. Messages about the value of a key in `opts.secretKeys` never quote that value.
   */
  static parse(text: string, file: string, code: ErrorCode, opts: { secretKeys?: readonly string[] } = {}): YamlSource {
    const lines = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
    const src = new YamlSource(text, file, code, doc, lines);
    src.secretKeys = opts.secretKeys ?? [];
    const err = doc.errors[0];
    // An unknown tag (`!vault`, `!!js/function`) would otherwise be dropped and its value
    // used as a plain string: an encrypted blob taken as a password.
    const tag = doc.warnings.find((w) => w.code === 'TAG_RESOLVE_FAILED');
    if (!err && tag) {
      const at = src.locAt(tag.pos[0]);
      const name = text.slice(tag.pos[0], tag.pos[1]).trim();
      const shown = src.inSecretValue(tag.pos[0]) ? 'of a secret value' : `"${short(name)}"`;
      throw new ProvisionError(code, `unsupported YAML tag ${shown}`, {
        location: at,
        hint: `values are plain strings, numbers, true/false, lists and maps${name.startsWith('!vault') ? ' (Ansible Vault is not supported)' : ''}`,
      });
    }
    if (err) {
      const at = src.locAt(err.pos[0]);
      if (err.code === 'DUPLICATE_KEY') {
        const key = src.keyAt(err.pos[0]) ?? text.slice(err.pos[0], err.pos[1]).trim();
        throw new ProvisionError(code, `duplicate key "${short(key)}"`, {
          location: at,
          hint: 'each key may appear only once in a map; merge the two entries',
        });
      }
      throw new ProvisionError(code, `invalid YAML: ${err.message}`, { location: at });
    }
    return src;
  }

  /** Text of the map key that starts at `offset`, if any. */
  private keyAt(offset: number): string | undefined {
    let found: string | undefined;
    visit(this.doc, {
      Pair: (_, pair) => {
        const k = pair.key as YNode;
        if (isScalar(k) && k.range?.[0] === offset) {
          found = String(k.value);
          return visit.BREAK;
        }
        return undefined;
      },
    });
    return found;
  }

  /** Whether `offset` falls in the value (tag, anchor and all) of a secret key. */
  private inSecretValue(offset: number): boolean {
    if (this.secretKeys.length === 0) return false;
    let found = false;
    visit(this.doc, {
      Pair: (_, pair) => {
        const k = pair.key as YNode;
        if (!isScalar(k) || !this.secretKeys.includes(String(k.value)) || !k.range) return undefined;
        const v = pair.value as YNode;
        const end = v?.range?.[2] ?? k.range[2];
        if (offset >= k.range[1] && offset <= end) {
          found = true;
          return visit.BREAK;
        }
        return undefined;
      },
    });
    return found;
  }

  locAt(offset: number): SourceLocation {
    const { line, col } = this.lines.linePos(offset);
    return { file: this.file, line, col };
  }

  /** Start of `node`, or of `fallback` when `node` has no range (an absent value). */
  loc(node: YNode, fallback?: YNode): SourceLocation {
    // An empty value (`port:`) has an empty range just after the colon: point at the key.
    const empty = isScalar(node) && node.value == null && node.range && node.range[0] === node.range[1];
    const range = (empty && fallback?.range) || node?.range || fallback?.range;
    return range ? this.locAt(range[0]) : { file: this.file, line: 1, col: 1 };
  }

  fail(node: YNode, message: string, hint?: string, fallback?: YNode): never {
    throw new ProvisionError(this.code, message, { location: this.loc(node, fallback), hint });
  }

  failAt(location: SourceLocation, message: string, hint?: string): never {
    throw new ProvisionError(this.code, message, { location, hint });
  }

  /** Follows aliases (`*name`) to the anchored node. */
  resolve(node: YNode): YNode {
    if (!isAlias(node)) return node;
    if (++this.aliasCount > MAX_ALIASES) this.fail(node, 'too many YAML aliases');
    const target = (node as Alias).resolve(this.doc);
    if (!target) this.fail(node, `unknown YAML alias "*${(node as Alias).source}"`);
    return target as Node;
  }

  isNull(node: YNode): boolean {
    const n = this.resolve(node);
    return n == null || (isScalar(n) && n.value == null);
  }

  /** Entries of a map (null means empty map); keys must be scalars. */
  map(node: YNode, what: string, fallback?: YNode): MapEntry[] {
    const n = this.resolve(node);
    if (this.isNull(n)) return [];
    if (!isMap(n)) this.fail(n, `${what} must be a map (key: value), not ${describe(n)}`, undefined, fallback);
    return (n as YAMLMap).items.map((pair) => {
      const keyNode = this.resolve(pair.key as YNode);
      if (!isScalar(keyNode) || keyNode.value == null || typeof keyNode.value === 'object') {
        this.fail(keyNode, `keys in ${what} must be plain names`, undefined, pair.value as YNode);
      }
      return { key: String(keyNode.value), keyNode, value: pair.value as YNode, pair };
    });
  }

  /** Items of a list. */
  seq(node: YNode, what: string, fallback?: YNode): Node[] {
    const n = this.resolve(node);
    if (!isSeq(n)) this.fail(n, `${what} must be a list, not ${describe(n)}`, undefined, fallback);
    return (n as YAMLSeq).items.map((i) => i as Node);
  }

  /** Throws for the first key of `entries` not in `allowed`. */
  checkKeys(entries: MapEntry[], allowed: readonly string[], where: string): void {
    for (const e of entries) {
      if (!allowed.includes(e.key)) {
        this.fail(e.keyNode, `unknown key "${short(e.key)}" in ${where} (expected one of: ${allowed.join(', ')})`);
      }
    }
  }

  scalar(node: YNode): Scalar | undefined {
    const n = this.resolve(node);
    return isScalar(n) ? n : undefined;
  }

  /**
   * A string whose value is secret (a password): no error message shows it, nor the name
   * of an alias or tag written in its place.
   */
  secretString(node: YNode, what: string, fallback?: YNode): string {
    let s: Scalar | undefined;
    try {
      s = this.scalar(node);
    } catch {
      s = undefined;
    }
    if (!s || typeof s.value !== 'string') {
      this.fail(node, `${what} must be a string (the value is not shown)`, 'quote it: "..."', fallback);
    }
    return s.value as string;
  }

  string(node: YNode, what: string, fallback?: YNode): string {
    const s = this.scalar(node);
    if (!s || typeof s.value !== 'string') this.fail(node, `${what} must be a string, not ${describe(node)}`, undefined, fallback);
    return s.value as string;
  }

  /** A string; a plain number is taken as its source text (version: 3.10 stays "3.10"). */
  stringish(node: YNode, what: string, fallback?: YNode): string {
    const s = this.scalar(node);
    if (s && typeof s.value === 'number' && s.source) return s.source;
    return this.string(node, what, fallback);
  }

  stringList(node: YNode, what: string, fallback?: YNode): string[] {
    const n = this.resolve(node);
    if (isSeq(n)) return this.seq(n, what).map((item) => this.string(item, `each item of ${what}`, n));
    if (this.scalar(n) && typeof this.scalar(n)!.value === 'string') return [this.string(n, what)];
    return this.fail(n, `${what} must be a string or a list of strings, not ${describe(n)}`, undefined, fallback);
  }

  bool(node: YNode, what: string, fallback?: YNode): boolean {
    const s = this.scalar(node);
    if (!s || typeof s.value !== 'boolean') {
      this.fail(node, `${what} must be true or false, not ${describe(node)}`, 'YAML 1.2: write true/false (yes/no are strings)', fallback);
    }
    return s.value as boolean;
  }

  number(node: YNode, what: string, fallback?: YNode): number {
    const s = this.scalar(node);
    if (!s || typeof s.value !== 'number' || !Number.isFinite(s.value)) {
      this.fail(node, `${what} must be a number, not ${describe(node)}`, undefined, fallback);
    }
    return s.value as number;
  }

  int(node: YNode, what: string, min: number, max: number, fallback?: YNode): number {
    const v = this.number(node, what, fallback);
    if (!Number.isInteger(v) || v < min || v > max) {
      this.fail(node, `${what} must be a whole number from ${min} to ${max}, not ${v}`, undefined, fallback);
    }
    return v;
  }

  /** Plain JS value of a free-form node (vars, raw operation args). */
  toJS(node: YNode, depth = 0): unknown {
    const n = this.resolve(node);
    if (depth > MAX_DEPTH) this.fail(n, 'value is nested too deeply (recursive alias?)');
    if (n == null) return null;
    if (isScalar(n)) {
      const v = n.value;
      if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
      return v ?? null;
    }
    if (isSeq(n)) return n.items.map((i) => this.toJS(i as YNode, depth + 1));
    if (isMap(n)) {
      const out: Record<string, unknown> = {};
      for (const e of this.map(n, 'a map')) {
        if (e.key === '__proto__') this.fail(e.keyNode, 'key "__proto__" is not allowed');
        out[e.key] = this.toJS(e.value, depth + 1);
      }
      return out;
    }
    return this.fail(n, `unsupported YAML value ${describe(n)}`);
  }
}

/** Short description of a node's kind for messages: "a list", "the number 3". */
export function describe(node: YNode): string {
  if (node == null) return 'nothing';
  if (isMap(node)) return 'a map';
  if (isSeq(node)) return 'a list';
  if (isAlias(node)) return 'an alias';
  if (isScalar(node)) {
    const v = node.value;
    if (v == null) return 'nothing (null)';
    if (typeof v === 'string') return `the string "${short(v)}"`;
    if (typeof v === 'number') return `the number ${v}`;
    if (typeof v === 'boolean') return `${v}`;
  }
  return 'an unsupported value';
}
