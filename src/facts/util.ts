import { shellJoin } from '../connection/quote.js';
import { ProvisionError } from '../errors.js';
import type { Effect, Step } from '../plan/types.js';

/** A probe failed in a way its parser does not understand. */
export function probeFailed(fact: string, exitCode: number, stderr = '', stdout = ''): ProvisionError {
  const out = (stderr.trim() || stdout.trim()).split('\n').slice(-3).join('\n');
  return new ProvisionError('COMMAND', `fact ${fact} failed (exit ${exitCode})${out ? `: ${out}` : ''}`);
}

/** All effects of the steps, in order. */
export const effectsOf = (steps: readonly Step[]): Effect[] => steps.flatMap((s) => s.effects ?? []);

/**
 * Shell lines run when "$p" does not exist: print "absent", unless the nearest existing
 * ancestor cannot be searched, in which case absence is not known (a probe without sudo
 * under /var/lib/etcd, mode 0700) and the script fails with exit 3.
 */
export const SH_ABSENT = `d=$p
while :; do d=$(dirname -- "$d"; echo x); d=\${d%??}; [ -e "$d" ] || [ "$d" = / ] || [ "$d" = . ] && break; done
if [ -x "$d" ]; then echo absent; exit 0; fi
echo "cannot tell whether it exists: $d is not searchable (needs become?)" >&2; exit 3`;

/**
 * A probe's shell script with its arguments ($1...), as one command that the shell it reaches
 * runs itself (the login shell, a batch's subshell, or sh -c under sudo), rather than through a
 * new `sh -c`: one process fewer per probe. A fact's command always runs alone (facts/run.ts),
 * never inside a larger command, so the script's `exit` ends the probe and nothing else.
 */
export const inlineScript = (script: string, ...args: string[]): string => `set -- ${shellJoin(args)}\n${script}`;
