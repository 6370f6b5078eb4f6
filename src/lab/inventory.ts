/** The inventory that points at the lab's nodes (written by `lab up`, and as inventories/lab.yaml). */
import type { EngineName, LabNode } from './topology.js';

/** The lab's ways of bootstrapping etcd, each an inventory of its own. */
export const LAB_VARIANTS = {
  static: { bootstrap: 'static', tls: false },
  tls: { bootstrap: 'static', tls: true },
  dns: { bootstrap: 'dns', tls: true },
  discovery: { bootstrap: 'discovery', tls: false },
  'discovery-tls': { bootstrap: 'discovery', tls: true },
} as const;
export type LabVariant = keyof typeof LAB_VARIANTS;

/** File name of a variant's inventory: lab.yaml / lab-dns.yaml (inventories/), inventory(-dns).yaml (.lab/). */
export const variantFile = (variant: LabVariant, base: 'lab' | 'inventory'): string => (variant === 'static' ? `${base}.yaml` : `${base}-${variant}.yaml`);

/** The etcd cluster name of a variant (its discovery token and certificates are kept under it). */
export const variantCluster = (variant: LabVariant): string => (variant === 'static' ? 'lab' : `lab-${variant}`);

/**
 * @param filesPrefix where the key and known_hosts are, relative to the inventory file
 *   ('' for .lab/inventory.yaml, '../.lab/' for inventories/lab.yaml).
 */
export function labInventoryYaml(nodes: LabNode[], filesPrefix: string, variant: LabVariant = 'static', engine: EngineName = 'nspawn'): string {
  const host = (n: LabNode) => `        ${n.name}: { address: ${n.address} }`;
  const etcd = nodes.filter((n) => n.role === 'etcd');
  const infra = nodes.filter((n) => n.role === 'infra');
  const v = LAB_VARIANTS[variant];
  const name = variantCluster(variant);
  const extra: string[] = [];
  if (v.bootstrap === 'dns') extra.push(`  dns: { domain: lab.internal, server: ${infra[0]!.name} }`);
  if (v.bootstrap === 'discovery') {
    extra.push(
      '  # The discovery etcd on the infrastructure node: provision <this file> --playbook playbooks/discovery-server.yaml',
      `  discovery: { endpoint: "http://${infra[0]!.address}:2379" }`,
    );
  }
  if (v.tls) extra.push(`  tls: { dir: ${filesPrefix}tls-${name} }`);
  const title = variant === 'static' ? '' : ` Bootstrap: ${v.bootstrap}${v.tls ? ', with TLS' : ''}.`;
  const what =
    engine === 'docker'
      ? 'The local lab on Docker (`provision lab up --engine docker`, docker-compose.test.yml)'
      : 'The built-in local lab (`provision lab up`)';
  return `# ${what}: ${etcd.length} etcd nodes and an infrastructure node.${title}
# Generated from src/lab/topology.ts; keys and known_hosts are made by \`lab up${engine === 'docker' ? ' --engine docker` (or `lab prepare --engine docker`)' : '`'}.
all:
  vars:
    user: root
    key_file: ${filesPrefix}id_ed25519
    known_hosts: ${filesPrefix}known_hosts
    host_key_checking: strict
  children:
    etcd:
      hosts:
${etcd.map(host).join('\n')}
    infrastructure:
      hosts:
${infra.map(host).join('\n')}
cluster:
  name: ${name}
  members: etcd
  bootstrap: ${v.bootstrap}
  token: ${name}-etcd-cluster
  data_dir: /var/lib/etcd
  client_port: 2379
  peer_port: 2380
  listen: address
  package: { name: etcd }
${extra.map((l) => l + '\n').join('')}`;
}
