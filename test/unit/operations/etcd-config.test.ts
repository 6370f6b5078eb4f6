import { describe, expect, it } from 'vitest';
import { file, sha256, type FileFact } from '../../../src/facts/file.js';
import { pathExists } from '../../../src/facts/path.js';
import { rpmPackage } from '../../../src/facts/rpm.js';
import { renderEtcdConf } from '../../../src/operations/etcd-conf.js';
import { etcdConfigOp } from '../../../src/operations/etcd-config.js';
import type { ClusterSpec } from '../../../src/inventory/types.js';
import type { Step } from '../../../src/plan/types.js';
import { CLUSTER, fact, planOf, type Fixture } from './helpers.js';

const CONF = '/etc/etcd/etcd.conf';
const STATIC_ETCD0 = `# Managed by provision; local changes are overwritten.
ETCD_NAME="etcd0"
ETCD_DATA_DIR="/var/lib/etcd/etcd0.etcd"
ETCD_LISTEN_PEER_URLS="http://10.88.0.10:2380"
ETCD_LISTEN_CLIENT_URLS="http://10.88.0.10:2379,http://127.0.0.1:2379"
ETCD_INITIAL_ADVERTISE_PEER_URLS="http://10.88.0.10:2380"
ETCD_ADVERTISE_CLIENT_URLS="http://10.88.0.10:2379"
ETCD_INITIAL_CLUSTER="etcd0=http://10.88.0.10:2380,etcd1=http://10.88.0.11:2380,etcd2=http://10.88.0.12:2380"
ETCD_INITIAL_CLUSTER_STATE="new"
ETCD_INITIAL_CLUSTER_TOKEN="lab-token"
`;
const EXISTING = STATIC_ETCD0.replace('STATE="new"', 'STATE="existing"');
const DNS_TLS_ETCD1 = `# Managed by provision; local changes are overwritten.
ETCD_NAME="etcd1"
ETCD_DATA_DIR="/var/lib/etcd/etcd1.etcd"
ETCD_LISTEN_PEER_URLS="https://0.0.0.0:2380"
ETCD_LISTEN_CLIENT_URLS="https://0.0.0.0:2379"
ETCD_INITIAL_ADVERTISE_PEER_URLS="https://etcd1.lab.internal:2380"
ETCD_ADVERTISE_CLIENT_URLS="https://etcd1.lab.internal:2379"
ETCD_DISCOVERY_SRV="lab.internal"
ETCD_DISCOVERY_SRV_NAME="blue"
ETCD_INITIAL_CLUSTER_STATE="new"
ETCD_INITIAL_CLUSTER_TOKEN="lab-token"
ETCD_CERT_FILE="/etc/etcd/pki/etcd1.crt"
ETCD_KEY_FILE="/etc/etcd/pki/etcd1.key"
ETCD_TRUSTED_CA_FILE="/etc/etcd/pki/ca.crt"
ETCD_CLIENT_CERT_AUTH="true"
ETCD_PEER_CERT_FILE="/etc/etcd/pki/etcd1.crt"
ETCD_PEER_KEY_FILE="/etc/etcd/pki/etcd1.key"
ETCD_PEER_TRUSTED_CA_FILE="/etc/etcd/pki/ca.crt"
ETCD_PEER_CLIENT_CERT_AUTH="true"
`;
const DISCOVERY_ETCD2 = `# Managed by provision; local changes are overwritten.
ETCD_NAME="etcd2"
ETCD_DATA_DIR="/srv/etcd/etcd2.etcd"
ETCD_LISTEN_PEER_URLS="http://10.88.0.12:2480"
ETCD_LISTEN_CLIENT_URLS="http://10.88.0.12:2479,http://127.0.0.1:2479"
ETCD_INITIAL_ADVERTISE_PEER_URLS="http://10.88.0.12:2480"
ETCD_ADVERTISE_CLIENT_URLS="http://10.88.0.12:2479"
ETCD_DISCOVERY="http://10.88.0.1:2379/v2/keys/discovery/lab-token"
ETCD_INITIAL_CLUSTER_STATE="existing"
ETCD_INITIAL_CLUSTER_TOKEN="lab-token"
`;
const CENTOS_STOCK = '#[Member]\n#ETCD_CORS=""\nETCD_DATA_DIR="/var/lib/etcd/default.etcd"\nETCD_NAME="default"\n';

const has = (content: string, mode = 0o644): FileFact => ({
  exists: true,
  type: 'file',
  mode,
  owner: 'root',
  group: 'root',
  size: content.length,
  sha256: sha256(content),
  content,
});
const fx = (conf: FileFact, data: boolean, host = 'etcd0', cluster: Partial<ClusterSpec> = {}): Fixture => ({
  host,
  cluster,
  facts: [fact(file, { path: CONF }, conf), fact(pathExists, { path: `${cluster.dataDir ?? '/var/lib/etcd'}/${host}.etcd/member` }, data)],
});
const write = (before: string | null, after: string, extra: Partial<Step> = {}): Step =>
  ({ kind: 'file', description: `write ${CONF}`, path: CONF, before, after, mode: 0o644, owner: 'root', group: 'root', ...extra }) as Step;

