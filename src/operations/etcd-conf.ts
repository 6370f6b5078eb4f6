import { isIP } from 'node:net';
import { ProvisionError } from '../errors.js';
import type { ClusterSpec, Inventory } from '../inventory/types.js';

export const ETCD_CONF = '/etc/etcd/etcd.conf';
export const HEADER = '# Managed by provision; local changes are overwritten.';

export interface Member {
  name: string;
  address: string;
}
export interface MemberUrls {
  /** Advertised peer URL (ETCD_INITIAL_ADVERTISE_PEER_URLS). */
  peer: string;
  /** The first advertised client URL (cluster.client_port): where provision itself asks. */
  client: string;
  /** Every advertised client URL (ETCD_ADVERTISE_CLIENT_URLS): client_port, then extra_client_ports. */
  clients: string[];
  listenPeer: string;
  listenClient: string[];
}

/** Members in inventory order, each with its address from the inventory. */
export function clusterMembers(inventory: Inventory, cluster: ClusterSpec): Member[] {
  return cluster.members.map((name) => {
    const h = inventory.hosts.get(name);
    if (!h) throw new ProvisionError('INVENTORY', `cluster ${cluster.name}: member ${name} is not a host`);
    return { name, address: h.connection.address };
  });
}

export const memberDataDir = (cluster: ClusterSpec, name: string): string => `${cluster.dataDir.replace(/\/+$/, '')}/${name}.etcd`;

/** Exists once the member holds raft state: the member has data (it is, or was, in a cluster). */
export const memberDataMarker = (cluster: ClusterSpec, name: string): string => `${memberDataDir(cluster, name)}/member`;

/** The unit every member runs (the stock etcd.service with provision's drop-in). */
export const ETCD_UNIT = 'etcd.service';

/** Where the certificates live on every member (copied there by the etcd_tls task). */
export const ETCD_PKI_DIR = '/etc/etcd/pki';

/**
 * A member's certificate files on the node: the CA, its own certificate and key (server and
 * peer), and the client certificate etcdctl uses to verify the cluster.
 */
export function etcdTlsPaths(cluster: ClusterSpec, name: string): { ca: string; cert: string; key: string; clientCert: string; clientKey: string } | undefined {
  if (!cluster.tls) return undefined;
  const d = ETCD_PKI_DIR;
  return { ca: `${d}/ca.crt`, cert: `${d}/${name}.crt`, key: `${d}/${name}.key`, clientCert: `${d}/client.crt`, clientKey: `${d}/client.key` };
}

/** The client certificate etcdctl uses on a member (undefined without TLS). */
export function etcdctlTls(cluster: ClusterSpec, name: string): { cacert: string; cert: string; key: string } | undefined {
  const t = etcdTlsPaths(cluster, name);
  return t && { cacert: t.ca, cert: t.clientCert, key: t.clientKey };
}

const hostPart = (a: string): string => (isIP(a) === 6 ? `[${a}]` : a);

export function memberUrls(cluster: ClusterSpec, m: Member): MemberUrls {
  const s = cluster.tls ? 'https' : 'http';
  // Since etcd 3.2 listen URLs must be IP addresses; advertised ones may be names (DNS mode).
  if (cluster.listen !== 'any' && !isIP(m.address))
    throw new ProvisionError('INVENTORY', `etcd member ${m.name}: address ${m.address} is not an IP address`, {
      hint: 'etcd listens on IP addresses only; give the host an IP address or set the cluster to listen: any',
    });
  const adv = hostPart(cluster.bootstrap === 'dns' ? `${m.name}.${dnsOf(cluster).domain}` : m.address);
  const ip = cluster.listen === 'any' ? '0.0.0.0' : hostPart(m.address);
  const local = `${s}://127.0.0.1:${cluster.clientPort}`;
  const ports = [cluster.clientPort, ...(cluster.extraClientPorts ?? [])];
  const listenClient = ports.map((p) => `${s}://${ip}:${p}`);
  if (cluster.listen !== 'any' && m.address !== '127.0.0.1') listenClient.push(local);
  const clients = ports.map((p) => `${s}://${adv}:${p}`);
  return {
    peer: `${s}://${adv}:${cluster.peerPort}`,
    client: clients[0]!,
    clients,
    listenPeer: `${s}://${ip}:${cluster.peerPort}`,
    listenClient,
  };
}

const dnsOf = (c: ClusterSpec) => {
  if (!c.dns) throw new ProvisionError('INVENTORY', `cluster ${c.name}: bootstrap dns needs dns.domain`);
  return c.dns;
};

