import { probeScript } from '../connection/batch.js';
import { predictPath } from './file.js';
import { defineFact, UNKNOWABLE } from './types.js';
import { probeFailed, SH_ABSENT } from './util.js';

const SCRIPT = `p=$1
if [ -e "$p" ] || [ -L "$p" ]; then echo present; return 0; fi
${SH_ABSENT}`;

export const pathExists = defineFact<boolean, { path: string }>({
  name: 'path_exists',
  command: ({ path }) => probeScript(SCRIPT, path),
  parse(stdout, exitCode, { path }, stderr) {
    const out = stdout.trim();
    if (exitCode === 0 && (out === 'present' || out === 'absent')) return out === 'present';
    throw probeFailed(`path_exists(${path})`, exitCode, stderr, stdout);
  },
  predict({ path }, earlier, probed) {
    const p = predictPath(path, earlier, probed ? { exists: true, type: 'other', mode: 0, owner: '', group: '', size: 0 } : { exists: false });
    return p === undefined || p === UNKNOWABLE ? p : p.exists;
  },
});
