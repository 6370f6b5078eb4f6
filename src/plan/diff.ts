import { createTwoFilesPatch } from 'diff';
import { formatMode } from '../util/format.js';
import type { Step } from './types.js';

const rel = (p: string) => p.replace(/^\/+/, '');

/** One line for the plan: "install nginx", "write /etc/nginx/nginx.conf (0644 root:root)". */
export function describeStep(step: Step): string {
  if (step.kind === 'command') return step.description;
  const flags = [`${formatMode(step.mode)} ${step.owner}:${step.group}`, ...(step.backup ? ['backup'] : []), ...(step.noNotify ? ['no restart needed'] : [])];
  return `${step.description} (${flags.join(', ')})`;
}

/** What the step changes: a unified diff for files, `$ command` for commands. */
export function renderStepDiff(step: Step): string {
  if (step.kind === 'command') return `$ ${step.command}`;
  if (step.secret) return `(secret content of ${step.path} changed; not shown)`;
  if (step.before === step.after) return `(content of ${step.path} unchanged)`;
  const unknown = step.before === undefined;
  const patch = createTwoFilesPatch(
    step.before === null ? '/dev/null' : `a/${rel(step.path)}`,
    `b/${rel(step.path)}`,
    step.before ?? '',
    step.after,
    unknown ? '(current content not known yet: depends on an earlier step)' : undefined,
    undefined,
  );
  // Drop the "=====" banner line the diff package puts first.
  return patch.replace(/^=+\n/, '');
}
