import type { Table } from '../plan/operation.js';
import type { Step } from '../plan/types.js';

export type TaskStatus = 'ok' | 'changed' | 'failed' | 'skipped';

export interface TaskResult {
  host: string;
  play: string;
  task: string;
  op: string;
  status: TaskStatus;
  /** The steps run (or, in --check, predicted). */
  steps: Step[];
  notes: string[];
  message?: string;
  /** Structured output of the operation, for machine-readable output (--json). */
  data?: unknown;
  /** The same as a table, for the terminal. */
  table?: Table;
  handler: boolean;
  durationMs: number;
}

export interface HostRecap {
  ok: number;
  changed: number;
  failed: number;
  unreachable: number;
  skipped: number;
  /** Set when the run was interrupted before the host was done: where it stood. */
  interrupted?: string;
}

/** Everything the run tells the user, as values; the reporter decides how to show them. */
export type RunEvent =
  | { type: 'start'; inventory: string; playbook: string; check: boolean; hosts: string[] }
  | { type: 'warning'; message: string }
  /** Something done on the controller (a CA made, a discovery token made). */
  | { type: 'notice'; message: string }
  | { type: 'play'; name: string; hosts: string[] }
  /** attempts: handshakes it took (sshd may drop some under load; they are retried). */
  | { type: 'connect'; host: string; ok: boolean; message?: string; durationMs: number; attempts?: number }
  | { type: 'task'; result: TaskResult }
  | { type: 'unreachable'; host: string; message: string }
  | { type: 'interrupted'; message: string }
  | { type: 'recap'; hosts: Record<string, HostRecap>; durationMs: number; check: boolean };

export const emptyRecap = (): HostRecap => ({ ok: 0, changed: 0, failed: 0, unreachable: 0, skipped: 0 });
