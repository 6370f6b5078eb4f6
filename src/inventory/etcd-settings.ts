/**
 * etcd's own settings, as an inventory may give them (`cluster.etcd_settings`, cluster-wide,
 * and the host variable `etcd_settings`, per host): the names etcd knows (each flag
 * `--heartbeat-interval` is also the variable ETCD_HEARTBEAT_INTERVAL), a cheap check of each
 * value, and the settings provision writes itself, refused with the reason.
 *
 * The table is the union of `etcd --help` of etcd 3.4.23 and 3.5.16 (Debian's builds); `since`
 * marks the settings 3.4 does not know, `until` those 3.5 dropped.
 */
import type { SourceLocation } from '../errors.js';
import type { YNode, YamlSource } from '../util/yaml.js';
import { didYouMean } from '../util/did-you-mean.js';
import { short } from '../util/text.js';

type Kind = 'bool' | 'int' | 'duration' | 'urls' | 'string' | 'number' | readonly string[];

interface Known {
  kind: Kind;
  since?: '3.5';
  until?: '3.5';
}

const b: Known = { kind: 'bool' };
const i: Known = { kind: 'int' };
const d: Known = { kind: 'duration' };
const s: Known = { kind: 'string' };
const u: Known = { kind: 'urls' };
const b35: Known = { kind: 'bool', since: '3.5' };
const d35: Known = { kind: 'duration', since: '3.5' };
const s35: Known = { kind: 'string', since: '3.5' };

/** Every setting etcd 3.4/3.5 accepts that provision leaves to the inventory. */
export const ETCD_SETTINGS: Readonly<Record<string, Known>> = {
  'auth-token': s,
  'auth-token-ttl': i,
  'auto-compaction-mode': { kind: ['periodic', 'revision'] },
  // An hour count ("1") or a duration ("30m") in periodic mode, a revision count in revision mode.
  'auto-compaction-retention': { kind: 'string' },
  'backend-batch-interval': d,
  'backend-batch-limit': i,
  'backend-bbolt-freelist-type': { kind: ['map', 'array'], since: '3.5' },
  'bcrypt-cost': i,
  'cipher-suites': s,
  'client-cert-allowed-hostname': s,
  'client-crl-file': s,
  cors: s,
  debug: { kind: 'bool', until: '3.5' },
  'discovery-fallback': { kind: ['proxy', 'exit'] },
  'discovery-proxy': s,
  'election-timeout': i,
  'enable-grpc-gateway': b,
  'enable-log-rotation': b35,
  'enable-pprof': b,
  'enable-v2': b,
  'experimental-backend-bbolt-freelist-type': { kind: ['map', 'array'] },
  'experimental-bootstrap-defrag-threshold-megabytes': { kind: 'int', since: '3.5' },
  'experimental-compact-hash-check-enabled': b35,
  'experimental-compact-hash-check-time': d35,
  'experimental-compaction-batch-limit': i,
  'experimental-compaction-sleep-interval': d35,
  'experimental-corrupt-check-time': d,
  'experimental-distributed-tracing-address': s35,
  'experimental-distributed-tracing-instance-id': s35,
  'experimental-distributed-tracing-sampling-rate': { kind: 'int', since: '3.5' },
  'experimental-distributed-tracing-service-name': s35,
  'experimental-downgrade-check-time': d35,
  'experimental-enable-distributed-tracing': b35,
  'experimental-enable-lease-checkpoint': b,
  'experimental-enable-lease-checkpoint-persist': b35,
  'experimental-enable-v2v3': s,
  'experimental-initial-corrupt-check': b,
  'experimental-memory-mlock': b35,
  'experimental-peer-skip-client-san-verification': b,
  'experimental-stop-grpc-service-on-defrag': b35,
  'experimental-txn-mode-write-with-shared-buffer': b35,
  'experimental-warning-apply-duration': d,
  'experimental-watch-progress-notify-interval': d,
  'grpc-keepalive-interval': d,
  'grpc-keepalive-min-time': d,
  'grpc-keepalive-timeout': d,
  'heartbeat-interval': i,
  'host-whitelist': s,
  'initial-election-tick-advance': b,
  'listen-client-http-urls': { kind: 'urls', since: '3.5' },
  'listen-metrics-urls': u,
  'log-level': { kind: ['debug', 'info', 'warn', 'error', 'panic', 'fatal'] },
  'log-outputs': s,
  'log-package-levels': { kind: 'string', until: '3.5' },
  'log-rotation-config-json': s35,
  logger: { kind: ['zap', 'capnslog'] },
  'max-concurrent-streams': i,
  'max-request-bytes': i,
  'max-snapshots': i,
  'max-txn-ops': i,
  'max-wals': i,
  metrics: { kind: ['basic', 'extensive'] },
  'peer-cert-allowed-cn': s,
  'peer-cert-allowed-hostname': s,
  'peer-crl-file': s,
  'pre-vote': b,
  proxy: { kind: ['off', 'readonly', 'on'] },
  'proxy-dial-timeout': i,
  'proxy-failure-wait': i,
  'proxy-read-timeout': i,
  'proxy-refresh-interval': i,
  'proxy-write-timeout': i,
  'quota-backend-bytes': i,
  'raft-read-timeout': d35,
  'raft-write-timeout': d35,
  'self-signed-cert-validity': { kind: 'int', since: '3.5' },
  'snapshot-count': i,
  'socket-reuse-address': b35,
  'socket-reuse-port': b35,
  'strict-reconfig-check': b,
  'tls-max-version': { kind: ['TLS1.2', 'TLS1.3'], since: '3.5' },
  'tls-min-version': { kind: ['TLS1.2', 'TLS1.3'], since: '3.5' },
  'unsafe-no-fsync': b35,
  'v2-deprecation': { kind: ['not-yet', 'write-only', 'write-only-drop-data', 'gone'], since: '3.5' },
  'wal-dir': s,
};

