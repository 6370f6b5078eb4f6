import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isProvisionError, type ProvisionError } from '../../src/errors.js';
import { parseInventory, type InventoryOptions } from '../../src/inventory/index.js';
import { ETCD_SETTINGS, MANAGED } from '../../src/inventory/etcd-settings.js';
import { clusterMembers, renderEtcdConf } from '../../src/operations/etcd-conf.js';

const HOME = fs.mkdtempSync(path.join(os.tmpdir(), 'settings-home-'));
const OPTS: InventoryOptions = { home: HOME, user: 'alice', sshConfigFile: path.join(HOME, 'none') };
const FILE = '/inv/settings.yaml';

/** Three members; `host0` is extra YAML on etcd0's entry, `cluster` extra lines of the cluster section. */
const inv = (cluster: string, host0 = '', version?: string): string =>
  [
    'all:',
    '  children:',
    '    etcd:',
    '      hosts:',
    `        etcd0:${host0 ? '' : ' { address: 10.0.0.1 }'}`,
    ...(host0 ? ['          address: 10.0.0.1', ...host0.split('\n').map((l) => `          ${l}`)] : []),
    '        etcd1: { address: 10.0.0.2 }',
    '        etcd2: { address: 10.0.0.3 }',
    'cluster:',
    '  name: c',
    '  members: etcd',
    ...(version ? [`  package: { name: etcd, version: "${version}" }`] : []),
    ...cluster.split('\n').map((l) => `  ${l}`),
    '',
  ].join('\n');

function errorOf(text: string): ProvisionError {
  try {
    parseInventory(text, FILE, OPTS);
  } catch (e) {
    if (isProvisionError(e)) return e;
    throw e;
  }
  throw new Error('expected a ProvisionError');
}
const where = (e: ProvisionError) => `${e.location?.file}:${e.location?.line}:${e.location?.col}`;

const confOf = (text: string, host: string): string => {
  const i = parseInventory(text, FILE, OPTS);
  return renderEtcdConf(i.cluster!, clusterMembers(i, i.cluster!), host, 'new');
};

describe('etcd settings: cluster-wide and per host', () => {
  it('writes the cluster-wide settings to every member, by their ETCD_* names', () => {
    const text = inv(
      'etcd_settings:\n  heartbeat-interval: 200\n  election-timeout: 2000\n  ETCD_QUOTA_BACKEND_BYTES: 8589934592\n  auto_compaction_retention: 1h\n  listen-metrics-urls: [http://127.0.0.1:2381]',
    );
    for (const h of ['etcd0', 'etcd2']) {
      const conf = confOf(text, h);
      expect(conf).toContain('ETCD_HEARTBEAT_INTERVAL="200"\n');
      expect(conf).toContain('ETCD_ELECTION_TIMEOUT="2000"\n');
      expect(conf).toContain('ETCD_QUOTA_BACKEND_BYTES="8589934592"\n');
      expect(conf).toContain('ETCD_AUTO_COMPACTION_RETENTION="1h"\n');
      expect(conf).toContain('ETCD_LISTEN_METRICS_URLS="http://127.0.0.1:2381"\n');
    }
  });

  it("a host's etcd_settings override the cluster's key by key, on that host only", () => {
    const text = inv('etcd_settings: { snapshot-count: 5000, heartbeat-interval: 150 }', 'etcd_settings:\n  snapshot-count: 20000\n  log-level: debug');
    const c0 = confOf(text, 'etcd0');
    expect(c0).toContain('ETCD_SNAPSHOT_COUNT="20000"\n');
    expect(c0).toContain('ETCD_HEARTBEAT_INTERVAL="150"\n');
    expect(c0).toContain('ETCD_LOG_LEVEL="debug"\n');
    const c1 = confOf(text, 'etcd1');
    expect(c1).toContain('ETCD_SNAPSHOT_COUNT="5000"\n');
    expect(c1).not.toContain('ETCD_LOG_LEVEL');
  });

  it('group vars give settings to the group, and a host still wins', () => {
    const text = [
      'all:',
      '  children:',
      '    etcd:',
      '      vars: { etcd_settings: { max-txn-ops: 256, pre-vote: true } }',
      '      hosts:',
      '        etcd0: { address: 10.0.0.1, etcd_settings: { max-txn-ops: 512 } }',
      '        etcd1: { address: 10.0.0.2 }',
      '        etcd2: { address: 10.0.0.3 }',
      'cluster: { name: c, members: etcd }',
      '',
    ].join('\n');
    expect(confOf(text, 'etcd0')).toMatch(/ETCD_MAX_TXN_OPS="512"\nETCD_PRE_VOTE="true"\n|ETCD_PRE_VOTE="true"\nETCD_MAX_TXN_OPS="512"\n/);
    expect(confOf(text, 'etcd1')).toContain('ETCD_MAX_TXN_OPS="256"\n');
  });

  it('without settings, etcd.conf is as before (nothing added)', () => {
    const conf = confOf(inv('bootstrap: static'), 'etcd0');
    const names = conf
      .split('\n')
      .filter((l) => l.startsWith('ETCD_'))
      .map((l) => l.split('=')[0]);
    expect(names).toEqual([
      'ETCD_NAME',
      'ETCD_DATA_DIR',
      'ETCD_LISTEN_PEER_URLS',
      'ETCD_LISTEN_CLIENT_URLS',
      'ETCD_INITIAL_ADVERTISE_PEER_URLS',
      'ETCD_ADVERTISE_CLIENT_URLS',
      'ETCD_INITIAL_CLUSTER',
      'ETCD_INITIAL_CLUSTER_STATE',
      'ETCD_INITIAL_CLUSTER_TOKEN',
    ]);
  });
});

