import { shellJoin } from '../connection/quote.js';
import { defineFact } from './types.js';

export interface SrvRecord {
  priority: number;
  weight: number;
  port: number;
  /** Lower case, without the final dot. */
  target: string;
}

/**
 * The answer of one DNS server to an SRV query. `status` is the DNS response code
 * (NOERROR, NXDOMAIN, REFUSED, SERVFAIL): REFUSED is what dnsmasq answers for a name in a
 * domain it does not hold without `local=/domain/`, which etcd treats as an error.
 */
export type SrvAnswer = { ok: true; status: string; records: SrvRecord[] } | { ok: false; error: string };

export interface SrvQuery {
  name: string;
  server: string;
}

/**
 * `dig +short` would hide the response code (REFUSED and NXDOMAIN both print nothing), so
 * the answer section is read together with the header comments. One try of 2 s: callers
 * that wait retry the whole probe.
 */
export const dnsSrv = defineFact<SrvAnswer, SrvQuery>({
  name: 'dns_srv',
  command: ({ name, server }) => shellJoin(['dig', '+noall', '+comments', '+answer', '+time=2', '+tries=1', 'SRV', name, `@${server}`]),
  parse(stdout, exitCode, { server }, stderr = '') {
    if (exitCode === 127) return { ok: false, error: 'dig is not installed on the host (package bind-utils)' };
    const text = `${stdout}\n${stderr}`;
    if (exitCode !== 0) {
      const why = /connection timed out|no servers could be reached/.test(text)
        ? `no answer from ${server}`
        : (text
            .split('\n')
            .map((l) => l.replace(/^;;\s*/, '').trim())
            .filter(Boolean)
            .pop() ?? '');
      return { ok: false, error: `dig failed (exit ${exitCode})${why ? `: ${why}` : ''}` };
    }
    const status = /status:\s*([A-Z]+)/.exec(stdout)?.[1];
    if (!status) return { ok: false, error: `unexpected output from dig: ${stdout.trim().slice(0, 200)}` };
    const records: SrvRecord[] = [];
    for (const line of stdout.split('\n')) {
      if (line.startsWith(';') || line.trim() === '') continue;
      const f = line.trim().split(/\s+/);
      // name ttl class type priority weight port target
      if (f.length >= 8 && f[3] === 'SRV')
        records.push({ priority: Number(f[4]), weight: Number(f[5]), port: Number(f[6]), target: f[7]!.replace(/\.$/, '').toLowerCase() });
    }
    return { ok: true, status, records };
  },
});
