/**
 * The operation interface lives with the engine (src/plan/operation.ts) so that the executor
 * needs nothing from this folder; operations import it from here. This file also declares
 * the run options and run services that the operations use (declaration merging): the
 * engine passes them to every operation without knowing their names.
 */
import type { ClusterRuntime } from './runtime.js';

export * from '../plan/operation.js';

declare module '../plan/operation.js' {
  interface RunFlags {
    /** Bootstrap a new cluster even when some of its members are missing (etcd-start.ts). */
    allowPartial?: boolean;
    /** A member that lost its data is removed from its cluster and added again (etcd-join.ts). */
    replaceLostMembers?: boolean;
  }
  /** The cluster's certificates and discovery URL, made once per run (runtime.ts). */
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface RunServices extends ClusterRuntime {}
}