export function discoveryUrl(c: ClusterSpec): string {
  if (c.discovery?.url) return c.discovery.url;
  if (c.discovery?.endpoint) return `${c.discovery.endpoint.replace(/\/+$/, '')}/v2/keys/discovery/${c.token}`;
  throw new ProvisionError('INVENTORY', `cluster ${c.name}: bootstrap discovery needs discovery.url or discovery.endpoint`);
}

/**
 * The whole etcd.conf of member `self` (systemd EnvironmentFile syntax, values double-quoted).
 * `initialCluster`: a member that joins a live cluster (member add) starts from this
 * ETCD_INITIAL_CLUSTER in every mode (a discovery token or the SRV records are for the first
 * bootstrap only); a member with data keeps the one it started with (etcd reads it no more).
 */
export function renderEtcdConf(
  cluster: ClusterSpec,
  members: Member[],
  self: string,
  state: 'new' | 'existing',
  discovery?: string,
  initialCluster?: string,
): string {
  const me = members.find((m) => m.name === self);
  if (!me) throw new ProvisionError('INVENTORY', `host ${self} is not a member of etcd cluster ${cluster.name}`);
  const u = memberUrls(cluster, me);
  const tls = etcdTlsPaths(cluster, self);
  const kv: [string, string][] = [
    ['ETCD_NAME', self],
    ['ETCD_DATA_DIR', memberDataDir(cluster, self)],
    ['ETCD_LISTEN_PEER_URLS', u.listenPeer],
    ['ETCD_LISTEN_CLIENT_URLS', u.listenClient.join(',')],
    ['ETCD_INITIAL_ADVERTISE_PEER_URLS', u.peer],
    ['ETCD_ADVERTISE_CLIENT_URLS', u.clients.join(',')],
  ];
  if (initialCluster !== undefined) kv.push(['ETCD_INITIAL_CLUSTER', initialCluster]);
  else if (cluster.bootstrap === 'static') kv.push(['ETCD_INITIAL_CLUSTER', members.map((m) => `${m.name}=${memberUrls(cluster, m).peer}`).join(',')]);
  if (initialCluster !== undefined) {
    // joined by member add: no discovery
  } else if (cluster.bootstrap === 'dns') {
    kv.push(['ETCD_DISCOVERY_SRV', dnsOf(cluster).domain]);
    if (cluster.dns?.srvName) kv.push(['ETCD_DISCOVERY_SRV_NAME', cluster.dns.srvName]);
  }
  if (initialCluster === undefined && cluster.bootstrap === 'discovery') kv.push(['ETCD_DISCOVERY', discovery ?? discoveryUrl(cluster)]);
  kv.push(['ETCD_INITIAL_CLUSTER_STATE', state], ['ETCD_INITIAL_CLUSTER_TOKEN', cluster.token]);
  if (tls) {
    for (const p of ['', 'PEER_'])
      kv.push([`ETCD_${p}CERT_FILE`, tls.cert], [`ETCD_${p}KEY_FILE`, tls.key], [`ETCD_${p}TRUSTED_CA_FILE`, tls.ca], [`ETCD_${p}CLIENT_CERT_AUTH`, 'true']);
  }
  // The inventory's own etcd settings (checked at load time), cluster-wide then this host's.
  const own = { ...cluster.settings, ...cluster.hostSettings?.[self] };
  const names = Object.keys(own);
  if (names.length) kv.push(...names.map((k): [string, string] => [own[k]!.env, own[k]!.value]));
  return [HEADER, ...kv.map(([k, v]) => `${k}="${checkValue(k, v)}"`), ''].join('\n');
}

// EnvironmentFile= double quotes take backslash escapes, and the stock unit's bash -c
// would expand $ and backticks: such values are refused rather than escaped.
function checkValue(key: string, v: string): string {
  if (/["\\$`\n\r]/.test(v))
    throw new ProvisionError('INVENTORY', `etcd.conf ${key}: value ${JSON.stringify(v)} has a quote, backslash, $, backtick or newline`);
  return v;
}

/**
 * The ETCD_INITIAL_CLUSTER an etcd.conf sets, when it names `self` at `peer` (the member
 * started from it); undefined otherwise.
 */
export function initialClusterOf(conf: string | undefined, self: string, peer: string): string | undefined {
  const v = /^ETCD_INITIAL_CLUSTER="([^"]*)"$/m.exec(conf ?? '')?.[1];
  return v !== undefined && v.split(',').includes(`${self}=${peer}`) ? v : undefined;
}

const STATE_LINE = /^ETCD_INITIAL_CLUSTER_STATE="(new|existing)"$/m;

/** The cluster state an etcd.conf sets, if any. */
export const clusterStateOf = (conf: string): string | undefined => STATE_LINE.exec(conf)?.[1];

export const withClusterState = (conf: string, state: 'new' | 'existing'): string => conf.replace(STATE_LINE, `ETCD_INITIAL_CLUSTER_STATE="${state}"`);
