import { isIP } from 'node:net';
import { pollUntil } from '../util/poll.js';
import { ProvisionError } from '../errors.js';
import { dnsSrv, type SrvAnswer } from '../facts/dns.js';
import { probeFact } from '../facts/run.js';
import type { ClusterSpec, Inventory } from '../inventory/types.js';
import { atLeast35 } from '../inventory/etcd-settings.js';
import { clusterMembers, HEADER, type Member } from './etcd-conf.js';
import { planFile } from './file-plan.js';
import { defineOperation, type ArgSpec, type OperationContext, type VerifyResult } from './types.js';
import { argError, withDefaults } from './util.js';

const ISSUE_11321 =
  'DNS SRV discovery without TLS fails at start with etcd 3.4: etcd looks up _etcd-server-ssl._tcp first and gives up when it is absent (etcd-io/etcd#11321)';

/**
 * Refuses a configuration known not to work, before anything connects: the text of the
 * error, or undefined when the cluster may use DNS discovery (or does not). DNS SRV without TLS
 * works from etcd 3.5: allowed with a pinned 3.5 or later; without a pin the members' installed
 * etcd decides (dnsSrvVersionProblem, when etcd.conf is planned).
 */
export function precheckDnsBootstrap(cluster: ClusterSpec): string | undefined {
  if (cluster.bootstrap !== 'dns' || cluster.tls) return undefined;
  const v = cluster.package.version;
  if (v === undefined || atLeast35(v)) return undefined;
  return `${ISSUE_11321}, and cluster.package.version is ${v}. Pin etcd 3.5 or later (package: { version: "3.5.16" }), use \`tls: true\`, or bootstrap: static.`;
}

/**
 * For a DNS SRV cluster without TLS and without a pinned version: the problem with the etcd
 * installed on a member (versions as rpm gives them, VERSION-RELEASE), or undefined when it
 * is 3.5 or later. `undefined` versions: not knowable yet (--check before the install).
 */
export function dnsSrvVersionProblem(cluster: ClusterSpec, installed: string[] | undefined): string | undefined {
  if (cluster.bootstrap !== 'dns' || cluster.tls || cluster.package.version !== undefined || installed === undefined) return undefined;
  if (installed.length && installed.every(atLeast35)) return undefined;
  const what = installed.length
    ? `etcd ${installed.join(', ')} is installed here`
    : `${cluster.package.name} is not installed here, and which etcd yum would install is not known`;
  return `${ISSUE_11321}; ${what}. Pin etcd 3.5 or later (package: { version: "3.5.16" }), use \`tls: true\`, or bootstrap: static.`;
}

/** The SRV names etcd looks up (ETCD_DISCOVERY_SRV, ETCD_DISCOVERY_SRV_NAME): `_etcd-server-ssl-<srvName>._tcp.<domain>`. */
export function srvNames(cluster: ClusterSpec): { server: string; client: string } {
  const dns = dnsOf(cluster, 'dnsmasq_srv');
  const suffix = `${cluster.tls ? '-ssl' : ''}${dns.srvName ? `-${dns.srvName}` : ''}._tcp.${dns.domain}`;
  return { server: `_etcd-server${suffix}`, client: `_etcd-client${suffix}` };
}

export const memberFqdn = (cluster: ClusterSpec, name: string): string => `${name}.${dnsOf(cluster, 'dnsmasq_srv').domain}`;

