/**
 * A Step is one change an operation wants on a host. Operations return Steps; the executor
 * runs them (or, in --check, only reports them). An operation that returns no steps means
 * "no change".
 */
export type Step = CommandStep | FileStep;

/**
 * What a step does to the host, declared by the operation that made it. In --check the
 * executor cannot run steps, so facts asked later on the same host are predicted from the
 * effects of the steps predicted before them (FactDef.predict). A FileStep needs no effect
 * for its own path: its `after` says it all.
 */
export type Effect =
  | { kind: 'package'; name: string; state: 'present' | 'absent'; version?: string }
  /** fromStopped: the step started the unit from stopped (it runs whatever config it has now). */
  | { kind: 'service'; name: string; active?: boolean; enabled?: boolean; fromStopped?: boolean }
  /** A path created (with whatever attributes are given) or removed by a command. */
  | { kind: 'path'; path: string; state: 'present' | 'absent'; type?: 'file' | 'directory'; mode?: number; owner?: string; group?: string }
  | { kind: 'daemon-reload' };

export interface CommandStep {
  kind: 'command';
  /** Human text for the plan: "install nginx", "start nginx". */
  description: string;
  /** Shell command built with shellJoin(); run with the host's become setting unless `become` is set. */
  command: string;
  become?: boolean;
  timeoutMs?: number;
  /** The user's own command: runs in the node's locale (see ExecOptions.nodeLocale). */
  nodeLocale?: boolean;
  effects?: Effect[];
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
  /**
   * Keep the previous file (backup: yes in Ansible terms): before writing, when the file
   * exists, the executor runs `cp -p -- <path> <path>.<YYYYMMDDTHHMMSS>.bak` (UTC time).
   */
  backup?: boolean;
  /** Content is secret (a private key): diffs say only that it changed. */
  secret?: boolean;
  /** The path was a symbolic link when planned, and the write replaces the link (never follows it). */
  replacesLink?: boolean;
  effects?: Effect[];
  /**
   * The change needs no restart (a setting the service reads only on its first start): the
   * executor applies it and counts it as a change, but does not fire the task's handlers for it.
   */
  noNotify?: boolean;
}
