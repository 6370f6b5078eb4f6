/** The inventory's `cluster:` section -> ClusterSpec. */
import net from 'node:net';
import { canonicalIp } from '../util/ip.js';
import path from 'node:path';
import type { Node } from 'yaml';
import type { MapEntry, YNode, YamlSource } from '../util/yaml.js';
import { short } from '../util/text.js';
import type { SourceLocation } from '../errors.js';
import { resolvePath } from './connection-keys.js';
import type { BootstrapMode, ClusterSpec } from './types.js';
import { readEtcdSettings } from './etcd-settings.js';

export interface ClusterContext {
  src: YamlSource;
  baseDir: string;
  home: string;
  /** host name -> address and where it was given */
  hosts: Map<string, { address: string; addressNode: YNode; location: import('../errors.js').SourceLocation }>;
  groups: Map<string, string[]>;
  warnings: string[];
}

const CLUSTER_KEYS = [
  'name',
  'members',
  'bootstrap',
  'token',
  'data_dir',
  'client_port',
  'extra_client_ports',
  'peer_port',
  'listen',
  'package',
  'dns',
  'discovery',
  'tls',
  'backup',
  'etcd_settings',
  'retired',
] as const;
const TOKEN_RE = /^[A-Za-z0-9._-]+$/;
const PACKAGE_RE = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;
const VERSION_RE = /^[A-Za-z0-9][A-Za-z0-9._:~+-]*$/;
const DOMAIN_RE = /^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9])?)*\.?$/;
const DATA_DIR_RE = /^\/[A-Za-z0-9._/@+-]*$/;
const DNS_LABEL_RE = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const URL_RE = /^https?:\/\/[A-Za-z0-9._~:/?#@!&+,;=%[\]-]+$/;

const UNSPECIFIED = new Set(['0.0.0.0', '::']);

/** Where each key of a parsed cluster section was written, for errors found after loading. */
const keyLocations = new WeakMap<ClusterSpec, Map<string, SourceLocation>>();

/** Location of `cluster.<key>` (its value), or of the cluster section when the key is absent. */
export function clusterLocation(spec: ClusterSpec, key: string): SourceLocation | undefined {
  const m = keyLocations.get(spec);
  return m?.get(key) ?? m?.get('');
}

export function parseCluster(ctx: ClusterContext, node: YNode, keyNode: Node): ClusterSpec {
  const src: YamlSource = ctx.src;
  const entries = src.map(node, 'cluster', keyNode);
  src.checkKeys(entries, CLUSTER_KEYS, 'cluster');
  const get = (k: string): MapEntry | undefined => entries.find((e) => e.key === k);
  const str = (k: string, def: string, re: RegExp, what: string): string => {
    const e = get(k);
    if (!e) return def;
    const v = src.string(e.value, `cluster.${k}`, e.keyNode);
    if (!re.test(v)) src.fail(e.value, `cluster.${k} "${short(v)}" is not a valid ${what}`);
    return v;
  };
  const oneOf = <T extends string>(k: string, allowed: readonly T[], def: T): T => {
    const e = get(k);
    if (!e) return def;
    const v = src.scalar(e.value)?.value;
    if (!allowed.includes(v as T)) {
      src.fail(e.value, `cluster.${k} must be one of: ${allowed.join(', ')}`, undefined, e.keyNode);
    }
    return v as T;
  };
  const port = (k: string, def: number): number => {
    const e = get(k);
    return e ? src.int(e.value, `cluster.${k}`, 1, 65535, e.keyNode) : def;
  };

  const name = str('name', 'etcd', TOKEN_RE, 'name (letters, digits, ".", "_", "-")');
  const spec: ClusterSpec = {
    name,
    members: members(ctx, get('members'), keyNode),
    bootstrap: oneOf<BootstrapMode>('bootstrap', ['static', 'dns', 'discovery'], 'static'),
    token: str('token', `${name}-token`, TOKEN_RE, 'token (letters, digits, ".", "_", "-")'),
    dataDir: str('data_dir', '/var/lib/etcd', DATA_DIR_RE, 'absolute path without spaces or quotes'),
    clientPort: port('client_port', 2379),
    peerPort: port('peer_port', 2380),
    listen: oneOf('listen', ['address', 'any'], 'address'),
    package: pkg(src, get('package')),
  };
  if (spec.dataDir === '/' || spec.dataDir.split('/').includes('..')) {
    src.fail(get('data_dir')!.value, `cluster.data_dir "${spec.dataDir}" is not a usable data directory`);
  }
  if (spec.clientPort === spec.peerPort) {
    src.fail(get('peer_port')?.value ?? get('client_port')?.value ?? keyNode, 'cluster.client_port and cluster.peer_port must differ');
  }
  const extraE = get('extra_client_ports');
  if (extraE) {
    const ports: number[] = [];
    for (const item of src.seq(extraE.value, 'cluster.extra_client_ports (a list of ports)', extraE.keyNode)) {
      const p = src.int(item, 'each of cluster.extra_client_ports', 1, 65535, extraE.value);
      if (p === spec.clientPort || p === spec.peerPort || ports.includes(p))
        src.fail(
          item,
          `cluster.extra_client_ports: port ${p} is already ${ports.includes(p) ? 'listed' : p === spec.peerPort ? 'the peer port' : 'the client port'}`,
        );
      ports.push(p);
    }
    if (ports.length) spec.extraClientPorts = ports;
  }
  const settingsE = get('etcd_settings');
  if (settingsE) spec.settings = readEtcdSettings(src, settingsE.value, 'cluster.etcd_settings', settingsE.keyNode);

  const retiredE = get('retired');
  if (retiredE) spec.retired = retired(ctx, retiredE, spec.members);

  const dnsE = get('dns');
  const discE = get('discovery');
  if (dnsE) spec.dns = dns(ctx, dnsE);
  if (discE) spec.discovery = discovery(src, discE);
  if (spec.bootstrap === 'dns' && !spec.dns) {
    src.fail(get('bootstrap')!.value, 'bootstrap: dns needs a cluster.dns section', 'add dns: { domain: example.internal, server: <host> }');
  }
  if (spec.bootstrap === 'discovery' && !spec.discovery) {
    src.fail(get('bootstrap')!.value, 'bootstrap: discovery needs a cluster.discovery section', 'add discovery: { url: ... } or discovery: { endpoint: ... }');
  }
  if (dnsE && spec.bootstrap !== 'dns') ctx.warnings.push(`cluster.dns is ignored with bootstrap: ${spec.bootstrap}`);
  if (discE && spec.bootstrap !== 'discovery') ctx.warnings.push(`cluster.discovery is ignored with bootstrap: ${spec.bootstrap}`);

  const tlsE = get('tls');
  if (tlsE) {
    const s = src.scalar(tlsE.value);
    if (s && typeof s.value === 'boolean') {
      if (s.value) spec.tls = { dir: path.join(ctx.baseDir, `.tls-${name}`) };
    } else {
      const t = src.map(tlsE.value, 'cluster.tls', tlsE.keyNode);
      src.checkKeys(t, ['dir'], 'cluster.tls');
      const dir = t.find((e) => e.key === 'dir');
      if (!dir) src.fail(tlsE.value, 'cluster.tls needs "dir" (or write tls: true)');
      spec.tls = { dir: resolvePath(src.string(dir.value, 'cluster.tls.dir', dir.keyNode), ctx.baseDir, ctx.home) };
    }
  }

  if (spec.bootstrap === 'dns' && spec.dns) {
    // The members' resolv.conf gets `nameserver <its address>`, and dnsmasq listens there.
    const server = ctx.hosts.get(spec.dns.server)!;
    if (net.isIP(server.address) === 0) {
      const message = `cluster.dns.server ${spec.dns.server} has address '${short(server.address)}'; the members' resolv.conf needs its IP`;
      if (server.addressNode) src.fail(server.addressNode, message);
      src.failAt(server.location, message);
    }
    // Each member is published as <name>.<domain>: its name must be one DNS label.
    for (const h of spec.members) {
      if (!DNS_LABEL_RE.test(h)) {
        src.failAt(
          ctx.hosts.get(h)!.location,
          `member name "${short(h)}" is not a DNS label, which bootstrap: dns needs (letters, digits and "-", at most 63)`,
        );
      }
    }
  }

  const backupE = get('backup');
  if (backupE) spec.backup = backup(ctx, backupE);

  const n = spec.members.length;
  if (n === 1) ctx.warnings.push('cluster has a single member: it tolerates no failure');
  else if (n % 2 === 0) ctx.warnings.push(`cluster has ${n} members: an even count tolerates no more failures than ${n - 1}`);
  if (spec.listen === 'any' && !spec.tls) {
    ctx.warnings.push('cluster.listen is any without tls: etcd answers anyone on every interface of the members, unauthenticated and unencrypted');
  }
  const locations = new Map<string, SourceLocation>([['', src.loc(keyNode)]]);
  for (const e of entries) locations.set(e.key, src.loc(e.value, e.keyNode));
  keyLocations.set(spec, locations);
  return spec;
}

function members(ctx: ClusterContext, e: MapEntry | undefined, clusterKey: Node): string[] {
  const src: YamlSource = ctx.src;
  if (!e) return src.fail(clusterKey, 'cluster.members is required (a group name or a list of host names)');
  const s = src.scalar(e.value);
  let names: string[];
  if (s && typeof s.value === 'string') {
    const group = ctx.groups.get(s.value);
    if (!group) src.fail(e.value, `cluster.members: no group named "${short(s.value)}"`, `groups: ${[...ctx.groups.keys()].join(', ')}`);
    names = group;
    if (names.length === 0) src.fail(e.value, `cluster.members: group "${s.value}" has no hosts`);
  } else {
    const items = src.seq(e.value, 'cluster.members (a group name or a list of host names)', e.keyNode);
    if (items.length === 0) src.fail(e.value, 'cluster.members is empty');
    const seen = new Set<string>();
    for (const item of items) {
      const h = src.string(item, 'each member', e.value);
      if (!ctx.hosts.has(h)) src.fail(item, `cluster.members: no host named "${short(h)}"`);
      if (seen.has(h)) src.fail(item, `cluster.members lists "${h}" twice`);
      seen.add(h);
    }
    // Inventory order, whatever order the list gives.
    names = [...ctx.hosts.keys()].filter((h) => seen.has(h));
  }
  const byAddress = new Map<string, string>();
  for (const h of names) {
    const host = ctx.hosts.get(h)!;
    const failHere = (message: string): never => (host.addressNode ? src.fail(host.addressNode, message) : src.failAt(host.location, message));
    if (net.isIP(host.address) === 0) {
      failHere(`member ${h} has address '${short(host.address)}'; etcd listens on IP addresses, give the IP`);
    }
    // etcd's URLs are http://<address>:<port>: a zone (fe80::1%eth0) cannot be written
    // there, and 0.0.0.0 or :: cannot be advertised to peers.
    if (host.address.includes('%')) failHere(`member ${h} has address '${short(host.address)}' with an IPv6 zone, which etcd URLs cannot carry`);
    if (UNSPECIFIED.has(canonicalIp(host.address))) {
      failHere(`member ${h} has address ${host.address}, which peers cannot reach; give the member's own IP`);
    }
    const key = canonicalIp(host.address);
    const other = byAddress.get(key);
    if (other) failHere(`members ${other} and ${h} have the same address ${host.address}; each member needs its own IP (the ports are cluster-wide)`);
    byAddress.set(key, h);
  }
  return names;
}

/** `retired`: a list of inventory hosts, none of them a member (the hosts stay reachable to stop them). */
function retired(ctx: ClusterContext, e: MapEntry, members: string[]): string[] {
  const src: YamlSource = ctx.src;
  const items = src.seq(e.value, 'cluster.retired (a list of host names)', e.keyNode);
  const seen = new Set<string>();
  for (const item of items) {
    const h = src.string(item, 'each retired host', e.value);
    if (!ctx.hosts.has(h))
      src.fail(
        item,
        `cluster.retired: no host named "${short(h)}"`,
        'a retired host stays in the inventory until it has been retired, so it can be reached to stop etcd',
      );
    if (members.includes(h)) src.fail(item, `cluster.retired: "${h}" is also one of cluster.members`, 'take it out of the members to retire it');
    if (seen.has(h)) src.fail(item, `cluster.retired lists "${h}" twice`);
    seen.add(h);
  }
  return [...ctx.hosts.keys()].filter((h) => seen.has(h));
}

function pkg(src: YamlSource, e: MapEntry | undefined): ClusterSpec['package'] {
  if (!e) return { name: 'etcd' };
  const entries = src.map(e.value, 'cluster.package', e.keyNode);
  src.checkKeys(entries, ['name', 'version'], 'cluster.package');
  const out: ClusterSpec['package'] = { name: 'etcd' };
  for (const x of entries) {
    if (x.key === 'name') {
      out.name = src.string(x.value, 'cluster.package.name', x.keyNode);
      if (!PACKAGE_RE.test(out.name)) src.fail(x.value, `cluster.package.name "${short(out.name)}" is not a package name`);
    } else {
      const v = src.stringish(x.value, 'cluster.package.version', x.keyNode);
      if (!VERSION_RE.test(v)) src.fail(x.value, `cluster.package.version "${short(v)}" is not a version`);
      out.version = v;
    }
  }
  return out;
}

function dns(ctx: ClusterContext, e: MapEntry): NonNullable<ClusterSpec['dns']> {
  const src: YamlSource = ctx.src;
  const entries = src.map(e.value, 'cluster.dns', e.keyNode);
  src.checkKeys(entries, ['domain', 'server', 'srv_name'], 'cluster.dns');
  const get = (k: string) => entries.find((x) => x.key === k);
  const domainE = get('domain');
  const serverE = get('server');
  if (!domainE) src.fail(e.value, 'cluster.dns.domain is required', undefined, e.keyNode);
  if (!serverE) src.fail(e.value, 'cluster.dns.server is required (the inventory host that serves the zone)', undefined, e.keyNode);
  const domain = src.string(domainE.value, 'cluster.dns.domain', domainE.keyNode);
  if (!DOMAIN_RE.test(domain)) src.fail(domainE.value, `cluster.dns.domain "${short(domain)}" is not a domain name`);
  const server = src.string(serverE.value, 'cluster.dns.server', serverE.keyNode);
  if (!ctx.hosts.has(server)) src.fail(serverE.value, `cluster.dns.server: no host named "${short(server)}"`);
  const out: NonNullable<ClusterSpec['dns']> = { domain: domain.replace(/\.$/, ''), server };
  const srvE = get('srv_name');
  if (srvE) {
    const v = src.string(srvE.value, 'cluster.dns.srv_name', srvE.keyNode);
    if (!/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(v)) src.fail(srvE.value, `cluster.dns.srv_name "${short(v)}" is not valid`);
    out.srvName = v;
  }
  return out;
}

function discovery(src: YamlSource, e: MapEntry): NonNullable<ClusterSpec['discovery']> {
  const entries = src.map(e.value, 'cluster.discovery', e.keyNode);
  src.checkKeys(entries, ['url', 'endpoint'], 'cluster.discovery');
  if (entries.length !== 1) {
    src.fail(entries[1]?.keyNode ?? e.value, 'cluster.discovery takes exactly one of "url" or "endpoint"', undefined, e.keyNode);
  }
  const x = entries[0]!;
  const v = src.string(x.value, `cluster.discovery.${x.key}`, x.keyNode);
  if (!URL_RE.test(v)) src.fail(x.value, `cluster.discovery.${x.key} "${short(v)}" is not an http(s) URL`);
  return x.key === 'url' ? { url: v } : { endpoint: v };
}

/** `backup: { keep: N, dir: PATH }`: where `provision backup` puts snapshots, and how many it keeps. */
function backup(ctx: ClusterContext, e: MapEntry): NonNullable<ClusterSpec['backup']> {
  const src: YamlSource = ctx.src;
  const entries = src.map(e.value, 'cluster.backup', e.keyNode);
  src.checkKeys(entries, ['keep', 'dir'], 'cluster.backup');
  const out: NonNullable<ClusterSpec['backup']> = {};
  for (const x of entries) {
    if (x.key === 'keep') out.keep = src.int(x.value, 'cluster.backup.keep', 1, 10000, x.keyNode);
    else {
      const v = src.string(x.value, 'cluster.backup.dir', x.keyNode);
      if (v.trim() === '' || v.includes('\0')) src.fail(x.value, 'cluster.backup.dir is not a usable directory');
      out.dir = resolvePath(v, ctx.baseDir, ctx.home);
    }
  }
  return out;
}