// A host name becomes a DNS label and a dnsmasq option value: no commas, spaces or dots.
const LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** The dnsmasq configuration serving the cluster's records, answering on `listen` only. */
export function renderDnsmasqConf(cluster: ClusterSpec, members: Member[], listen: string): string {
  const { domain } = dnsOf(cluster, 'dnsmasq_srv');
  const names = srvNames(cluster);
  for (const m of members) {
    if (!LABEL.test(m.name))
      throw new ProvisionError('INVENTORY', `dnsmasq_srv: member name ${JSON.stringify(m.name)} is not a DNS label (letters, digits, -)`);
    if (!isIP(m.address)) throw new ProvisionError('INVENTORY', `dnsmasq_srv: member ${m.name} has address ${m.address}, not an IP address`);
  }
  return [
    HEADER,
    `# DNS SRV records of etcd cluster ${cluster.name} (domain ${domain}).`,
    `listen-address=${listen}`,
    'bind-interfaces',
    '# Answer from this file only: forward nothing, and NXDOMAIN (not REFUSED) for other names in the domain.',
    'no-resolv',
    `local=/${domain}/`,
    ...members.map((m) => `host-record=${memberFqdn(cluster, m.name)},${m.address}`),
    ...members.map((m) => `srv-host=${names.server},${memberFqdn(cluster, m.name)},${cluster.peerPort},0,100`),
    ...members.map((m) => `srv-host=${names.client},${memberFqdn(cluster, m.name)},${cluster.clientPort},0,100`),
    '',
  ].join('\n');
}

function dnsOf(cluster: ClusterSpec, op: string): NonNullable<ClusterSpec['dns']> {
  if (!cluster.dns) throw new ProvisionError('INVENTORY', `${op}: cluster ${cluster.name} has no dns section (domain, server)`);
  return cluster.dns;
}

function clusterOrFail(ctx: OperationContext, op: string): ClusterSpec {
  const c = ctx.cluster ?? ctx.inventory.cluster;
  if (!c) throw new ProvisionError('PLAYBOOK', `${op}: the inventory defines no etcd cluster`);
  return c;
}

const serverAddress = (inv: Inventory, cluster: ClusterSpec, op: string): string => {
  const name = dnsOf(cluster, op).server;
  const h = inv.hosts.get(name);
  if (!h) throw new ProvisionError('INVENTORY', `${op}: cluster.dns.server ${name} is not a host of the inventory`);
  return h.connection.address;
};

export interface DnsmasqSrvArgs {
  path?: string;
}

const srvArgs: Record<string, ArgSpec> = {
  path: { type: 'string', description: 'default /etc/dnsmasq.d/etcd-<cluster name>.conf' },
};

export const dnsmasqSrvOp = defineOperation<DnsmasqSrvArgs>({
  name: 'dnsmasq_srv',
  description: "Write the dnsmasq configuration serving the etcd cluster's SRV and A records",
  args: srvArgs,
  async plan(ctx, a) {
    const cluster = clusterOrFail(ctx, 'dnsmasq_srv');
    const dns = dnsOf(cluster, 'dnsmasq_srv');
    if (ctx.host.name !== dns.server)
      throw new ProvisionError('PLAYBOOK', `dnsmasq_srv: host ${ctx.host.name} is not the cluster's DNS server (${dns.server})`, {
        hint: `run this task on ${dns.server} only`,
      });
    const listen = ctx.host.connection.address;
    if (!isIP(listen)) throw new ProvisionError('INVENTORY', `dnsmasq_srv: ${ctx.host.name} has address ${listen}; dnsmasq listens on an IP address`);
    if (cluster.bootstrap !== 'dns') ctx.note(`cluster ${cluster.name} uses bootstrap: ${cluster.bootstrap}; etcd will not read these records`);
    const precheck = precheckDnsBootstrap(cluster);
    if (precheck) ctx.note(precheck);
    const path = a.path ?? `/etc/dnsmasq.d/etcd-${cluster.name}.conf`;
    if (!path.startsWith('/')) throw argError('dnsmasq_srv', `path must be absolute: ${JSON.stringify(path)}`);
    const content = renderDnsmasqConf(cluster, clusterMembers(ctx.inventory, cluster), listen);
    return { steps: await planFile(ctx, { path, content, mode: 0o644, owner: 'root', group: 'root' }) };
  },
});

