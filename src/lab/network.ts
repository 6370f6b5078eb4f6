/**
 * Lab networking: one host bridge, and per node a network namespace with a veth pair
 * (host end on the bridge, other end `eth0` inside). No default route, no forwarding:
 * nodes reach each other and the host, nothing else.
 */
import fs from 'node:fs';
import { NSPAWN, netnsName, vethName } from './topology.js';
import { must, run, sleep } from './sh.js';

const linkExists = async (name: string) => (await run(['ip', 'link', 'show', 'dev', name])).code === 0;
export const netnsExists = (name: string) => fs.existsSync(`/run/netns/${name}`);

export async function ensureBridge(): Promise<void> {
  if (!(await linkExists(NSPAWN.bridge))) {
    await must(['ip', 'link', 'add', NSPAWN.bridge, 'type', 'bridge']);
  }
  const addrs = await run(['ip', '-o', '-4', 'addr', 'show', 'dev', NSPAWN.bridge]);
  if (!addrs.stdout.includes(`${NSPAWN.bridgeAddress}/`)) {
    await must(['ip', 'addr', 'add', `${NSPAWN.bridgeAddress}/${NSPAWN.prefixLength}`, 'dev', NSPAWN.bridge]);
  }
  await must(['ip', 'link', 'set', NSPAWN.bridge, 'up']);
}

export async function removeBridge(): Promise<void> {
  if (await linkExists(NSPAWN.bridge)) await run(['ip', 'link', 'del', NSPAWN.bridge]);
}

/** Namespace + veth + address for one node; safe to call again for a half-made node. */
export async function createNodeNetwork(node: string, address: string): Promise<void> {
  const ns = netnsName(node);
  const veth = vethName(node);
  const peer = `${veth}-c`;
  if (!netnsExists(ns)) await must(['ip', 'netns', 'add', ns]);
  const inNs = (args: string[]) => ['ip', '-n', ns, ...args];
  const hasEth0 = (await run(inNs(['link', 'show', 'dev', 'eth0']))).code === 0;
  if (!hasEth0) {
    if (await linkExists(veth)) await run(['ip', 'link', 'del', veth]);
    await must(['ip', 'link', 'add', veth, 'type', 'veth', 'peer', 'name', peer]);
    await must(['ip', 'link', 'set', peer, 'netns', ns]);
    await must(inNs(['link', 'set', peer, 'name', 'eth0']));
  }
  await must(['ip', 'link', 'set', veth, 'master', NSPAWN.bridge, 'up']);
  const addrs = await run(inNs(['-o', '-4', 'addr', 'show', 'dev', 'eth0']));
  if (!addrs.stdout.includes(`${address}/`)) await must(inNs(['addr', 'add', `${address}/${NSPAWN.prefixLength}`, 'dev', 'eth0']));
  await must(inNs(['link', 'set', 'lo', 'up']));
  await must(inNs(['link', 'set', 'eth0', 'up']));
}

/** Remove a node's namespace and veth, and wait until the kernel has let go of the names. */
export async function removeNodeNetwork(node: string): Promise<void> {
  const ns = netnsName(node);
  const veth = vethName(node);
  if (netnsExists(ns)) await run(['ip', 'netns', 'del', ns]);
  if (await linkExists(veth)) await run(['ip', 'link', 'del', veth]);
  for (let i = 0; i < 100 && (await linkExists(veth)); i++) await sleep(50);
}

/** Cut or restore a node's network: the host end of its veth goes down or up. */
export async function setNodeLink(node: string, up: boolean): Promise<void> {
  await must(['ip', 'link', 'set', vethName(node), up ? 'up' : 'down']);
}

/** Every lab namespace and veth on the machine, including ones a crashed run left. */
export async function leftoverNetwork(): Promise<{ namespaces: string[]; links: string[] }> {
  const namespaces = fs.existsSync('/run/netns') ? fs.readdirSync('/run/netns').filter((n) => n.startsWith(NSPAWN.netnsPrefix)) : [];
  const r = await run(['ip', '-o', 'link', 'show']);
  const links = r.stdout
    .split('\n')
    .map((l) => l.split(':')[1]?.trim().split('@')[0] ?? '')
    .filter((n) => n.startsWith(NSPAWN.vethPrefix));
  return { namespaces, links };
}
