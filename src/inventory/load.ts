/**
 * Inventory loader: Ansible-like YAML inventory (`all:` group tree) plus a `cluster:` section.
 *
 * Variable precedence (as Ansible), weakest first:
 *   all.vars < parent group vars < child group vars < host `vars` < keys on the host entry.
 * "Parent/child" is the group's depth (longest path from `all`); among groups at the same
 * depth the order is alphabetical by group name, and the later one wins. Connection settings
 * then fall back to ~/.ssh/config, then to built-in defaults (see settings.ts).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { formatMode } from '../util/format.js';
import { YamlSource } from '../util/yaml.js';
import { readInputFile } from '../util/input-file.js';
import { parseCluster } from './cluster.js';
import { SECRET_KEYS, type ConnValues } from './connection-keys.js';
import { GroupWalker, type GroupInfo } from './groups.js';
import { buildSettings } from './settings.js';
import { readSshConfig } from './ssh-config.js';
import type { ClusterSpec, HostEntry, Inventory } from './types.js';

export interface InventoryOptions {
  /** Default ~/.ssh/config; a missing file is fine. */
  sshConfigFile?: string;
  /** Home directory for `~` and default key files; default os.homedir(). */
  home?: string;
  /** Default login user; default $USER or 'root'. */
  user?: string;
}

export function loadInventory(file: string, opts: InventoryOptions = {}): Inventory {
  const text = readInputFile(file, 'inventory', 'INVENTORY');
  const inventory = parseInventory(text, file, opts);
  const secret = [...inventory.hosts.values()].some((h) => h.connection.password !== undefined || h.connection.becomePassword !== undefined);
  if (secret) {
    // As OpenSSH refuses a private key others can read: say so, but do not refuse.
    const mode = fs.statSync(file).mode & 0o777;
    if (mode & 0o044) {
      inventory.warnings.push(
        `${file} holds passwords and others can read it (mode ${formatMode(mode)}); chmod 600 it, or use key files and sudo without a password`,
      );
    }
  }
  return inventory;
}

export function parseInventory(text: string, file: string, opts: InventoryOptions = {}): Inventory {
  const home = opts.home ?? os.homedir();
  const env = { home, user: opts.user ?? (process.env.USER || 'root') };
  const baseDir = path.dirname(path.resolve(file));
  const src: YamlSource = YamlSource.parse(text, file, 'INVENTORY', { secretKeys: SECRET_KEYS });

  const top = src.map(src.root, 'the inventory');
  if (top.length === 0) src.fail(src.root, 'the inventory is empty', 'start with "all:" (see inventories/example-static.yaml)');
  src.checkKeys(top, ['all', 'cluster'], 'the inventory');
  const allE = top.find((e) => e.key === 'all');
  if (!allE) src.fail(top[0]!.keyNode, 'the inventory has no "all:" section');

  const tree = new GroupWalker(src, baseDir, home).walk(allE.value, allE.keyNode);
  const members = transitiveHosts(tree.groups, [...tree.hosts.keys()]);
  const depth = groupDepths(tree.groups);
  const ssh = readSshConfig(opts.sshConfigFile ?? path.join(home, '.ssh', 'config'), home);

  const hosts = new Map<string, HostEntry>();
  for (const h of tree.hosts.values()) {
    const groups = [...tree.groups.keys()]
      .filter((g) => members.get(g)!.includes(h.name))
      .sort((a, b) => depth.get(a)! - depth.get(b)! || (a < b ? -1 : a > b ? 1 : 0));
    const levels = [...groups.map((g) => tree.groups.get(g)!.vars), h.level];
    const conn: ConnValues = Object.assign({}, ...levels.map((l) => l.conn));
    const vars: Record<string, unknown> = Object.assign({}, ...levels.map((l) => l.raw));
    hosts.set(h.name, { name: h.name, groups, connection: buildSettings(h.name, conn, ssh, env), vars, location: h.location });
  }

  const inventory: Inventory = { file, hosts, groups: members, warnings: [] };
  const clusterE = top.find((e) => e.key === 'cluster');
  if (clusterE) {
    const hostInfo = new Map(
      [...hosts.values()].map((h) => [h.name, { address: h.connection.address, addressNode: tree.hosts.get(h.name)!.addressNode, location: h.location }]),
    );
    inventory.cluster = parseCluster({ src, baseDir, home, hosts: hostInfo, groups: members, warnings: inventory.warnings }, clusterE.value, clusterE.keyNode);
  }
  // Implicit groups (as Ansible's `all`), so playbooks need not know the inventory's group
  // names: the cluster's members, and the host serving its DNS records in DNS mode.
  for (const [name, hostsOf] of Object.entries(IMPLICIT_GROUPS)) {
    if (members.has(name)) {
      const g = tree.groups.get(name)!;
      src.failAt(g.location, `group name "${name}" is reserved: provision makes that group from the cluster section`, 'rename the group');
    }
    const list = inventory.cluster ? hostsOf(inventory.cluster) : [];
    members.set(name, list);
    for (const h of list) hosts.get(h)!.groups.push(name);
  }
  return inventory;
}

export const IMPLICIT_GROUPS: Record<string, (c: ClusterSpec) => string[]> = {
  etcd_members: (c) => [...c.members],
  etcd_dns_server: (c) => (c.bootstrap === 'dns' && c.dns ? [c.dns.server] : []),
};

/** group -> its hosts and its descendants' hosts, in inventory order. */
function transitiveHosts(groups: Map<string, GroupInfo>, order: string[]): Map<string, string[]> {
  const memo = new Map<string, Set<string>>();
  const collect = (name: string): Set<string> => {
    let s = memo.get(name);
    if (s) return s;
    const g = groups.get(name)!;
    s = new Set(g.hosts);
    for (const c of g.children) collect(c).forEach((h) => s!.add(h));
    memo.set(name, s);
    return s;
  };
  const out = new Map<string, string[]>();
  for (const name of groups.keys()) {
    const s = collect(name);
    out.set(name, name === 'all' ? [...order] : order.filter((h) => s.has(h)));
  }
  return out;
}

/** Longest path from `all` (the tree is acyclic by now). */
function groupDepths(groups: Map<string, GroupInfo>): Map<string, number> {
  const parents = new Map<string, string[]>();
  for (const g of groups.values()) for (const c of g.children) parents.set(c, [...(parents.get(c) ?? []), g.name]);
  const depth = new Map<string, number>();
  const get = (name: string): number => {
    let d = depth.get(name);
    if (d === undefined) {
      d = Math.max(-1, ...(parents.get(name) ?? []).map(get)) + 1;
      depth.set(name, d);
    }
    return d;
  };
  for (const name of groups.keys()) get(name);
  return depth;
}