describe('etcd settings: bad names and values are errors at load time with file:line:col', () => {
  it('an unknown name, with the closest one', () => {
    const e = errorOf(inv('etcd_settings:\n  heartbeat-intervall: 200'));
    expect(e.message).toBe('unknown etcd setting "heartbeat-intervall" in cluster.etcd_settings; did you mean "heartbeat-interval"?');
    expect(where(e)).toBe(`${FILE}:12:5`);
  });

  it('an unknown ETCD_* name on a host', () => {
    const e = errorOf(inv('bootstrap: static', 'etcd_settings:\n  ETCD_NO_SUCH_THING: 1'));
    expect(e.message).toMatch(/^unknown etcd setting "ETCD_NO_SUCH_THING" in etcd_settings of host "etcd0"$/);
    expect(where(e)).toBe(`${FILE}:8:13`);
  });

  it.each([
    ['name', "provision sets it to the host's name"],
    ['data-dir', /cluster\.data_dir/],
    ['ETCD_LISTEN_CLIENT_URLS', /extra_client_ports/],
    ['advertise-client-urls', /extra_client_ports/],
    ['initial-cluster', /static mode/],
    ['initial-cluster-state', /never bootstrapped again/],
    ['initial_cluster_token', /cluster\.token/],
    ['discovery-srv', /cluster\.dns\.domain/],
    ['cert-file', /cluster\.tls/],
    ['peer-client-cert-auth', /cluster\.tls/],
    ['force-new-cluster', /membership/],
  ] as [string, string | RegExp][])('the managed setting %s is refused with the reason', (name, why) => {
    const e = errorOf(inv(`etcd_settings:\n  ${name}: x`));
    expect(e.message).toMatch(new RegExp(`^etcd setting "${name}" in cluster.etcd_settings is managed by provision: `));
    expect(e.message).toMatch(why);
    expect(where(e)).toBe(`${FILE}:12:5`);
  });

  it.each([
    ['heartbeat-interval: fast', 'must be a whole number (0 or more), not "fast"'],
    ['heartbeat-interval: -5', 'must be a whole number'],
    ['pre-vote: maybe', 'must be true or false'],
    ['auto-compaction-mode: hourly', 'must be one of periodic, revision'],
    ['grpc-keepalive-timeout: 20 seconds', 'must be a duration'],
    ['listen-metrics-urls: 127.0.0.1:2381', 'must be URLs'],
    ['log-outputs: "$(reboot)"', 'has a quote, backslash, $, backtick or line break'],
    ['cors: { a: 1 }', 'must be a single value'],
  ])('a value of the wrong type: %s', (line, message) => {
    const e = errorOf(inv(`etcd_settings:\n  ${line}`));
    expect(e.message).toContain(message);
    expect(e.location?.line).toBe(12);
  });

  it('the same setting twice under two spellings', () => {
    const e = errorOf(inv('etcd_settings:\n  snapshot-count: 1\n  ETCD_SNAPSHOT_COUNT: 2'));
    expect(e.message).toMatch(/"snapshot-count" is given twice/);
    expect(e.location?.line).toBe(13);
  });

  it('election-timeout below 5 heartbeats (etcd would refuse to start), found in the merged settings of a host', () => {
    const e = errorOf(inv('etcd_settings: { election-timeout: 1000 }', 'etcd_settings: { heartbeat-interval: 300 }'));
    expect(e.message).toBe(
      "etcd's election-timeout (1000 ms) must be at least 5 times its heartbeat-interval (300 ms), or etcd refuses to start (member etcd0)",
    );
    expect(where(e)).toBe(`${FILE}:13:38`);
  });

  it('a 3.5-only setting with a pinned 3.4, and a setting 3.5 dropped with a pinned 3.5', () => {
    const e = errorOf(inv('etcd_settings: { socket-reuse-port: true }', '', '3.4.23'));
    expect(e.message).toMatch(/"socket-reuse-port" needs etcd 3\.5 or later; cluster\.package\.version is 3\.4\.23/);
    expect(where(e)).toBe(`${FILE}:12:39`);
    expect(() => parseInventory(inv('etcd_settings: { socket-reuse-port: true }', '', '3.5.16'), FILE, OPTS)).not.toThrow();
    expect(errorOf(inv('etcd_settings: { debug: true }', '', '3.5.16')).message).toMatch(/"debug" was removed in etcd 3\.5/);
  });

  it('the table knows the usual settings, and no name is both known and managed', () => {
    for (const k of [
      'heartbeat-interval',
      'election-timeout',
      'quota-backend-bytes',
      'auto-compaction-retention',
      'auto-compaction-mode',
      'snapshot-count',
      'listen-metrics-urls',
    ])
      expect(ETCD_SETTINGS[k], k).toBeDefined();
    for (const k of Object.keys(MANAGED)) expect(ETCD_SETTINGS[k], k).toBeUndefined();
  });
});

describe('extra client ports', () => {
  it('members listen and advertise on every client port', () => {
    const conf = confOf(inv('extra_client_ports: [4001]'), 'etcd1');
    expect(conf).toContain('ETCD_LISTEN_CLIENT_URLS="http://10.0.0.2:2379,http://10.0.0.2:4001,http://127.0.0.1:2379"\n');
    expect(conf).toContain('ETCD_ADVERTISE_CLIENT_URLS="http://10.0.0.2:2379,http://10.0.0.2:4001"\n');
  });

  it.each([
    ['extra_client_ports: [2379]', 'port 2379 is already the client port'],
    ['extra_client_ports: [2380]', 'port 2380 is already the peer port'],
    ['extra_client_ports: [4001, 4001]', 'port 4001 is already listed'],
    ['extra_client_ports: [70000]', 'must be a whole number from 1 to 65535'],
    ['extra_client_ports: 4001', 'must be a list'],
  ])('%s is refused', (line, message) => {
    const e = errorOf(inv(line));
    expect(e.message).toContain(message);
    expect(e.location?.line).toBe(11);
  });
});
