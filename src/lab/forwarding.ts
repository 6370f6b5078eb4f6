/**
 * Traffic between nspawn lab nodes crosses the lab's host bridge. With `br_netfilter` loaded
 * (Docker loads it), bridged IPv4 traffic also passes the iptables FORWARD chain, whose policy
 * Docker sets to DROP: the nodes then still answer the host (INPUT/OUTPUT) but not each other.
 * The lab lets its own bridge's traffic through with one rule (`-i BR -o BR -j ACCEPT`, tagged
 * with a comment naming the lab) and removes it at `lab down`; nothing else is touched.
 */
import fs from 'node:fs';
import { ProvisionError } from '../errors.js';
import { run } from './sh.js';
import type { LabConfig } from './topology.js';

const BRIDGE_NF = '/proc/sys/net/bridge/bridge-nf-call-iptables';

/** Whether bridged IPv4 traffic is passed through iptables (br_netfilter loaded and on). */
export function bridgeTrafficFiltered(): boolean {
  try {
    return fs.readFileSync(BRIDGE_NF, 'utf8').trim() === '1';
  } catch {
    return false;
  }
}

const ruleArgs = (cfg: LabConfig) => [
  'FORWARD',
  '-i',
  cfg.bridge,
  '-o',
  cfg.bridge,
  '-j',
  'ACCEPT',
  '-m',
  'comment',
  '--comment',
  `provision-lab ${cfg.bridge}`,
];
export const acceptRuleText = (cfg: LabConfig) => `iptables -I ${ruleArgs(cfg).join(' ')}`;

async function haveIptables(): Promise<boolean> {
  return (await run(['iptables', '-w', '-S', 'FORWARD'])).code === 0;
}

/** What in `iptables -S FORWARD` output would stop bridged traffic, if anything ('' if nothing). */
export function parseForwardBlock(rules: string): string {
  const policy = /^-P FORWARD (\S+)/m.exec(rules)?.[1] ?? 'ACCEPT';
  if (policy !== 'ACCEPT') return `the iptables FORWARD policy is ${policy}`;
  const drop = rules.split('\n').find((l) => /^-A FORWARD\b.* -j (DROP|REJECT)\b/.test(l));
  return drop ? `the iptables FORWARD chain has "${drop}"` : '';
}

/** What in the FORWARD chain would stop the lab's bridged traffic, if anything ('' if nothing). */
export async function forwardBlock(): Promise<string> {
  const r = await run(['iptables', '-w', '-S', 'FORWARD']);
  return r.code === 0 ? parseForwardBlock(r.stdout) : '';
}

/**
 * Makes sure the lab's bridged traffic is not filtered away: when br_netfilter sends it
 * through iptables, the lab's accept rule goes first in FORWARD (so a later DROP policy,
 * e.g. from a Docker daemon started after the lab, cannot cut the nodes off either).
 */
export async function allowLabBridge(cfg: LabConfig, log: (s: string) => void): Promise<void> {
  if (!bridgeTrafficFiltered()) return;
  if (!(await haveIptables())) return; // nothing can be filtering through iptables then
  const block = await forwardBlock();
  if ((await run(['iptables', '-w', '-C', ...ruleArgs(cfg)])).code === 0) return;
  const r = await run(['iptables', '-w', '-I', ...ruleArgs(cfg)]);
  if (r.code !== 0) {
    throw new ProvisionError(
      'LAB',
      `bridged traffic passes through iptables (br_netfilter) and ${block || 'it may be dropped'}; adding the lab's rule failed: ${r.stderr.trim()}`,
      {
        hint: `run: ${acceptRuleText(cfg)}`,
      },
    );
  }
  if (block)
    log(
      `${block} (Docker sets it) and br_netfilter passes bridged traffic through it: let ${cfg.bridge}'s own traffic through (${acceptRuleText(cfg)}); lab down removes it`,
    );
}

/** Removes the lab's accept rule (every copy of it). */
export async function removeLabBridgeRule(cfg: LabConfig): Promise<void> {
  for (let i = 0; i < 10 && (await run(['iptables', '-w', '-C', ...ruleArgs(cfg)])).code === 0; i++) {
    await run(['iptables', '-w', '-D', ...ruleArgs(cfg)]);
  }
}

/** Whether the lab's accept rule is in place. */
export async function labBridgeRulePresent(cfg: LabConfig): Promise<boolean> {
  return (await run(['iptables', '-w', '-C', ...ruleArgs(cfg)])).code === 0;
}

/**
 * Proof that nodes reach each other: from one node's network namespace, a TCP connection to
 * another node's sshd. On failure, says what blocks it and what to do.
 */
export async function checkNodesReachEachOther(cfg: LabConfig, fromNetns: string, to: { name: string; address: string }): Promise<void> {
  const probe = await run(['ip', 'netns', 'exec', fromNetns, 'timeout', '5', 'bash', '-c', 'exec 3<>"/dev/tcp/$1/22"', 'probe', to.address]);
  if (probe.code === 0) return;
  const block = bridgeTrafficFiltered() ? await forwardBlock() : '';
  const why = block
    ? `bridged traffic passes through iptables (br_netfilter is loaded) and ${block}`
    : 'something on this host filters traffic on the lab bridge';
  throw new ProvisionError('LAB', `lab nodes cannot reach each other on ${cfg.bridge} (${to.name} ${to.address}:22 from another node): ${why}`, {
    hint: block ? `run: ${acceptRuleText(cfg)}` : `check the host's firewall (iptables -S FORWARD, nft list ruleset) for ${cfg.bridge}`,
  });
}
