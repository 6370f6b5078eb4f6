/** Applies one planned step on a host. */
import type { Connection } from '../connection/types.js';
import { shellJoin } from '../connection/quote.js';
import { ProvisionError } from '../errors.js';
import { unitReport } from '../facts/systemd.js';
import type { Step } from '../plan/types.js';
import { fileStamp } from '../util/format.js';

const tail = (s: string, n = 20) => s.trim().split('\n').slice(-n).join('\n');

export async function applyStep(conn: Connection, step: Step): Promise<void> {
  if (step.kind === 'command') {
    const r = await conn.exec(step.command, { become: step.become, timeoutMs: step.timeoutMs, ...(step.nodeLocale ? { nodeLocale: true } : {}) });
    if (r.exitCode !== 0) {
      const out = tail(r.stderr) || tail(r.stdout);
      // A unit that did not start: what systemd and its journal say is the useful part.
      const unit = step.effects?.find((e) => e.kind === 'service')?.name;
      const report = unit ? await unitReport(conn, unit).catch(() => '') : '';
      throw new ProvisionError(
        'COMMAND',
        `${step.description} failed (exit ${r.exitCode}): ${r.command}${out ? `\n${out}` : ''}${report ? `\n${report}` : ''}`,
      );
    }
    return;
  }
  if (step.backup && step.before) {
    const r = await conn.exec(shellJoin(['cp', '-p', '--', step.path, `${step.path}.${fileStamp()}.bak`]));
    if (r.exitCode !== 0) throw new ProvisionError('COMMAND', `backup of ${step.path} failed: ${tail(r.stderr)}`);
  }
  // A file that exists has its directory; otherwise make sure the directory is there.
  if (typeof step.before !== 'string') {
    const dir = step.path.slice(0, step.path.lastIndexOf('/')) || '/';
    const mk = await conn.exec(shellJoin(['mkdir', '-p', '--', dir]));
    if (mk.exitCode !== 0) throw new ProvisionError('COMMAND', `cannot create ${dir}: ${tail(mk.stderr)}`);
  }
  await conn.writeFile(step.path, step.after, {
    mode: step.mode,
    owner: step.owner,
    group: step.group,
    ...(step.replacesLink ? { replaceLink: true } : {}),
  });
}
