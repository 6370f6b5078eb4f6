/**
 * A Step is one change an operation wants on a host. Operations return Steps; the executor
 * runs them (or, in --check, only reports them). An operation that returns no steps means
 * "no change".
 */
export type Step = CommandStep | FileStep;

export interface CommandStep {
  kind: 'command';
  /** Human text for the plan: "install etcd", "start etcd". */
  description: string;
  /** Shell command built with shellJoin(); run with the host's become setting unless `become` is set. */
  command: string;
  become?: boolean;
  timeoutMs?: number;
}

export interface FileStep {
  kind: 'file';
  description: string;
  path: string;
  /** Current content (null: file absent). `undefined`: not knowable yet (depends on an earlier step). */
  before: string | null | undefined;
  after: string;
  mode: number;
  owner: string;
  group: string;
  /** Keep the previous file as `<path>.<timestamp>.bak` (backup: yes in Ansible terms). */
  backup?: boolean;
  /** Content is secret (a private key): diffs say only that it changed. */
  secret?: boolean;
}
