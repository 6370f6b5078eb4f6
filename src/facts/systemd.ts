import { shellJoin } from '../connection/quote.js';
import type { Connection } from '../connection/types.js';
import { defineFact, UNKNOWABLE, type Unknowable } from './types.js';
import { probeFailed } from './util.js';

export interface SystemdUnit {
  /** Full unit name, e.g. etcd.service. */
  unit: string;
  loadState: string; // loaded | not-found | masked | bad-setting | error
  activeState: string; // active | inactive | failed | activating | deactivating | reloading
  subState: string;
  unitFileState: string; // enabled | disabled | static | masked | '' (no unit file) ...
  fragmentPath: string;
  dropInPaths: string[];
  needDaemonReload: boolean;
}

const PROPS = ['LoadState', 'ActiveState', 'SubState', 'UnitFileState', 'FragmentPath', 'DropInPaths', 'NeedDaemonReload'];
const UNIT_TYPES = /\.(service|socket|target|timer|mount|path|slice|scope|device|swap|automount)$/;

/** `etcd` -> `etcd.service`; names with a unit type are kept. */
export const unitName = (name: string): string => (UNIT_TYPES.test(name) ? name : `${name}.service`);

export const systemdUnit = defineFact<SystemdUnit, { name: string }>({
  name: 'systemd_unit',
  command: ({ name }) => shellJoin(['systemctl', 'show', '-p', PROPS.join(','), '--', unitName(name)]),
  parse(stdout, exitCode, { name }, stderr) {
    if (exitCode !== 0) throw probeFailed(`systemd_unit(${name})`, exitCode, stderr, stdout);
    const kv = showProps(stdout);
    const get = (k: string) => kv.get(k) ?? '';
    return {
      unit: unitName(name),
      loadState: get('LoadState'),
      activeState: get('ActiveState'),
      subState: get('SubState'),
      unitFileState: get('UnitFileState'),
      fragmentPath: get('FragmentPath'),
      dropInPaths: get('DropInPaths').split(' ').filter(Boolean),
      needDaemonReload: get('NeedDaemonReload') === 'yes',
    };
  },
  predict({ name }, earlier, probed) {
    const unit = unitName(name);
    let u: SystemdUnit | Unknowable | undefined;
    for (const step of earlier) {
      const cur = u ?? probed;
      const found = cur !== UNKNOWABLE && cur.loadState !== 'not-found';
      if (step.kind === 'file' && isUnitPath(step.path, unit)) u = found ? { ...cur, needDaemonReload: true } : UNKNOWABLE;
      for (const e of step.effects ?? []) {
        // A package may ship the unit; one that is already found stays as it is.
        if (e.kind === 'package' && !found) u = UNKNOWABLE;
        else if (e.kind === 'daemon-reload' && cur !== UNKNOWABLE) u = { ...cur, needDaemonReload: false };
        else if (e.kind === 'service' && unitName(e.name) === unit) {
          const base = cur === UNKNOWABLE || !found ? { ...probed, loadState: 'loaded', unitFileState: 'disabled' } : cur;
          u = {
            ...base,
            ...(e.active === undefined ? {} : { activeState: e.active ? 'active' : 'inactive', subState: e.active ? 'running' : 'dead' }),
            ...(e.enabled === undefined ? {} : { unitFileState: e.enabled ? 'enabled' : 'disabled' }),
          };
        }
      }
    }
    return u;
  },
});

/** Unit files and drop-ins of `unit` in the directories systemd reads. */
const isUnitPath = (path: string, unit: string): boolean =>
  /^\/(etc|run|usr\/lib|lib)\/systemd\/system\//.test(path) && (path.endsWith(`/${unit}`) || path.includes(`/${unit}.d/`));

/** `systemctl show` output: Key=value lines. */
function showProps(stdout: string): Map<string, string> {
  const kv = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) kv.set(line.slice(0, i), line.slice(i + 1));
  }
  return kv;
}

/** How many journal lines a failure report shows (as `journalctl -u UNIT -n 20 --no-pager`). */
export const JOURNAL_LINES = 20;

/**
 * What a user would look at when a unit does not come up: its state as systemd has it and
 * the unit's last journal lines. Best effort: a failed probe is said in the text.
 */
export async function unitReport(conn: Connection, name: string, lines = JOURNAL_LINES): Promise<string> {
  const unit = unitName(name);
  const journalCmd = shellJoin(['journalctl', '-u', unit, '-n', String(lines), '--no-pager']);
  const [show, journal] = await Promise.all([
    conn.exec(shellJoin(['systemctl', 'show', '-p', 'ActiveState,SubState,Result,NRestarts', '--', unit])),
    conn.exec(journalCmd),
  ]);
  const p = Object.fromEntries(showProps(show.stdout));
  const state =
    show.exitCode === 0
      ? `${unit} is ${p.ActiveState ?? '?'} (${p.SubState ?? '?'})${p.Result && p.Result !== 'success' ? `, result: ${p.Result}` : ''}${Number(p.NRestarts) > 0 ? `, restarted ${p.NRestarts} times` : ''}`
      : `${unit}: systemctl show failed: ${show.stderr.trim()}`;
  const log = journal.exitCode === 0 ? journal.stdout.replace(/\s+$/, '') || '(no journal entries)' : `(journalctl failed: ${journal.stderr.trim()})`;
  return `${state}\n$ ${journalCmd}\n${log}`;
}

/** unitReport() when systemd has given up on the unit (ActiveState=failed), else undefined. */
export async function failedUnitReport(conn: Connection, name: string): Promise<string | undefined> {
  const r = await conn.exec(shellJoin(['systemctl', 'show', '-p', 'ActiveState', '--value', '--', unitName(name)]));
  return r.exitCode === 0 && r.stdout.trim() === 'failed' ? unitReport(conn, name) : undefined;
}
