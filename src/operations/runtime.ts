/**
 * Controller-side inputs of a run that are shared by every host and made at most once: the
 * cluster's TLS certificates and its discovery URL. Both are lazy (only a task that needs
 * them asks), so a playbook that does not use them, such as the one that builds the
 * discovery etcd itself, never reaches for them.
 *
 * --check changes nothing, on the nodes or here: missing certificates are predicted as
 * stand-ins (the plan says so) without copying any key, and no discovery token is created.
 */
import { join } from 'node:path';
import { checkTokenHasRoom, knownDiscoveryUrl, resolveDiscoveryUrl, stateFile } from '../discovery/token.js';
import type { ClusterSpec, Inventory } from '../inventory/types.js';
import { ensureClusterCerts, type ClusterCerts } from '../tls/ca.js';
import { clusterMembers } from './etcd-conf.js';

export interface CertsResult {
  certs: ClusterCerts;
  /** Set in --check when the certificates do not exist yet: made in a throwaway directory. */
  provisional?: string;
}

export interface DiscoveryResult {
  url: string;
  /** Members registered under the token so far, and whether it is full (undefined: no token yet). */
  registered?: string[];
  full?: boolean;
  /** Set when the URL is a placeholder (--check, no token made yet). */
  provisional?: string;
}

export interface ClusterRuntime {
  certs(cluster: ClusterSpec): Promise<CertsResult>;
  discoveryUrl(cluster: ClusterSpec): Promise<DiscoveryResult>;
  /** Removes throwaway files (--check). */
  dispose(): void;
}

export interface RuntimeOptions {
  check: boolean;
  inventory: Inventory;
  /** Messages for the user (made a CA, made a token). */
  log: (line: string) => void;
  fetchImpl?: typeof fetch;
}

export const NEW_TOKEN_PLACEHOLDER = '<new token>';

export function createRuntime(opts: RuntimeOptions): ClusterRuntime {
  const inventoryDir = join(opts.inventory.file, '..');
  let certs: Promise<CertsResult> | undefined;
  let discovery: Promise<DiscoveryResult> | undefined;

  const makeCerts = async (cluster: ClusterSpec): Promise<CertsResult> => {
    const hosts = clusterMembers(opts.inventory, cluster);
    if (!opts.check) return { certs: await ensureClusterCerts(cluster, hosts, opts.log) };
    // A dry run reads the real directory and changes nothing there; what would be made is a
    // stand-in, made and removed inside this call (no key is copied anywhere).
    const made = await ensureClusterCerts(cluster, hosts, undefined, { dryRun: true });
    if (made.generated.length === 0) return { certs: made };
    return {
      certs: made,
      provisional: `certificates not made yet (${made.generated.join(', ')}): the real run makes them in ${cluster.tls!.dir}; their content here is a stand-in`,
    };
  };

  const findUrl = async (cluster: ClusterSpec): Promise<DiscoveryResult> => {
    const members = cluster.members;
    const how = { fetchImpl: opts.fetchImpl, log: opts.log };
    // A dry run uses the token the cluster has, and makes none.
    const r = opts.check ? await knownDiscoveryUrl(cluster, inventoryDir, how) : await resolveDiscoveryUrl(cluster, inventoryDir, how);
    if (!r) {
      const endpoint = (cluster.discovery?.endpoint ?? '').replace(/\/+$/, '');
      return {
        url: `${endpoint}/v2/keys/discovery/${NEW_TOKEN_PLACEHOLDER}`,
        provisional: `no discovery token yet: the real run makes one for ${members.length} members on ${endpoint} and records it in ${stateFile(inventoryDir, cluster.name)}`,
      };
    }
    checkTokenHasRoom(r.info, members);
    return { url: r.url, registered: r.info.members, full: r.info.full };
  };

  return {
    certs: (cluster) => (certs ??= makeCerts(cluster)),
    discoveryUrl: (cluster) => (discovery ??= findUrl(cluster)),
    // Nothing to remove: --check keeps no files (the stand-in certificates live in memory).
    dispose: () => {},
  };
}
