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

/** Where a host's time went, in ms (phases as the executor sees them). */
export interface HostTiming {
  /** Handshake and login (0 when the host could not be reached). */
  connectMs: number;
  /** Remote round trips that read facts (a batch of several probes is one), and their time. */
  factRounds: number;
  factCommands: number;
  factsMs: number;
  /** Applying steps (commands and file writes). */
  applyMs: number;
  applyRounds: number;
  /** Verifications (waiting until a service is healthy counts here). */
  verifyMs: number;
  verifyRounds: number;
  /** Waiting for the other hosts at a meeting point. */
  waitMs: number;
  /** From the start of its connection to the end of its last play. */
  totalMs: number;
}

export type Phase = 'facts' | 'apply' | 'verify';

/** The run as a whole: where its wall time went. */
export interface RunTimings {
  /** Process start to the start of the run (loading code, inventory, playbook). */
  startupMs: number;
  /** Process start to the first host connected (undefined: none did). */
  firstConnectMs?: number;
  /** The run itself (from its start to the recap). */
  wallMs: number;
  /** Controller CPU time during the run (user + system). */
  cpuMs: number;
  /** Peak resident memory of the controller so far, in MB. */
  peakRssMb: number;
  hosts: Record<string, HostTiming>;
}

export const emptyTiming = (): HostTiming => ({
  connectMs: 0,
  factRounds: 0,
  factCommands: 0,
  factsMs: 0,
  applyMs: 0,
  applyRounds: 0,
  verifyMs: 0,
  verifyRounds: 0,
  waitMs: 0,
  totalMs: 0,
});

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
  /** A host starts a task (for a live progress display; its result follows as a 'task' event). */
  | { type: 'task-start'; host: string; play: string; task: string; handler: boolean }
  /** One remote round trip: one command, or a batch of read-only commands run as one. */
  | { type: 'exec'; host: string; phase: Phase; commands: string[]; exitCodes: number[]; durationMs: number; batched: boolean }
  | { type: 'unreachable'; host: string; message: string }
  | { type: 'interrupted'; message: string }
  | { type: 'recap'; hosts: Record<string, HostRecap>; durationMs: number; check: boolean; timings?: RunTimings };

export const emptyRecap = (): HostRecap => ({ ok: 0, changed: 0, failed: 0, unreachable: 0, skipped: 0 });
