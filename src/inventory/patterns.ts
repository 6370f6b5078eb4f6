/**
 * Ansible-ish host patterns: `all`, `*`, group or host names, globs (`etcd*`), unions
 * separated by `,` or `:`, `&group` intersections and `!name` exclusions. As in Ansible,
 * plain terms are united first, then intersections apply, then exclusions; a pattern with
 * only `&`/`!` terms starts from `all`. The result is in inventory order.
 */
import { ProvisionError } from '../errors.js';
import type { Inventory } from './types.js';

export function selectHosts(inventory: Inventory, pattern: string): string[] {
  const terms = pattern.split(/[,:]/).map((t) => t.trim());
  if (pattern.trim() === '' || terms.some((t) => t === '' || t === '!' || t === '&')) {
    throw new ProvisionError('USAGE', `invalid host pattern "${pattern}"`, {
      hint: 'e.g. "etcd", "etcd0,etcd1", "etcd:!etcd2", "etcd*"',
    });
  }
  const plain = terms.filter((t) => !t.startsWith('!') && !t.startsWith('&'));
  const inter = terms.filter((t) => t.startsWith('&')).map((t) => t.slice(1));
  const excl = terms.filter((t) => t.startsWith('!')).map((t) => t.slice(1));

  let selected = new Set<string>();
  for (const t of plain.length ? plain : ['all']) for (const h of match(inventory, t, pattern)) selected.add(h);
  for (const t of inter) {
    const m = new Set(match(inventory, t, pattern));
    selected = new Set([...selected].filter((h) => m.has(h)));
  }
  for (const t of excl) for (const h of match(inventory, t, pattern)) selected.delete(h);
  return [...inventory.hosts.keys()].filter((h) => selected.has(h));
}

function match(inv: Inventory, term: string, pattern: string): string[] {
  if (term === 'all' || term === '*') return [...inv.hosts.keys()];
  if (term.includes('*') || term.includes('?')) {
    const re = globToRegExp(term);
    const out = new Set<string>();
    for (const [g, hosts] of inv.groups) if (re.test(g)) hosts.forEach((h) => out.add(h));
    for (const h of inv.hosts.keys()) if (re.test(h)) out.add(h);
    if (out.size === 0) throw unknown(inv, `"${term}" matches no host or group`, pattern);
    return [...out];
  }
  const group = inv.groups.get(term);
  if (group) return group;
  if (inv.hosts.has(term)) return [term];
  throw unknown(inv, `unknown host or group "${term}"`, pattern);
}

function unknown(inv: Inventory, what: string, pattern: string): ProvisionError {
  const groups = [...inv.groups.keys()].join(', ');
  const hosts = [...inv.hosts.keys()];
  const hostList = hosts.length > 12 ? hosts.slice(0, 12).join(', ') + ', ...' : hosts.join(', ');
  return new ProvisionError('USAGE', `${what} in host pattern "${pattern}"`, {
    hint: `groups: ${groups}; hosts: ${hostList}`,
  });
}

function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}
