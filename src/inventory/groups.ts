/**
 * Walks the `all:` group tree: group nodes (hosts / children / vars), host entries, vars
 * blocks. The same group name anywhere is the same group (membership and vars merge); a
 * host is defined (with settings) once and may be listed again elsewhere with {} or null.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Node } from 'yaml';
import type { SourceLocation } from '../errors.js';
import { YamlSource, type MapEntry, type YNode } from '../util/yaml.js';
import { short } from '../util/text.js';
import { ANSIBLE_KEYS, isAnsibleKey, nearMiss, readAnsibleSpecial } from './ansible.js';
import { readEtcdSettings, type EtcdSettings } from './etcd-settings.js';
import { CONNECTION_KEYS, NAME_RE, SECRET_KEYS, isConnectionKey, readConnectionKey, type ConnValues } from './connection-keys.js';

/** Variables set at one level (a group's vars, a host entry). */
export interface VarLevel {
  /** Free vars plus connection keys, raw as given. */
  raw: Record<string, unknown>;
  conn: ConnValues;
  /** Connection key -> the name it was given under at this level (ours or Ansible's). */
  from?: Record<string, string>;
  /** The host variable etcd_settings, checked (etcd-settings.ts). */
  etcd?: EtcdSettings;
}

export interface GroupInfo {
  name: string;
  children: string[];
  /** Where each child is referenced (for cycle errors). */
  childNodes: Map<string, Node>;
  hosts: string[];
  vars: VarLevel;
  /** From group_vars/<name> beside the inventory (wins over `vars`, as in Ansible). */
  dirVars: VarLevel;
  location: SourceLocation;
}

export interface HostInfo {
  name: string;
  location: SourceLocation;
  /** Set once the host is defined with settings. */
  defined: boolean;
  level: VarLevel;
  /** From host_vars/<name> beside the inventory (wins over the inventory's own). */
  dirLevel: VarLevel;
  addressNode?: YNode;
  /** The YAML source the address was read from (the inventory or a host_vars file). */
  addressSrc?: YamlSource;
}

export interface GroupTree {
  groups: Map<string, GroupInfo>;
  /** In order of first appearance. */
  hosts: Map<string, HostInfo>;
  /** A `cluster:` map given in group_vars/all (for inventories that cannot hold one: INI). */
  cluster?: { src: YamlSource; node: YNode; keyNode: Node };
}

const MAX_NAME = 250;
const VAR_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const emptyLevel = (): VarLevel => ({ raw: {}, conn: {}, from: {} });

/** A map of variables given outside the inventory (-e), read with the inventory's rules. */
export function readVarLevel(src: YamlSource, node: YNode, where: string, baseDir: string, home: string, warnings: string[]): VarLevel {
  const level = emptyLevel();
  new GroupWalker(src, baseDir, home, warnings).readVars(node, where, level);
  return level;
}
const GROUP_KEYS = ['hosts', 'children', 'vars'] as const;

export class GroupWalker {
  readonly groups = new Map<string, GroupInfo>();
  readonly hosts = new Map<string, HostInfo>();
  private readonly visiting = new Set<Node>();
  private cluster?: GroupTree['cluster'];

  constructor(
    private readonly src: YamlSource,
    private readonly baseDir: string,
    private readonly home: string,
    private readonly warnings: string[] = [],
  ) {}

  walk(allNode: YNode, allKey: Node): GroupTree {
    this.group('all', allNode, allKey);
    this.checkCycles();
    for (const h of this.hosts.values()) {
      const g = this.groups.get(h.name);
      if (g) this.src.failAt(h.location, `"${h.name}" is the name of both a host and a group (group at line ${g.location.line})`, 'rename one of them');
    }
    this.varsDirs();
    return { groups: this.groups, hosts: this.hosts, ...(this.cluster ? { cluster: this.cluster } : {}) };
  }

