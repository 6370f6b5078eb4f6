/**
 * Walks the `all:` group tree: group nodes (hosts / children / vars), host entries, vars
 * blocks. The same group name anywhere is the same group (membership and vars merge); a
 * host is defined (with settings) once and may be listed again elsewhere with {} or null.
 */
import type { Node } from 'yaml';
import type { SourceLocation } from '../errors.js';
import type { MapEntry, YNode, YamlSource } from '../util/yaml.js';
import { short } from '../util/text.js';
import { CONNECTION_KEYS, NAME_RE, isConnectionKey, readConnectionKey, type ConnValues } from './connection-keys.js';

/** Variables set at one level (a group's vars, a host entry). */
export interface VarLevel {
  /** Free vars plus connection keys, raw as given. */
  raw: Record<string, unknown>;
  conn: ConnValues;
}

export interface GroupInfo {
  name: string;
  children: string[];
  /** Where each child is referenced (for cycle errors). */
  childNodes: Map<string, Node>;
  hosts: string[];
  vars: VarLevel;
  location: SourceLocation;
}

export interface HostInfo {
  name: string;
  location: SourceLocation;
  /** Set once the host is defined with settings. */
  defined: boolean;
  level: VarLevel;
  addressNode?: YNode;
}

export interface GroupTree {
  groups: Map<string, GroupInfo>;
  /** In order of first appearance. */
  hosts: Map<string, HostInfo>;
}

const MAX_NAME = 250;
const VAR_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const HOST_KEYS = [...CONNECTION_KEYS, 'vars'] as const;
const GROUP_KEYS = ['hosts', 'children', 'vars'] as const;

export class GroupWalker {
  readonly groups = new Map<string, GroupInfo>();
  readonly hosts = new Map<string, HostInfo>();
  private readonly visiting = new Set<Node>();

  constructor(
    private readonly src: YamlSource,
    private readonly baseDir: string,
    private readonly home: string,
  ) {}

  walk(allNode: YNode, allKey: Node): GroupTree {
    this.group('all', allNode, allKey);
    this.checkCycles();
    for (const h of this.hosts.values()) {
      const g = this.groups.get(h.name);
      if (g) this.src.failAt(h.location, `"${h.name}" is the name of both a host and a group (group at line ${g.location.line})`, 'rename one of them');
    }
    return { groups: this.groups, hosts: this.hosts };
  }

  private checkName(e: MapEntry, kind: 'host' | 'group'): string {
    if (!NAME_RE.test(e.key)) {
      this.src.fail(e.keyNode, `invalid ${kind} name "${short(e.key)}"`, 'names use letters, digits, ".", "_" and "-", and start with a letter or digit');
    }
    // A member's data directory is <data_dir>/<name>.etcd: one file name (255 bytes at most).
    if (e.key.length > MAX_NAME) this.src.fail(e.keyNode, `${kind} name "${short(e.key)}" is ${e.key.length} characters long; at most ${MAX_NAME}`);
    return e.key;
  }

  private getGroup(name: string, at: Node): GroupInfo {
    let g = this.groups.get(name);
    if (!g) {
      g = { name, children: [], childNodes: new Map(), hosts: [], vars: { raw: {}, conn: {} }, location: this.src.loc(at) };
      this.groups.set(name, g);
    }
    return g;
  }

  private group(name: string, node: YNode, keyNode: Node): void {
    const g = this.getGroup(name, keyNode);
    const resolved = this.src.resolve(node);
    if (resolved && this.visiting.has(resolved)) this.src.fail(node, `group "${name}" contains itself through a YAML alias`);
    if (resolved) this.visiting.add(resolved);
    const entries = this.src.map(node, `group "${name}"`, keyNode);
    this.src.checkKeys(entries, GROUP_KEYS, `group "${name}"`);
    for (const e of entries) {
      if (e.key === 'vars') this.vars(e.value, `vars of group "${name}"`, g.vars, e.keyNode);
      else if (e.key === 'hosts') {
        for (const h of this.src.map(e.value, `hosts of group "${name}"`, e.keyNode)) {
          const hostName = this.checkName(h, 'host');
          this.host(hostName, h);
          if (!g.hosts.includes(hostName)) g.hosts.push(hostName);
        }
      } else if (e.key === 'children') {
        for (const c of this.src.map(e.value, `children of group "${name}"`, e.keyNode)) {
          const child = this.checkName(c, 'group');
          if (child === 'all') this.src.fail(c.keyNode, 'group "all" cannot be a child group', '"all" is the top of the tree');
          if (!g.children.includes(child)) {
            g.children.push(child);
            g.childNodes.set(child, c.keyNode);
          }
          this.getGroup(child, c.keyNode);
          if (!this.src.isNull(c.value)) this.group(child, c.value, c.keyNode);
        }
      }
    }
    if (resolved) this.visiting.delete(resolved);
  }

  private host(name: string, e: MapEntry): void {
    let h = this.hosts.get(name);
    if (!h) {
      h = { name, location: this.src.loc(e.keyNode), defined: false, level: { raw: {}, conn: {} } };
      this.hosts.set(name, h);
    }
    const entries = this.src.map(e.value, `host "${name}"`, e.keyNode);
    if (entries.length === 0) return; // membership only
    if (h.defined) {
      this.src.fail(
        e.keyNode,
        `host "${name}" is already defined at line ${h.location.line}`,
        `list it again only as "${name}: {}" to add it to another group`,
      );
    }
    h.defined = true;
    h.location = this.src.loc(e.keyNode);
    this.src.checkKeys(entries, HOST_KEYS, `host "${name}"`);
    // Keys on the host entry win over the host's own vars block.
    const vars = entries.find((x) => x.key === 'vars');
    if (vars) this.vars(vars.value, `vars of host "${name}"`, h.level, vars.keyNode);
    for (const x of entries) {
      if (x.key === 'vars') continue;
      readConnectionKey(this.src, x.key as (typeof CONNECTION_KEYS)[number], x.value, x.keyNode, h.level.conn, this.baseDir, this.home);
      h.level.raw[x.key] = this.src.toJS(x.value);
      if (x.key === 'address') h.addressNode = x.value ?? x.keyNode;
    }
  }

  private vars(node: YNode, where: string, into: VarLevel, keyNode: Node): void {
    for (const e of this.src.map(node, where, keyNode)) {
      if (e.key === 'address') {
        this.src.fail(e.keyNode, `"address" cannot be set in ${where}`, 'set address on the host entry itself');
      }
      if (isConnectionKey(e.key)) {
        readConnectionKey(this.src, e.key, e.value, e.keyNode, into.conn, this.baseDir, this.home);
      } else if (!VAR_NAME_RE.test(e.key) || e.key === '__proto__') {
        this.src.fail(e.keyNode, `invalid variable name "${short(e.key)}" in ${where}`, 'variable names use letters, digits and "_"');
      }
      into.raw[e.key] = this.src.toJS(e.value);
    }
  }

  private checkCycles(): void {
    const state = new Map<string, 'active' | 'done'>();
    const visit = (name: string, path: string[]): void => {
      state.set(name, 'active');
      const g = this.groups.get(name)!;
      for (const c of g.children) {
        const s = state.get(c);
        if (s === 'active') {
          const full = [...path, name];
          const cycle = [...full.slice(full.indexOf(c)), c].join(' -> ');
          this.src.fail(g.childNodes.get(c), `group cycle: ${cycle}`, 'a group cannot be its own descendant');
        }
        if (s === undefined) visit(c, [...path, name]);
      }
      state.set(name, 'done');
    };
    visit('all', []);
  }
}