export interface DnsCheckArgs {
  /** SRV name; default the cluster's `_etcd-server(-ssl)._tcp.<domain>`. */
  name?: string;
  /** IP of the DNS server; default the address of cluster.dns.server. */
  server?: string;
  /** Targets (`host` or `host:port`) that must be answered; default every member's FQDN:peer port. */
  expect?: string[];
  timeout?: number;
  interval_ms?: number;
}

const checkArgs: Record<string, ArgSpec> = {
  name: { type: 'string', description: 'SRV name (default: the cluster server record)' },
  server: { type: 'string', description: 'DNS server IP (default: cluster.dns.server)' },
  expect: { type: 'string[]', description: 'targets host or host:port (default: every member)' },
  timeout: { type: 'number', default: 10, description: 'seconds to keep asking' },
  interval_ms: { type: 'number', default: 500 },
};

/** Missing expected targets of an answer (`host` or `host:port`, case and final dot ignored). */
export function missingTargets(answer: SrvAnswer, expect: readonly string[]): string[] {
  const got = answer.ok ? answer.records : [];
  return expect.filter((e) => {
    const m = /^(.*?)(?::(\d+))?$/.exec(
      e
        .trim()
        .toLowerCase()
        .replace(/\.(?=:|$)/, ''),
    )!;
    return !got.some((r) => r.target === m[1] && (m[2] === undefined || r.port === Number(m[2])));
  });
}

export const dnsCheckOp = defineOperation<DnsCheckArgs>({
  name: 'dns_check',
  description: 'Wait until a DNS server answers an SRV name with every expected target (dig on the host)',
  args: checkArgs,
  async plan(ctx, raw) {
    const a = withDefaults(checkArgs, raw);
    const cluster = ctx.cluster ?? ctx.inventory.cluster;
    const needCluster = (what: string) => {
      if (!cluster?.dns) throw argError('dns_check', `give ${what}, or define cluster.dns in the inventory`);
      return cluster;
    };
    const name = a.name ?? srvNames(needCluster('name')).server;
    const server = a.server ?? serverAddress(ctx.inventory, needCluster('server'), 'dns_check');
    const expect = a.expect ?? clusterMembers(ctx.inventory, needCluster('expect')).map((m) => `${memberFqdn(cluster!, m.name)}:${cluster!.peerPort}`);
    if (!isIP(server)) throw argError('dns_check', `server must be an IP address, got ${JSON.stringify(server)}`);
    if (!Array.isArray(expect) || expect.length === 0 || !expect.every((e) => typeof e === 'string'))
      throw argError('dns_check', 'expect must be a non-empty list of targets');
    const timeoutMs = ctx.check ? 0 : a.timeout! * 1000;
    return {
      steps: [],
      verify: async (conn): Promise<VerifyResult> => {
        const read = async () => {
          const answer = await probeFact(conn, dnsSrv, { name, server });
          return { answer, missing: missingTargets(answer, expect) };
        };
        const { value, done } = await pollUntil(read, (r) => r.answer.ok && r.missing.length === 0, { timeoutMs, intervalMs: a.interval_ms! });
        const { answer, missing } = value;
        if (done) return { ok: true, message: `${server} answers SRV ${name} with ${expect.join(', ')}`, data: answer.ok ? answer.records : undefined };
        return { ok: false, message: failure(name, server, answer, missing), data: answer.ok ? answer.records : undefined };
      },
    };
  },
});

function failure(name: string, server: string, answer: SrvAnswer, missing: string[]): string {
  const head = `SRV ${name} @${server}`;
  if (!answer.ok) return `${head}: ${answer.error}`;
  const got = answer.records.map((r) => `${r.target}:${r.port}`).join(', ') || 'no records';
  const refused = answer.status === 'REFUSED' ? ' (the server refuses the name: a dnsmasq without local=/<domain>/ does this)' : '';
  return `${head}: ${answer.status}${refused}, ${got}; missing ${missing.join(', ')}`;
}