const cases: { name: string; fx: Fixture; steps: Step[] }[] = [
  { name: 'static, first run', fx: fx({ exists: false }, false), steps: [write(null, STATIC_ETCD0)] },
  { name: 'static, unchanged', fx: fx(has(STATIC_ETCD0), false), steps: [] },
  { name: 'replaces the CentOS stock file (handlers fire)', fx: fx(has(CENTOS_STOCK), false), steps: [write(CENTOS_STOCK, STATIC_ETCD0)] },
  {
    name: 'data dir exists: state new -> existing needs no restart',
    fx: fx(has(STATIC_ETCD0), true),
    steps: [write(STATIC_ETCD0, EXISTING, { noNotify: true })],
  },
  { name: 'existing and data dir: unchanged', fx: fx(has(EXISTING), true), steps: [] },
  {
    name: 'state and something else changed: handlers fire',
    fx: fx(has(STATIC_ETCD0.replace('lab-token', 'old')), true),
    steps: [write(STATIC_ETCD0.replace('lab-token', 'old'), EXISTING)],
  },
  {
    name: 'only the mode is wrong',
    fx: fx(has(STATIC_ETCD0, 0o600), false),
    steps: [
      {
        kind: 'command',
        description: `set 0644 root:root on ${CONF}`,
        command: `chmod 0644 -- ${CONF}`,
        effects: [{ kind: 'path', path: CONF, state: 'present', mode: 0o644, owner: 'root', group: 'root' }],
      },
    ],
  },
  {
    name: 'dns + tls, listen any',
    fx: fx({ exists: false }, false, 'etcd1', {
      bootstrap: 'dns',
      listen: 'any',
      dns: { domain: 'lab.internal', server: 'etcd0', srvName: 'blue' },
      tls: { dir: '/etc/etcd/pki/' },
    }),
    steps: [write(null, DNS_TLS_ETCD1)],
  },
  {
    name: 'discovery via an etcd endpoint, own ports and data dir',
    fx: fx({ exists: false }, true, 'etcd2', {
      bootstrap: 'discovery',
      discovery: { endpoint: 'http://10.88.0.1:2379/' },
      clientPort: 2479,
      peerPort: 2480,
      dataDir: '/srv/etcd',
    }),
    steps: [write(null, DISCOVERY_ETCD2)],
  },
];

describe('etcd_config', () => {
  it.each(cases)('$name', async (c) => {
    expect((await planOf(etcdConfigOp, {}, c.fx)).plan.steps).toEqual(c.steps);
  });

  it.each<[string, Fixture, RegExp]>([
    ['no cluster', { cluster: null }, /defines no etcd cluster/],
    ['not a member', { host: 'web' }, /web is not a member/],
    ['quote in the token', fx({ exists: false }, false, 'etcd0', { token: 'a"b' }), /ETCD_INITIAL_CLUSTER_TOKEN: value "a\\"b" has a quote/],
    ['$ in the data dir', fx({ exists: false }, false, 'etcd0', { dataDir: '/var/$HOME' }), /has a quote, backslash, \$/],
    ['dns without domain', fx({ exists: false }, false, 'etcd0', { bootstrap: 'dns' }), /needs dns.domain/],
    ['discovery without url', fx({ exists: false }, false, 'etcd0', { bootstrap: 'discovery' }), /needs discovery.url or discovery.endpoint/],
  ])('rejects %s', async (_n, f, err) => {
    await expect(planOf(etcdConfigOp, {}, f)).rejects.toThrow(err);
  });
});

describe('renderEtcdConf', () => {
  it('refuses a host name where etcd must listen on an IP', () => {
    expect(() => renderEtcdConf({ ...CLUSTER, members: ['x'] }, [{ name: 'x', address: 'x.lab' }], 'x', 'new')).toThrow(/x.lab is not an IP address/);
  });
  it('brackets IPv6 addresses', () => {
    const conf = renderEtcdConf({ ...CLUSTER, members: ['x'] }, [{ name: 'x', address: 'fd00::1' }], 'x', 'new');
    expect(conf).toContain('ETCD_LISTEN_CLIENT_URLS="http://[fd00::1]:2379,http://127.0.0.1:2379"');
    expect(conf).toContain('ETCD_INITIAL_CLUSTER="x=http://[fd00::1]:2380"');
  });
});

describe('etcd_config: DNS SRV without TLS and no pinned version, decided by the etcd installed on the member', () => {
  const PLAIN_DNS: Partial<ClusterSpec> = { bootstrap: 'dns', dns: { domain: 'lab.internal', server: 'web' }, tls: undefined };
  const base = (versions: string[]): Fixture => ({
    host: 'etcd1',
    cluster: PLAIN_DNS,
    facts: [
      fact(rpmPackage, { name: 'etcd' }, { installed: versions.length > 0, versions }),
      fact(pathExists, { path: '/var/lib/etcd/etcd1.etcd/member' }, false),
      fact(file, { path: CONF }, { exists: false }),
    ],
  });
  it('etcd 3.5.16 installed: plans etcd.conf with the plain-http SRV discovery', async () => {
    const { plan } = await planOf(etcdConfigOp, {}, base(['3.5.16-1.lab']));
    const content = (plan.steps.find((s) => s.kind === 'file') as { after?: string } | undefined)?.after;
    expect(content).toContain('ETCD_DISCOVERY_SRV="lab.internal"\n');
    expect(content).toContain('ETCD_INITIAL_ADVERTISE_PEER_URLS="http://etcd1.lab.internal:2380"\n');
  });
  it('etcd 3.4.23 installed: refused with the reason', async () => {
    await expect(planOf(etcdConfigOp, {}, base(['3.4.23-1.lab']))).rejects.toThrow(
      /etcd-io\/etcd#11321\); etcd 3\.4\.23-1\.lab is installed here\. Pin etcd 3\.5 or later/,
    );
  });
});