  /**
   * group_vars/ and host_vars/ beside the inventory, as Ansible reads them: a file
   * <name>, <name>.yml, .yaml or .json, or a directory <name>/ of such files (in name order).
   */
  private varsDirs(): void {
    for (const kind of ['group_vars', 'host_vars'] as const) {
      const dir = path.join(this.baseDir, kind);
      let names: fs.Dirent[];
      try {
        names = fs.readdirSync(dir, { withFileTypes: true });
      } catch {
        continue;
      }
      for (const d of names.sort((a, b) => (a.name < b.name ? -1 : 1))) {
        if (d.name.startsWith('.')) continue;
        const full = path.join(dir, d.name);
        const name = d.isDirectory() ? d.name : d.name.replace(/\.(ya?ml|json)$/, '');
        if (!d.isDirectory() && name === d.name && d.name.includes('.')) continue; // not a vars file (README.md, x.bak)
        const files = d.isDirectory()
          ? fs
              .readdirSync(full)
              .filter((f) => /\.(ya?ml|json)$/.test(f) && !f.startsWith('.'))
              .sort()
              .map((f) => path.join(full, f))
          : [full];
        const target = kind === 'group_vars' ? this.groups.get(name) : this.hosts.get(name);
        if (!target) {
          this.warnings.push(`${full}: no ${kind === 'group_vars' ? 'group' : 'host'} "${short(name)}" in the inventory; its variables are not used`);
          continue;
        }
        for (const f of files) {
          const src = YamlSource.parse(fs.readFileSync(f, 'utf8'), f, 'INVENTORY', { secretKeys: SECRET_KEYS });
          const into = 'dirVars' in target ? target.dirVars : target.dirLevel;
          const where = `${kind}/${name}`;
          const entries = src.map(src.root, where);
          const clusterE = entries.find((e) => e.key === 'cluster');
          if (clusterE && kind === 'group_vars' && name === 'all') {
            if (this.cluster) src.fail(clusterE.keyNode, `"cluster" is given twice (also in ${this.cluster.src.file})`);
            this.cluster = { src, node: clusterE.value, keyNode: clusterE.keyNode };
          } else if (clusterE) {
            src.fail(clusterE.keyNode, `"cluster" may be given only in group_vars/all (it describes the whole inventory's cluster)`);
          }
          this.vars(src.root, where, into, src.root as Node, src, kind === 'host_vars' ? (target as HostInfo) : undefined, ['cluster']);
        }
      }
    }
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
      g = { name, children: [], childNodes: new Map(), hosts: [], vars: emptyLevel(), dirVars: emptyLevel(), location: this.src.loc(at) };
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
      h = { name, location: this.src.loc(e.keyNode), defined: false, level: emptyLevel(), dirLevel: emptyLevel() };
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
    // Keys on the host entry win over the host's own vars block. As in Ansible, any other key
    // on the entry is a variable of the host.
    const vars = entries.find((x) => x.key === 'vars');
    if (vars) this.vars(vars.value, `vars of host "${name}"`, h.level, vars.keyNode, this.src, h);
    const rest = entries.filter((x) => x !== vars);
    if (rest.length) this.varEntries(rest, `host "${name}"`, h.level, this.src, h);
  }

  readVars(node: YNode, where: string, into: VarLevel): void {
    this.varEntries(this.src.map(node, where), where, into, this.src);
  }

  /**
   * One vars block (a group's, a host's, a group_vars/host_vars file). `host` is set when the
   * block belongs to one host, which may then give its address.
   */
  private vars(node: YNode, where: string, into: VarLevel, keyNode: Node, src: YamlSource = this.src, host?: HostInfo, skip: string[] = []): void {
    this.varEntries(
      src.map(node, where, keyNode).filter((e) => !skip.includes(e.key)),
      where,
      into,
      src,
      host,
    );
  }

  private varEntries(entries: MapEntry[], where: string, into: VarLevel, src: YamlSource, host?: HostInfo): void {
    const from = (into.from ??= {});
    for (const e of entries) {
      if (e.key === '<<') src.fail(e.keyNode, `unknown key "<<" in ${where}`, 'YAML merge keys are not supported: write the keys out, or use group vars');
      const mapped = Object.hasOwn(ANSIBLE_KEYS, e.key) ? ANSIBLE_KEYS[e.key]! : isConnectionKey(e.key) ? e.key : undefined;
      if (mapped === 'address') {
        if (!host) src.fail(e.keyNode, `"${e.key}" cannot be set in ${where}`, 'set the address on the host entry itself (or in host_vars/<host>)');
      }
      if (mapped) {
        const earlier = from[mapped];
        if (earlier !== undefined && earlier !== e.key) {
          src.fail(e.keyNode, `"${e.key}" and "${earlier}" are the same setting, both given in ${where}`, 'keep one of them');
        }
        from[mapped] = e.key;
        readConnectionKey(src, mapped, e.value, e.keyNode, into.conn, this.baseDir, this.home, e.key);
        if (mapped === 'address' && host) {
          host.addressNode = e.value ?? e.keyNode;
          host.addressSrc = src;
        }
      } else if (e.key === 'etcd_settings') {
        into.etcd = readEtcdSettings(src, e.value, `etcd_settings of ${where}`, e.keyNode);
      } else if (isAnsibleKey(e.key)) {
        readAnsibleSpecial(src, e.key, e.value, e.keyNode, into.conn, { baseDir: this.baseDir, home: this.home, warnings: this.warnings });
      } else if (/^ansible_/i.test(e.key)) {
        const near = nearMiss(e.key, CONNECTION_KEYS);
        src.fail(
          e.keyNode,
          `"${short(e.key)}" in ${where} is an Ansible variable provision does not map${near ? `; did you mean "${near}"?` : ''}`,
          near
            ? undefined
            : `the Ansible variables provision maps: ${Object.keys(ANSIBLE_KEYS)
                .filter((k) => !/ssh_(host|port|user)|sudo/.test(k))
                .join(', ')}, ansible_connection (ssh), ansible_become_method (sudo), ansible_ssh_common_args`,
        );
      } else {
        // A typo of a connection setting would otherwise be a variable nobody reads, and the
        // run would go ahead with the default (another user, another key).
        const near = nearMiss(e.key, CONNECTION_KEYS);
        if (near)
          src.fail(
            e.keyNode,
            `"${short(e.key)}" in ${where} looks like a connection setting but is none; did you mean "${near}"?`,
            'rename it if it is a variable of your own',
          );
        if (!VAR_NAME_RE.test(e.key) || e.key === '__proto__') {
          src.fail(e.keyNode, `invalid variable name "${short(e.key)}" in ${where}`, 'variable names use letters, digits and "_"');
        }
      }
      into.raw[e.key] = src.toJS(e.value);
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