const URLS = 'made from the member address, cluster.client_port, cluster.extra_client_ports, cluster.peer_port and cluster.listen';
const BOOT = 'set from cluster.bootstrap';
const TLS = 'set by cluster.tls (provision makes and copies the certificates)';

/** Settings etcd knows that provision writes itself: refused, with why. */
export const MANAGED: Readonly<Record<string, string>> = {
  name: "provision sets it to the host's name",
  'data-dir': 'set cluster.data_dir (each member uses <data_dir>/<name>.etcd)',
  'listen-peer-urls': URLS,
  'listen-client-urls': URLS,
  'initial-advertise-peer-urls': URLS,
  'advertise-client-urls': URLS,
  'initial-cluster': `${BOOT}: static mode lists every member`,
  'initial-cluster-state': 'provision decides it per member from its data (a live cluster is never bootstrapped again)',
  'initial-cluster-token': 'set cluster.token',
  discovery: `${BOOT}: set cluster.discovery`,
  'discovery-srv': `${BOOT}: set cluster.dns.domain`,
  'discovery-srv-name': 'set cluster.dns.srv_name',
  'cert-file': TLS,
  'key-file': TLS,
  'trusted-ca-file': TLS,
  'client-cert-auth': TLS,
  'client-cert-file': TLS,
  'client-key-file': TLS,
  'peer-cert-file': TLS,
  'peer-key-file': TLS,
  'peer-trusted-ca-file': TLS,
  'peer-client-cert-auth': TLS,
  'peer-client-cert-file': TLS,
  'peer-client-key-file': TLS,
  'auto-tls': `${TLS}; self-signed certificates would not match the URLs provision writes`,
  'peer-auto-tls': `${TLS}; self-signed certificates would not match the URLs provision writes`,
  'force-new-cluster': "it discards the cluster's membership on every start; for disaster recovery run etcd by hand once",
};

/** One setting as given: its ETCD_* name, the value to write, where it was written. */
export interface EtcdSetting {
  env: string;
  value: string;
  location: SourceLocation;
}
/** flag name (heartbeat-interval) -> setting. */
export type EtcdSettings = Record<string, EtcdSetting>;

