/**
 * A client writing keys to an etcd cluster (plain http) through etcd's v3 HTTP gateway while an
 * operation runs, and the check afterwards that every write the cluster acknowledged is there.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');

/** Posts to a member's v3 gateway; resolves with the JSON reply or throws. */
export async function gateway(address: string, api: string, body: unknown, timeoutMs = 2000): Promise<Record<string, unknown>> {
  const res = await fetch(`http://${address}:2379/v3/${api}`, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${api} on ${address}: HTTP ${res.status} ${text.slice(0, 200)}`);
  return JSON.parse(text) as Record<string, unknown>;
}

export interface WriterOptions {
  /**
   * As etcd's own clients given every member's endpoint do: a write that gets no answer, or an
   * error, is sent again to the next member until one acknowledges it (putting the same value
   * twice is harmless). A write is counted failed (`unacked`) only when no member acknowledged it
   * within `giveUpMs`; `retried` counts the attempts sent again. Without it, a write goes to one
   * random member, once.
   */
  failover?: boolean;
  giveUpMs?: number;
}

/** A client writing keys one after another to any member that answers. */
export class Writer {
  acked = new Map<string, string>();
  unacked = 0;
  retried = 0;
  private stopped = false;
  private loop: Promise<void> | undefined;
  constructor(
    private readonly addresses: string[],
    private readonly prefix: string,
    private readonly opts: WriterOptions = {},
  ) {}

  /** One write: acknowledged by a member or not (with failover, by any member before giving up). */
  private async put(key: string, value: string): Promise<boolean> {
    const first = Math.floor(Math.random() * this.addresses.length);
    const deadline = Date.now() + (this.opts.giveUpMs ?? 60_000);
    for (let attempt = 0; ; attempt++) {
      const at = this.addresses[(first + attempt) % this.addresses.length]!;
      try {
        await gateway(at, 'kv/put', { key: b64(key), value: b64(value) });
        return true;
      } catch {
        // No answer, or an error: not acknowledged. It may still have been applied (a timeout
        // after commit), so without an acknowledgement it is neither written nor lost.
        if (!this.opts.failover || Date.now() >= deadline) return false;
        this.retried++;
        await sleep(100);
      }
    }
  }

  start(): void {
    this.loop = (async () => {
      let n = 0;
      while (!this.stopped) {
        const key = `${this.prefix}${String(n).padStart(7, '0')}`;
        const value = `value-${n}-${Math.random().toString(36).slice(2, 10)}`;
        if (await this.put(key, value)) this.acked.set(key, value);
        else {
          this.unacked++;
          await sleep(100);
        }
        n++;
        await sleep(20);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  /**
   * Acknowledged keys missing, or holding another value, in a linearizable read through the
   * first of `via` that answers (default: the members written to).
   */
  async lost(via: string[] = this.addresses): Promise<string[]> {
    let reply: Record<string, unknown> | undefined;
    let lastErr: unknown;
    for (let i = 0; i < 30 && !reply; i++) {
      for (const a of via) {
        try {
          reply = await gateway(
            a,
            'kv/range',
            { key: b64(this.prefix), range_end: b64(this.prefix.slice(0, -1) + String.fromCharCode(this.prefix.charCodeAt(this.prefix.length - 1) + 1)) },
            30_000,
          );
          break;
        } catch (e) {
          lastErr = e;
        }
      }
      if (!reply) await sleep(1000);
    }
    if (!reply) throw new Error(`cannot read the keys back: ${String(lastErr)}`);
    const got = new Map<string, string>();
    for (const kv of (reply.kvs as { key: string; value?: string }[] | undefined) ?? []) got.set(unb64(kv.key), unb64(kv.value ?? ''));
    return [...this.acked].filter(([k, v]) => got.get(k) !== v).map(([k]) => k);
  }
}
