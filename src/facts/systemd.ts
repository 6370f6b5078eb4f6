import { shellJoin } from '../connection/quote.js';
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
    const kv = new Map<string, string>();
    for (const line of stdout.split('\n')) {
      const i = line.indexOf('=');
      if (i > 0) kv.set(line.slice(0, i), line.slice(i + 1));
    }
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
