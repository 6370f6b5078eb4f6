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
 * under /var/lib/etcd, mode 0700) and the probe fails with status 3. For a probeScript (it
 * returns, never exits).
 */
export const SH_ABSENT = `d=$p
while :; do d=$(dirname -- "$d"; echo x); d=\${d%??}; [ -e "$d" ] || [ "$d" = / ] || [ "$d" = . ] && break; done
if [ -x "$d" ]; then echo absent; return 0; fi
echo "cannot tell whether it exists: $d is not searchable (needs become?)" >&2; return 3`;
