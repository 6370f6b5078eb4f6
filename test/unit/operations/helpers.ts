import { discoveryUrl } from '../../../src/operations/etcd-conf.js';
import { factKey } from '../../../src/facts/run.js';
import type { FactDef } from '../../../src/facts/types.js';
import type { ClusterSpec, HostEntry, Inventory } from '../../../src/inventory/types.js';
import type { OperationContext, OperationDef, OperationPlan } from '../../../src/operations/types.js';

/** One fact answer of a fixture: the fact, its args, and what it returns. */
export type FactFixture = readonly [FactDef<any, any>, unknown, unknown];
export const fact = <T, A>(def: FactDef<T, A>, args: A, value: T): FactFixture => [def, args, value];

export interface Fixture {
  facts?: FactFixture[];
  /** Facts (by def + args) that --check could not predict. */
  unknowable?: (readonly [FactDef<any, any>, unknown])[];
  check?: boolean;
  host?: string;
  cluster?: Partial<ClusterSpec> | null;
  vars?: Record<string, unknown>;
  /** The hosts of the run (ctx.runHosts). */
  runHosts?: string[];
  /** Run options (ctx.options), e.g. replaceLostMembers. */
  options?: OperationContext['options'];
}

export const ADDR: Record<string, string> = { etcd0: '10.88.0.10', etcd1: '10.88.0.11', etcd2: '10.88.0.12', web: '10.88.0.20' };

export const CLUSTER: ClusterSpec = {
  name: 'lab',
  members: ['etcd0', 'etcd1', 'etcd2'],
  bootstrap: 'static',
  token: 'lab-token',
  dataDir: '/var/lib/etcd',
  clientPort: 2379,
  peerPort: 2380,
  listen: 'address',
  package: { name: 'etcd' },
};

const hostEntry = (name: string): HostEntry =>
  ({
    name,
    groups: ['all'],
    connection: { name, address: ADDR[name] ?? name },
    vars: {},
    location: { file: 'inv.yml', line: 1, col: 1 },
  }) as unknown as HostEntry;

/** An OperationContext answering facts from the fixture only (a fact it lacks is a test error). */
export function fakeCtx(fx: Fixture = {}): { ctx: OperationContext; notes: string[] } {
  const cluster = fx.cluster === null ? undefined : { ...CLUSTER, ...fx.cluster };
  const hosts = new Map(Object.keys(ADDR).map((n) => [n, hostEntry(n)]));
  const inventory = { file: 'inv.yml', hosts, groups: new Map(), cluster, warnings: [] } as Inventory;
  const answers = new Map((fx.facts ?? []).map(([d, a, v]) => [factKey(d, a), v]));
  const unknown = new Set((fx.unknowable ?? []).map(([d, a]) => factKey(d, a)));
  const notes: string[] = [];
  const ctx: OperationContext = {
    host: hosts.get(fx.host ?? 'etcd0')!,
    inventory,
    cluster,
    vars: fx.vars ?? {},
    check: fx.check ?? false,
    ...(fx.runHosts ? { runHosts: new Set(fx.runHosts) } : {}),
    ...(fx.options ? { options: fx.options } : {}),
    async fact<T, A>(def: FactDef<T, A>, args: A): Promise<T> {
      const k = factKey(def, args);
      // No cluster answers unless the fixture says otherwise (a first bootstrap: nobody is up yet).
      if (!answers.has(k) && def.name === 'etcd_members') return { ok: false, error: 'context deadline exceeded' } as T;
      if (!answers.has(k)) throw new Error(`fixture lacks fact ${k}`);
      return answers.get(k) as T;
    },
    unknowable: (def, args) => unknown.has(factKey(def, args)),
    note: (t) => notes.push(t),
    // The token a run would make: the cluster token under the endpoint (src/operations/runtime.ts makes real ones).
    runtime: {
      certs: async () => {
        throw new Error('fixture has no certificates');
      },
      discoveryUrl: async (c) => ({ url: discoveryUrl(c) }),
      dispose: () => {},
    },
  };
  return { ctx, notes };
}

export async function planOf<A>(op: OperationDef<A>, args: A, fx: Fixture = {}): Promise<{ plan: OperationPlan; notes: string[] }> {
  const { ctx, notes } = fakeCtx(fx);
  return { plan: await op.plan(ctx, args), notes };
}
