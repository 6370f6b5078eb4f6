/** The inventory that points at the lab's nodes (written by `lab up`, and as inventories/lab.yaml). */
import type { LabNode } from './topology.js';

/**
 * @param filesPrefix where the key and known_hosts are, relative to the inventory file
 *   ('' for .lab/inventory.yaml, '../.lab/' for inventories/lab.yaml).
 */
export function labInventoryYaml(nodes: LabNode[], filesPrefix: string): string {
  const host = (n: LabNode) => `        ${n.name}: { address: ${n.address} }`;
  const etcd = nodes.filter((n) => n.role === 'etcd');
  const infra = nodes.filter((n) => n.role === 'infra');
  return `# The built-in local lab (\`provision lab up\`): ${etcd.length} etcd nodes and an infrastructure node.
# Generated from src/lab/topology.ts; keys and known_hosts are made by \`lab up\`.
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
  name: lab
  members: etcd
  bootstrap: static
  token: lab-etcd-cluster
  data_dir: /var/lib/etcd
  client_port: 2379
  peer_port: 2380
  listen: address
  package: { name: etcd }
`;
}
