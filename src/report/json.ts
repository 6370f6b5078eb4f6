/** Collects run events and prints them once, as one JSON document, at the end. */
import type { RunEvent, TaskResult } from '../executor/events.js';
import type { Step } from '../plan/types.js';
import { renderStepDiff } from '../plan/diff.js';
import { formatMode } from '../util/format.js';

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
  } = {
    warnings: [],
    notices: [],
    connections: {},
    unreachable: {},
    tasks: [],
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
      case 'recap':
        doc.recap = e.hosts;
        doc.durationMs = e.durationMs;
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