const DURATION_RE = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$|^0$/;
const URL_RE = /^(https?|unix|unixs):\/\/[A-Za-z0-9._~:/?#@!&+;=%[\]-]+$/;
// EnvironmentFile= double quotes take backslash escapes, and the stock unit's bash -c would
// expand $ and backticks: such values cannot be written to etcd.conf.
const UNWRITABLE_RE = /["\\$`\n\r]/;

/** `heartbeat-interval`, `heartbeat_interval` or `ETCD_HEARTBEAT_INTERVAL` -> `heartbeat-interval`. */
export function flagName(key: string): string {
  const k = /^ETCD_/.test(key) ? key.slice(5) : key;
  return k.toLowerCase().replace(/_/g, '-');
}
export const envName = (flag: string): string => `ETCD_${flag.toUpperCase().replace(/-/g, '_')}`;

/** Reads one `etcd_settings` map, checking every name and value. */
export function readEtcdSettings(src: YamlSource, node: YNode, where: string, fallback?: YNode): EtcdSettings {
  const out: EtcdSettings = {};
  for (const e of src.map(node, where, fallback)) {
    const flag = flagName(e.key);
    const reason = MANAGED[flag];
    if (reason) src.fail(e.keyNode, `etcd setting "${short(e.key)}" in ${where} is managed by provision: ${reason}`);
    const known = ETCD_SETTINGS[flag];
    if (!known || !/^[a-z0-9-]+$/.test(flag)) {
      const near = didYouMean(flag, [...Object.keys(ETCD_SETTINGS), ...Object.keys(MANAGED)]);
      src.fail(
        e.keyNode,
        `unknown etcd setting "${short(e.key)}" in ${where}${near ? `; did you mean "${near}"?` : ''}`,
        'names are etcd flags without "--" (heartbeat-interval) or its ETCD_* variables (ETCD_HEARTBEAT_INTERVAL)',
      );
    }
    if (out[flag]) src.fail(e.keyNode, `etcd setting "${flag}" is given twice in ${where}`);
    out[flag] = { env: envName(flag), value: settingValue(src, known.kind, e.value, `${where}.${e.key}`, e.keyNode), location: src.loc(e.value, e.keyNode) };
  }
  return out;
}

function settingValue(src: YamlSource, kind: Kind, node: YNode, what: string, keyNode: YNode): string {
  const n = src.resolve(node);
  const sc = src.scalar(n);
  let value: string;
  if (kind === 'urls' && n && !sc) {
    value = src.stringList(n, what, keyNode).join(',');
  } else {
    if (!sc || sc.value == null || typeof sc.value === 'object') src.fail(node, `${what} must be a single value`, undefined, keyNode);
    value = typeof sc.value === 'number' && sc.source ? sc.source : String(sc.value);
  }
  if (UNWRITABLE_RE.test(value)) src.fail(node, `${what} has a quote, backslash, $, backtick or line break, which etcd.conf cannot hold`, undefined, keyNode);
  const bad = (expected: string): never => src.fail(node, `${what} must be ${expected}, not "${short(value)}"`, undefined, keyNode);
  if (Array.isArray(kind)) {
    if (!kind.includes(value)) bad(`one of ${kind.join(', ')}`);
  } else if (kind === 'bool') {
    if (value !== 'true' && value !== 'false') bad('true or false');
  } else if (kind === 'int') {
    if (!/^\d+$/.test(value)) bad('a whole number (0 or more)');
  } else if (kind === 'duration') {
    if (!DURATION_RE.test(value)) bad('a duration such as 500ms, 10s, 5m or 2h');
  } else if (kind === 'urls') {
    const list = value.split(',');
    const wrong = list.find((x) => !URL_RE.test(x));
    if (wrong !== undefined) bad('URLs (http://IP:port, comma-separated or a list)');
  }
  return value;
}

/** A major.minor version >= 3.5 (pinned package versions such as "3.5.16-1.el8" included). */
export function atLeast35(version: string): boolean {
  const m = /^(?:\d+:)?(\d+)\.(\d+)/.exec(version);
  if (!m) return false;
  const [maj, min] = [Number(m[1]), Number(m[2])];
  return maj > 3 || (maj === 3 && min >= 5);
}

/**
 * Checks that need the whole picture: settings etcd 3.4 does not know (or 3.5 dropped) against
 * a pinned version, and the election timeout against the heartbeat, with the merged values of
 * one member. Returns the message and where, or undefined.
 */
export function checkMerged(merged: EtcdSettings, version: string | undefined): { message: string; location: SourceLocation } | undefined {
  if (version) {
    const is35 = atLeast35(version);
    for (const [flag, set] of Object.entries(merged)) {
      const k = ETCD_SETTINGS[flag]!;
      if (k.since && !is35)
        return { message: `etcd setting "${flag}" needs etcd ${k.since} or later; cluster.package.version is ${version}`, location: set.location };
      if (k.until && is35)
        return { message: `etcd setting "${flag}" was removed in etcd ${k.until}; cluster.package.version is ${version}`, location: set.location };
    }
  }
  const hb = Number(merged['heartbeat-interval']?.value ?? 100);
  const el = Number(merged['election-timeout']?.value ?? 1000);
  if (el < 5 * hb) {
    const at = merged['election-timeout'] ?? merged['heartbeat-interval']!;
    return {
      message: `etcd's election-timeout (${el} ms) must be at least 5 times its heartbeat-interval (${hb} ms), or etcd refuses to start`,
      location: at.location,
    };
  }
  return undefined;
}
