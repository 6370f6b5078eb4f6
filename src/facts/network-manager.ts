import { shellJoin } from '../connection/quote.js';
import { defineFact, UNKNOWABLE, type Unknowable } from './types.js';
import { probeFailed } from './util.js';

/** Whether NetworkManager runs, and the [main] settings that decide if it writes resolv.conf. */
export interface NetworkManagerState {
  active: boolean;
  /** `systemctl is-enabled`: it starts at boot (and rewrites resolv.conf then). */
  enabled: boolean;
  /** [main] dns= of the merged configuration (unset: NetworkManager's default, which writes resolv.conf). */
  dns?: string;
  /** [main] rc-manager= */
  rcManager?: string;
  /** `NetworkManager --print-config` ran; without it dns/rcManager are unknown. */
  configKnown: boolean;
}

const MARK = '--print-config--';
const SCRIPT = `PATH=$PATH:/usr/sbin:/sbin
command -v systemctl >/dev/null 2>&1 || { echo no-systemd; exit 0; }
printf 'active=%s\\n' "$(systemctl is-active NetworkManager.service 2>/dev/null)"
printf 'enabled=%s\\n' "$(systemctl is-enabled NetworkManager.service 2>/dev/null)"
if command -v NetworkManager >/dev/null 2>&1; then
  printf '%s\\n' '${MARK}'
  NetworkManager --print-config 2>/dev/null
fi
exit 0`;

const UNIT = 'NetworkManager.service';

export const networkManager = defineFact<NetworkManagerState, void>({
  name: 'network_manager',
  command: () => shellJoin(['sh', '-c', SCRIPT]),
  parse(stdout, exitCode, _args, stderr) {
    if (exitCode !== 0) throw probeFailed('network_manager', exitCode, stderr, stdout);
    if (stdout.trim() === 'no-systemd') return { active: false, enabled: false, configKnown: false };
    const at = stdout.indexOf(`\n${MARK}\n`);
    const head = at < 0 ? stdout : stdout.slice(0, at);
    const get = (k: string) => new RegExp(`^${k}=(.*)$`, 'm').exec(head)?.[1]?.trim() ?? '';
    const state: NetworkManagerState = {
      active: ['active', 'activating', 'reloading'].includes(get('active')),
      enabled: get('enabled') === 'enabled',
      configKnown: at >= 0,
    };
    if (at >= 0) Object.assign(state, mainSettings(stdout.slice(at + MARK.length + 2)));
    return state;
  },
  predict(_args, earlier, probed) {
    let s: NetworkManagerState | Unknowable | undefined;
    for (const step of earlier) {
      // A new NetworkManager configuration file: its effect is only known once NM reads it.
      if (step.kind === 'file' && /^\/(etc|usr\/lib|run)\/NetworkManager\//.test(step.path)) s = UNKNOWABLE;
      for (const e of step.effects ?? []) {
        if (e.kind === 'package' && e.name === 'NetworkManager') s = UNKNOWABLE;
        else if (e.kind === 'service' && (e.name === UNIT || e.name === 'NetworkManager') && s !== UNKNOWABLE) {
          const cur = s ?? probed;
          s = { ...cur, ...(e.active === undefined ? {} : { active: e.active }), ...(e.enabled === undefined ? {} : { enabled: e.enabled }) };
        }
      }
    }
    return s;
  },
});

/** dns= and rc-manager= of the [main] section; `# key=value` lines are defaults NM shows as comments. */
function mainSettings(config: string): { dns?: string; rcManager?: string } {
  const out: { dns?: string; rcManager?: string } = {};
  let section = '';
  for (const raw of config.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || line === '') continue;
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec) {
      section = sec[1]!.trim();
      continue;
    }
    const kv = /^([A-Za-z0-9_.-]+)\s*=\s*(.*)$/.exec(line);
    if (!kv || section !== 'main') continue;
    if (kv[1] === 'dns') out.dns = kv[2]!;
    if (kv[1] === 'rc-manager') out.rcManager = kv[2]!;
  }
  return out;
}

/** NetworkManager writes resolv.conf unless it is told not to (dns=none or rc-manager=unmanaged). */
export const nmWritesResolvConf = (s: NetworkManagerState): boolean => (s.active || s.enabled) && s.dns !== 'none' && s.rcManager !== 'unmanaged';
