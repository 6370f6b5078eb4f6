import { isIP } from 'node:net';

/** One spelling per IP address (IPv6 compressed, lower case), for comparisons; other text as it is. */
export function canonicalIp(address: string): string {
  if (isIP(address) !== 6) return address;
  try {
    return new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return address.toLowerCase();
  }
}
