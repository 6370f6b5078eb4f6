/** Collects run events and prints them once, as one JSON document, at the end. */
import type { RunEvent, TaskResult } from '../executor/events.js';
import type { Step } from '../plan/types.js';
import { renderStepDiff } from '../plan/diff.js';
import { formatMode } from '../util/format.js';
import { summarizeTimings } from './timings.js';

/** One remote round trip of a host, in the order they happened. */
interface RoundTripJson {
  phase: string;
  ms: number;
  batched: boolean;
  commands: { command: string; exitCode: number }[];
}

export function jsonReporter(write: (s: string) => void): (e: RunEvent) => void {
  const doc: {
    check?: boolean;
    inventory?: string;
    playbook?: string;
    warnings: string[];
    notices: string[];
    connections: Record<string, { ms: number; attempts: number }>;
    unreachable: Record<string, string>;
    tasks: unknown[];
    recap?: unknown;
    durationMs?: number;
    interrupted?: boolean;
    roundTrips: Record<string, RoundTripJson[]>;
    timings?: unknown;
  } = {
    warnings: [],
    notices: [],
    connections: {},
    unreachable: {},
    tasks: [],
    roundTrips: {},
  };
  return (e) => {
    switch (e.type) {
      case 'start':
        Object.assign(doc, { check: e.check, inventory: e.inventory, playbook: e.playbook });
        break;
      case 'warning':
        doc.warnings.push(e.message);
        break;
      case 'connect':
        doc.connections[e.host] = { ms: e.durationMs, attempts: e.attempts ?? 1 };
        break;
      case 'notice':
        doc.notices.push(e.message);
        break;
      case 'unreachable':
        doc.unreachable[e.host] = e.message;
        break;
      case 'task':
        doc.tasks.push(taskJson(e.result));
        break;
      case 'interrupted':
        doc.interrupted = true;
        break;
      case 'exec':
        (doc.roundTrips[e.host] ??= []).push({
          phase: e.phase,
          ms: e.durationMs,
          batched: e.batched,
          commands: e.commands.map((command, i) => ({ command, exitCode: e.exitCodes[i]! })),
        });
        break;
      case 'recap':
        doc.recap = e.hosts;
        doc.durationMs = e.durationMs;
        if (e.timings) doc.timings = { ...e.timings, summary: summarizeTimings(e.timings) };
        write(JSON.stringify(doc, null, 2) + '\n');
        break;
    }
  };
}

/** A task as JSON: its `data` stands for its table (the table is for the terminal). */
function taskJson({ table: _, ...r }: TaskResult) {
  return { ...r, steps: r.steps.map(stepJson) };
}

/** Steps without secret content: a secret file step says only that it changes. */
function stepJson(s: Step) {
  if (s.kind === 'command') return { kind: s.kind, description: s.description, command: s.command };
  return {
    kind: s.kind,
    description: s.description,
    path: s.path,
    mode: formatMode(s.mode),
    owner: s.owner,
    group: s.group,
    diff: renderStepDiff(s),
  };
}
