/**
 * What `backup` and `restore` share: the inventory with its cluster (an error when it has
 * none), credentials, and one connection per member (an unreachable member is a value, with
 * its reason, not an exception).
 */
import os from 'node:os';
import { connect as sshConnect } from '../connection/ssh.js';
import { ProvisionError, isProvisionError } from '../errors.js';
import { loadInventory } from '../inventory/index.js';
import type { ClusterSpec, Inventory } from '../inventory/types.js';
import { clusterMembers } from '../operations/etcd-conf.js';
import type { MemberLink } from '../operations/etcd-backup.js';
import { outputSecrets } from '../discovery/token.js';
import { applyCredentials, extraVars } from './ansible-options.js';
import { type CommonValues } from './common-options.js';
import type { MainIO } from './main.js';
import type { OutputRedactor } from './redact.js';

export interface ClusterAccess {
  inventory: Inventory;
  cluster: ClusterSpec;
  links: MemberLink[];
  close(): Promise<void>;
}

export async function loadCluster(
  file: string,
  values: CommonValues,
  io: MainIO,
  redactor: OutputRedactor,
  what: string,
): Promise<{ inventory: Inventory; cluster: ClusterSpec }> {
  const warnings: string[] = [];
  const extra = extraVars(values, process.cwd(), os.homedir(), warnings);
  const inventory = loadInventory(file, extra ? { extraVars: extra } : {});
  redactor.merge(outputSecrets(inventory));
  for (const s of inventory.secrets ?? []) redactor.add(s);
  const cluster = inventory.cluster;
  if (!cluster)
    throw new ProvisionError('INVENTORY', `${file} has no cluster: section, so there is no cluster to ${what}`, {
      location: { file, line: 1, col: 1 },
      hint: 'add a cluster: section (or cluster: in group_vars/all.yaml) naming its members',
    });
  const creds = await applyCredentials(values, inventory, cluster.members);
  creds.secrets.forEach(redactor.add);
  for (const w of [...warnings, ...inventory.warnings]) io.stderr(`warning: ${w}\n`);
  return { inventory, cluster };
}

/** Connects to every member at once. */
export async function connectMembers(inventory: Inventory, cluster: ClusterSpec, io: MainIO): Promise<ClusterAccess> {
  const connect = io.connect ?? sshConnect;
  const links = await Promise.all(
    clusterMembers(inventory, cluster).map(async (member): Promise<MemberLink> => {
      try {
        return { member, conn: await connect(inventory.hosts.get(member.name)!.connection) };
      } catch (e) {
        return { member, unreachable: isProvisionError(e) ? e.format() : String(e) };
      }
    }),
  );
  return {
    inventory,
    cluster,
    links,
    close: async () => {
      await Promise.all(links.map((l) => l.conn?.close().catch(() => {})));
    },
  };
}
