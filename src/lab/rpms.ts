/**
 * RPM recipes for the lab's yum repository: etcd and dnsmasq with CentOS's file layout,
 * built from Debian's binaries, and `lab-base`, an empty package that tells rpm the base
 * system (a Debian userland with an empty rpm database) is there.
 */
import path from 'node:path';
import { ETCD35 } from './debs.js';

/** CentOS 7's stock etcd unit, verbatim: with etcd 3.4 it fails (flags shadow env vars). */
export const CENTOS7_ETCD_UNIT = `[Unit]
Description=Etcd Server
After=network.target
After=network-online.target
Wants=network-online.target

[Service]
Type=notify
WorkingDirectory=/var/lib/etcd/
EnvironmentFile=-/etc/etcd/etcd.conf
User=etcd
# set GOMAXPROCS to number of processors
ExecStart=/bin/bash -c "GOMAXPROCS=$(nproc) /usr/bin/etcd --name=\\"\${ETCD_NAME}\\" --data-dir=\\"\${ETCD_DATA_DIR}\\" --listen-client-urls=\\"\${ETCD_LISTEN_CLIENT_URLS}\\""
Restart=on-failure
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
`;

/** CentOS's stock /etc/etcd/etcd.conf (the defaults, most settings commented out). */
export const CENTOS_ETCD_CONF = `#[Member]
#ETCD_CORS=""
ETCD_DATA_DIR="/var/lib/etcd/default.etcd"
#ETCD_WAL_DIR=""
#ETCD_LISTEN_PEER_URLS="http://localhost:2380"
ETCD_LISTEN_CLIENT_URLS="http://localhost:2379"
#ETCD_MAX_SNAPSHOTS="5"
#ETCD_MAX_WALS="5"
ETCD_NAME="default"
#ETCD_SNAPSHOT_COUNT="100000"
#ETCD_HEARTBEAT_INTERVAL="100"
#ETCD_ELECTION_TIMEOUT="1000"
#ETCD_QUOTA_BACKEND_BYTES="0"
#
#[Clustering]
#ETCD_INITIAL_ADVERTISE_PEER_URLS="http://localhost:2380"
ETCD_ADVERTISE_CLIENT_URLS="http://localhost:2379"
#ETCD_DISCOVERY=""
#ETCD_DISCOVERY_FALLBACK="proxy"
#ETCD_DISCOVERY_PROXY=""
#ETCD_DISCOVERY_SRV=""
#ETCD_INITIAL_CLUSTER="default=http://localhost:2380"
#ETCD_INITIAL_CLUSTER_TOKEN="etcd-cluster"
#ETCD_INITIAL_CLUSTER_STATE="new"
#ETCD_STRICT_RECONFIG_CHECK="true"
#ETCD_ENABLE_V2="true"
#
#[Security]
#ETCD_CERT_FILE=""
#ETCD_KEY_FILE=""
#ETCD_CLIENT_CERT_AUTH="false"
#ETCD_TRUSTED_CA_FILE=""
#ETCD_AUTO_TLS="false"
#ETCD_PEER_CERT_FILE=""
#ETCD_PEER_KEY_FILE=""
#ETCD_PEER_CLIENT_CERT_AUTH="false"
#ETCD_PEER_TRUSTED_CA_FILE=""
#ETCD_PEER_AUTO_TLS="false"
`;

export const CENTOS_DNSMASQ_UNIT = `[Unit]
Description=DNS caching server.
After=network.target

[Service]
ExecStart=/usr/sbin/dnsmasq -k

[Install]
WantedBy=multi-user.target
`;

export const CENTOS_DNSMASQ_CONF = `# Configuration file for dnsmasq.
#
# Format is one option per line, legal options are the same
# as the long options legal on the command line. See
# "/usr/sbin/dnsmasq --help" or "man 8 dnsmasq" for details.

# Listen on this specific port instead of the standard DNS port
# (53). Setting this to zero completely disables DNS function,
# leaving only DHCP and/or TFTP.
#port=5353

# Never forward plain names (without a dot or domain part)
#domain-needed
# Never forward addresses in the non-routed address spaces.
#bogus-priv

# If you don't want dnsmasq to read /etc/resolv.conf or any other
# file, getting its servers from this file instead (see below), then
# uncomment this.
#no-resolv

# Add local-only domains here, queries in these domains are answered
# from /etc/hosts or DHCP only.
#local=/localnet/

# If you want dnsmasq to change uid and gid to something other
# than the default, edit the following lines.
user=dnsmasq
group=dnsmasq

# If you want dnsmasq to listen for DHCP and DNS requests only on
# specified interfaces (and the loopback) give the name of the
# interface (eg eth0) here.
#interface=

# Include all files in a directory which end in .conf
#conf-dir=/etc/dnsmasq.d/,*.conf

# Include another lot of configuration options.
#conf-file=/etc/dnsmasq.more.conf
conf-dir=/etc/dnsmasq.d,.rpmnew,.rpmsave,.rpmorig
`;

export interface RpmRecipe {
  name: string;
  /**
   * rpm's epoch, compared before the version. The lab's etcd 3.4.23 has epoch 1 and 3.5.16
   * none, so a plain `yum install etcd` picks 3.4.23 while `yum install etcd-3.5.16` (which
   * dnf treats as a downgrade in rpm's order, and does) installs or upgrades to 3.5.16.
   */
  epoch?: number;
  version: string;
  release: string;
  summary: string;
  /** Files to install: destination path -> source (a host file) or literal content. */
  files: { dest: string; from?: string; content?: string; mode: string; owner?: string; group?: string; config?: boolean }[];
  dirs?: { path: string; mode: string; owner: string; group: string }[];
  provides?: string[];
  requires?: string[];
  pre?: string;
}

