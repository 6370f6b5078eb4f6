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
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ProvisionError } from '../errors.js';
import { formatMode } from '../util/format.js';
import { YamlSource } from '../util/yaml.js';
import { short } from '../util/text.js';
import { readInputFile } from '../util/input-file.js';
import { parseCluster } from './cluster.js';
import { checkMerged, type EtcdSettings } from './etcd-settings.js';
import { SECRET_KEYS, type ConnValues } from './connection-keys.js';
import { GroupWalker, type GroupInfo, type GroupTree, type VarLevel } from './groups.js';
import { buildSettings } from './settings.js';
import { readSshConfig } from './ssh-config.js';
import { iniToYaml, looksLikeIni, type IniYaml } from './ini.js';
import type { ClusterSpec, HostEntry, Inventory } from './types.js';

export interface InventoryOptions {
  /** Default ~/.ssh/config; a missing file is fine. */
  sshConfigFile?: string;
  /** Home directory for `~` and default key files; default os.homedir(). */
  home?: string;
  /** Default login user; default $USER or 'root'. */
  user?: string;
  /** Variables from the command line (-e): above every level of the inventory, as in Ansible. */
  extraVars?: VarLevel;
}

export function loadInventory(file: string, opts: InventoryOptions = {}): Inventory {
  const text = readInputFile(file, 'inventory', 'INVENTORY');
  const inventory = looksLikeIni(file, text) ? parseInventory(iniToYaml(text, file), file, opts) : parseInventory(text, file, opts);
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

/** `text` is the YAML form, or an INI inventory already made into it (iniToYaml). */
export function parseInventory(text: string | IniYaml, file: string, opts: InventoryOptions = {}): Inventory {
  const home = opts.home ?? os.homedir();
  const env = { home, user: opts.user ?? (process.env.USER || 'root') };
  const baseDir = path.dirname(path.resolve(file));
  const ini = typeof text === 'string' ? undefined : text;
  let src: YamlSource;
  try {
    src = YamlSource.parse(ini ? ini.yaml : (text as string), file, 'INVENTORY', { secretKeys: SECRET_KEYS, mapLocation: ini?.mapLocation });
  } catch (e) {
    // An INI inventory in a .yaml file: say what it is rather than "Unexpected scalar".
    // (YamlSource.parse throws only for text that is not YAML it accepts.)
    if (!ini && e instanceof ProvisionError && looksLikeIni('', text as string)) {
      throw new ProvisionError('INVENTORY', `${e.message} (this looks like an INI inventory)`, {
        location: e.location,
        hint: 'name the file .ini (or give it no .yaml/.yml extension) to read it as one',
      });
    }
    throw e;
  }

  const top = src.map(src.root, 'the inventory');
  if (top.length === 0) src.fail(src.root, 'the inventory is empty', 'start with "all:" (see inventories/example-static.yaml)');
  src.checkKeys(top, ['all', 'cluster'], 'the inventory');
  const allE = top.find((e) => e.key === 'all');
  if (!allE) src.fail(top[0]!.keyNode, 'the inventory has no "all:" section');

  const warnings: string[] = [];
  const tree = new GroupWalker(src, baseDir, home, warnings).walk(allE.value, allE.keyNode);
  const members = transitiveHosts(tree.groups, [...tree.hosts.keys()]);
  const depth = groupDepths(tree.groups);
  const ssh = readSshConfig(opts.sshConfigFile ?? path.join(home, '.ssh', 'config'), home);

  const hosts = new Map<string, HostEntry>();
  const etcdSettings = new Map<string, EtcdSettings>();
  for (const h of tree.hosts.values()) {
    const groups = [...tree.groups.keys()]
      .filter((g) => members.get(g)!.includes(h.name))
      .sort((a, b) => depth.get(a)! - depth.get(b)! || (a < b ? -1 : a > b ? 1 : 0));
    const levels = [
      ...groups.flatMap((g) => [tree.groups.get(g)!.vars, tree.groups.get(g)!.dirVars]),
      h.level,
      h.dirLevel,
      ...(opts.extraVars ? [opts.extraVars] : []),
    ];
    const conn: ConnValues = Object.assign({}, ...levels.map((l) => l.conn));
    const vars: Record<string, unknown> = Object.assign({}, ...levels.map((l) => l.raw));
    // etcd_settings merge key by key (all < group < host < -e), so a host overrides one setting.
    if (levels.some((l) => l.etcd)) etcdSettings.set(h.name, Object.assign({}, ...levels.map((l) => l.etcd ?? {})) as EtcdSettings);
    hosts.set(h.name, { name: h.name, groups, connection: buildSettings(h.name, conn, ssh, env), vars, location: h.location });
  }

  checkSameAddress(tree, hosts);
  const inventory: Inventory = { file, hosts, groups: members, warnings, secrets: collectSecrets(hosts) };
  const clusterE = top.find((e) => e.key === 'cluster');
  if (clusterE && tree.cluster)
    tree.cluster.src.fail(tree.cluster.keyNode, `"cluster" is given twice: in ${file} (line ${src.loc(clusterE.keyNode).line}) and here`);
  const clusterAt = clusterE ? { src, node: clusterE.value, keyNode: clusterE.keyNode } : tree.cluster;
  if (clusterAt) {
    const hostInfo = new Map(
      [...hosts.values()].map((h) => {
        const t = tree.hosts.get(h.name)!;
        // An address node from another file (host_vars) cannot be located in this one.
        const addressNode = t.addressSrc === clusterAt.src ? t.addressNode : undefined;
        return [h.name, { address: h.connection.address, addressNode, location: h.location }];
      }),
    );
    inventory.cluster = parseCluster(
      { src: clusterAt.src, baseDir, home, hosts: hostInfo, groups: members, warnings: inventory.warnings },
      clusterAt.node,
      clusterAt.keyNode,
    );
  }
  if (inventory.cluster) applyHostSettings(inventory.cluster, etcdSettings, inventory.warnings);
  else if (etcdSettings.size) inventory.warnings.push('etcd_settings is set but the inventory has no cluster section; it is not used');
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

/** Each member's own etcd settings, and the checks that need a member's merged settings. */
function applyHostSettings(cluster: ClusterSpec, perHost: Map<string, EtcdSettings>, warnings: string[]): void {
  const others = [...perHost.keys()].filter((h) => !cluster.members.includes(h));
  if (others.length)
    warnings.push(`etcd_settings is set for ${others.join(', ')}, which ${others.length > 1 ? 'are not members' : 'is not a member'} of the cluster; not used`);
  const hostSettings: Record<string, EtcdSettings> = {};
  for (const m of cluster.members) {
    const own = perHost.get(m);
    if (own) hostSettings[m] = own;
    const bad = checkMerged({ ...cluster.settings, ...own }, cluster.package.version);
    if (bad) throw new ProvisionError('INVENTORY', `${bad.message} (member ${m})`, { location: bad.location });
  }
  if (Object.keys(hostSettings).length) cluster.hostSettings = hostSettings;
}

/** Every password the inventory gives, so that no output can show one, however it got there. */
function collectSecrets(hosts: Map<string, HostEntry>): Set<string> {
  const out = new Set<string>();
  for (const h of hosts.values()) {
    if (h.connection.password) out.add(h.connection.password);
    if (h.connection.becomePassword) out.add(h.connection.becomePassword);
  }
  return out;
}

/**
 * One spelling per address for comparing hosts: names in lower case without a final dot,
 * IPv6 compressed, an IPv4-mapped IPv6 address as its IPv4 address.
 */
export function addressKey(address: string): string {
  let a = address.toLowerCase().replace(/\.$/, '');
  if (net.isIP(a) === 6) {
    try {
      a = new URL(`http://[${a}]/`).hostname.slice(1, -1);
    } catch {
      /* kept as written */
    }
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a) ?? /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(a);
    if (mapped && mapped.length === 2) a = mapped[1]!;
    else if (mapped) {
      const hi = parseInt(mapped[1]!, 16);
      const lo = parseInt(mapped[2]!, 16);
      a = [hi >> 8, hi & 255, lo >> 8, lo & 255].join('.');
    }
  }
  return a;
}

/** Two hosts at one address and port written differently: one machine under two names, by mistake. */
function checkSameAddress(tree: GroupTree, hosts: Map<string, HostEntry>): void {
  const seen = new Map<string, HostEntry>();
  for (const h of hosts.values()) {
    const key = `${addressKey(h.connection.address)}|${h.connection.port}`;
    const other = seen.get(key);
    if (other && other.connection.address !== h.connection.address) {
      const t = tree.hosts.get(h.name)!;
      const message = `hosts ${other.name} and ${h.name} have the same address, written two ways ("${short(other.connection.address)}" and "${short(h.connection.address)}")`;
      const hint = 'one machine is one host: remove one of them, or write the address the same way if you mean it';
      if (t.addressSrc && t.addressNode) t.addressSrc.fail(t.addressNode, message, hint);
      throw new ProvisionError('INVENTORY', message, { location: h.location, hint });
    }
    if (!other) seen.set(key, h);
  }
}

export const IMPLICIT_GROUPS: Record<string, (c: ClusterSpec) => string[]> = {
  etcd_members: (c) => [...c.members],
  etcd_retired: (c) => [...(c.retired ?? [])],
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
