import type { ConnectionSettings } from '../connection/types.js';
import type { SourceLocation } from '../errors.js';
import type { EtcdSettings } from './etcd-settings.js';

export type BootstrapMode = 'static' | 'dns' | 'discovery';

export interface ClusterSpec {
  name: string;
  /** Host names of the members, in inventory order; ETCD_NAME of each is its host name. */
  members: string[];
  /**
   * Hosts that were members and are to leave the cluster: removed from it (member remove),
   * then etcd stopped and disabled on them and their data moved aside. Never members.
   */
  retired?: string[];
  bootstrap: BootstrapMode;
  token: string;
  dataDir: string;
  clientPort: number;
  /** More ports every member serves clients on (listens and advertises), after clientPort. */
  extraClientPorts?: number[];
  peerPort: number;
  /** 'address': listen on the member's own IP (default); 'any': 0.0.0.0. */
  listen: 'address' | 'any';
  package: { name: string; version?: string };
  /** DNS SRV mode: `domain` and the host that serves it. */
  dns?: { domain: string; server: string; srvName?: string };
  /** Discovery-URL mode: either a ready `url` or the `endpoint` of an existing etcd. */
  discovery?: { url?: string; endpoint?: string };
  tls?: { dir: string };
  /** `provision backup`: snapshots kept on the controller (`keep`, default 7) in `dir` (resolved). */
  backup?: { keep?: number; dir?: string };
  /** etcd settings of every member (cluster.etcd_settings), by flag name. */
  settings?: EtcdSettings;
  /** Per member: its own etcd_settings (host variable), winning over `settings` key by key. */
  hostSettings?: Record<string, EtcdSettings>;
}

export interface HostEntry {
  name: string;
  /** Groups the host is in, directly or through children, always including 'all'. */
  groups: string[];
  connection: ConnectionSettings;
  /** Merged variables (all < parent group < child group < host), for templates. */
  vars: Record<string, unknown>;
  location: SourceLocation;
}

export interface Inventory {
  file: string;
  hosts: Map<string, HostEntry>;
  /** group name -> host names (transitively through children); includes 'all'. */
  groups: Map<string, string[]>;
  cluster?: ClusterSpec;
  warnings: string[];
  /** Every password given in the inventory (and on the command line): never printed. */
  secrets?: Set<string>;
}
