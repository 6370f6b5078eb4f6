/** --list-hosts, --list-tasks and --syntax-check: what a run would cover, touching no host. */
import type { Inventory } from '../inventory/types.js';
import { selectHosts } from '../inventory/patterns.js';
import type { Playbook } from '../playbook/types.js';
import { printable } from '../report/terminal.js';

export function listings(playbook: Playbook, inventory: Inventory, limited: Set<string>, what: { hosts: boolean; tasks: boolean }): string {
  const out = [`playbook: ${playbook.file}`];
  if (!what.hosts && !what.tasks) return out.join('\n') + '\n';
  playbook.plays.forEach((play, i) => {
    const hosts = selectHosts(inventory, play.hosts).filter((h) => limited.has(h));
    out.push('', `  play #${i + 1} (${play.hosts}): ${play.name}`);
    if (what.hosts) {
      out.push(`    hosts (${hosts.length}):`);
      for (const h of hosts) out.push(`      ${h}`);
    }
    if (what.tasks) {
      out.push('    tasks:');
      for (const t of play.tasks) out.push(`      ${t.name}${t.when ? `  (when: ${t.when.source})` : ''}`);
    }
  });
  return printable(out.join('\n')) + '\n';
}