const userPre = (user: string, home: string, comment: string) => `getent group ${user} >/dev/null || groupadd -r ${user}
getent passwd ${user} >/dev/null || useradd -r -g ${user} -d ${home} -s /sbin/nologin -c "${comment}" ${user}
exit 0`;

/** etcd with CentOS's layout and stock unit, its binaries taken from a Debian package's files. */
function etcdRecipe(version: string, epoch: number | undefined, binDir: string, binaries: string[]): RpmRecipe {
  return {
    name: 'etcd',
    ...(epoch !== undefined ? { epoch } : {}),
    version,
    release: '1.lab',
    summary: 'A highly-available key value store for shared configuration',
    files: [
      ...binaries.map((b) => ({ dest: `/usr/bin/${b}`, from: path.join(binDir, b), mode: '0755' })),
      { dest: '/etc/etcd/etcd.conf', content: CENTOS_ETCD_CONF, mode: '0644', config: true },
      { dest: '/usr/lib/systemd/system/etcd.service', content: CENTOS7_ETCD_UNIT, mode: '0644' },
    ],
    dirs: [
      { path: '/etc/etcd', mode: '0755', owner: 'root', group: 'root' },
      { path: '/var/lib/etcd', mode: '0700', owner: 'etcd', group: 'etcd' },
    ],
    requires: ['/bin/sh', 'shadow-utils', 'systemd'],
    pre: userPre('etcd', '/var/lib/etcd', 'etcd user'),
  };
}

export const RPMS: RpmRecipe[] = [
  {
    name: 'lab-base',
    version: '1',
    release: '1',
    summary: 'Declares the Debian base system of a provision lab node to rpm',
    files: [],
    provides: [
      '/bin/sh',
      '/bin/bash',
      '/usr/bin/bash',
      'bash',
      'coreutils',
      'glibc',
      'systemd',
      'systemd-units',
      'shadow-utils',
      '/usr/sbin/useradd',
      '/usr/sbin/groupadd',
      '/sbin/nologin',
      'filesystem',
      'setup',
      'sed',
      'grep',
      'util-linux',
    ],
  },
  etcdRecipe('3.4.23', 1, '/usr/bin', ['etcd', 'etcdctl']),
  // Debian 13's binaries (src/lab/debs.ts fetches them): the second etcd version, for upgrades.
  etcdRecipe(ETCD35.version, undefined, path.join(ETCD35.root, 'usr', 'bin'), ['etcd', 'etcdctl', 'etcdutl']),
  {
    // dig is in the Debian image already; on CentOS it comes with this package.
    name: 'bind-utils',
    version: '9.18',
    release: '1.lab',
    summary: 'Utilities for querying DNS name servers (dig from the lab image)',
    files: [],
  },
  {
    name: 'dnsmasq',
    version: '2.89',
    release: '1.lab',
    summary: 'A lightweight DHCP/caching DNS server',
    files: [
      { dest: '/usr/sbin/dnsmasq', from: '/usr/sbin/dnsmasq', mode: '0755' },
      { dest: '/etc/dnsmasq.conf', content: CENTOS_DNSMASQ_CONF, mode: '0644', config: true },
      { dest: '/usr/lib/systemd/system/dnsmasq.service', content: CENTOS_DNSMASQ_UNIT, mode: '0644' },
    ],
    dirs: [{ path: '/etc/dnsmasq.d', mode: '0755', owner: 'root', group: 'root' }],
    requires: ['/bin/sh', 'shadow-utils', 'systemd'],
    pre: userPre('dnsmasq', '/var/lib/dnsmasq', 'Dnsmasq DHCP and DNS server'),
  },
];

/** The .spec text of a recipe; sources are copied into BUILDROOT by %install from SOURCES. */
export function specFor(r: RpmRecipe): string {
  const lines = [
    `Name: ${r.name}`,
    ...(r.epoch !== undefined ? [`Epoch: ${r.epoch}`] : []),
    `Version: ${r.version}`,
    `Release: ${r.release}`,
    `Summary: ${r.summary}`,
    'License: ASL 2.0',
    'BuildArch: x86_64',
    // Debian's binaries link against Debian's libraries, which rpm cannot see.
    'AutoReqProv: no',
    ...(r.provides ?? []).map((p) => `Provides: ${p}`),
    ...(r.requires ?? []).map((p) => `Requires(pre): ${p}`),
    '%global debug_package %{nil}',
    '%global __os_install_post %{nil}',
    '',
    '%description',
    r.summary,
    '',
    '%install',
    ...(r.dirs ?? []).map((d) => `mkdir -p %{buildroot}${d.path}`),
    ...r.files.map((f, i) => `install -D -m ${f.mode} %{_sourcedir}/src${i} %{buildroot}${f.dest}`),
    '',
  ];
  if (r.pre) lines.push('%pre', r.pre, '');
  lines.push('%files');
  for (const d of r.dirs ?? []) lines.push(`%dir %attr(${d.mode},${d.owner},${d.group}) ${d.path}`);
  for (const f of r.files) {
    lines.push(`${f.config ? '%config(noreplace) ' : ''}%attr(${f.mode},${f.owner ?? 'root'},${f.group ?? 'root'}) ${f.dest}`);
  }
  lines.push('');
  return lines.join('\n');
}
