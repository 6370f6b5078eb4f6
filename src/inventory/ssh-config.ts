/**
 * The user's ~/.ssh/config as a middle layer: inventory values win over it, it wins over
 * built-in defaults. Only HostName, User, Port, IdentityFile and ProxyJump are used.
 */
import fs from 'node:fs';
import SSHConfig from 'ssh-config';
import { ProvisionError } from '../errors.js';
import { parseJump, resolvePath, type JumpSpec } from './connection-keys.js';

export interface SshConfigValues {
  hostName?: string;
  user?: string;
  port?: number;
  identityFiles?: string[];
  proxyJump?: JumpSpec;
}

export interface SshConfigReader {
  lookup(host: string): SshConfigValues;
}

const EMPTY: SshConfigReader = { lookup: () => ({}) };

/** Reads `file`; a missing file gives an empty config. */
export function readSshConfig(file: string, home: string): SshConfigReader {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return EMPTY;
    throw new ProvisionError('INVENTORY', `cannot read ssh config ${file}: ${(e as Error).message}`);
  }
  let config: SSHConfig;
  try {
    config = SSHConfig.parse(text);
  } catch (e) {
    throw new ProvisionError('INVENTORY', `cannot parse ssh config ${file}: ${(e as Error).message}`);
  }
  return {
    lookup(host: string): SshConfigValues {
      // matchExec: false: computing the config must never run commands.
      const c = config.compute(host, { ignoreCase: true, matchExec: false });
      const one = (k: string): string | undefined => {
        const v = c[k];
        const s = Array.isArray(v) ? v[0] : v;
        return s === undefined || s.toLowerCase() === 'none' ? undefined : s;
      };
      const out: SshConfigValues = {};
      const hostName = one('hostname');
      if (hostName && /^[A-Za-z0-9._:-]+$/.test(hostName)) out.hostName = hostName;
      const user = one('user');
      if (user && !user.includes('%')) out.user = user;
      const port = Number(one('port'));
      if (Number.isInteger(port) && port >= 1 && port <= 65535) out.port = port;
      const ids = c['identityfile'];
      if (ids !== undefined) {
        const list = (Array.isArray(ids) ? ids : [ids]).filter((p) => !p.includes('%') && p.toLowerCase() !== 'none');
        out.identityFiles = list.map((p) => resolvePath(p, home, home));
      }
      const jump = one('proxyjump');
      if (jump) {
        const parsed = jump.includes(',') ? undefined : parseJump(jump);
        if (!parsed) {
          throw new ProvisionError('INVENTORY', `${file}: ProxyJump "${jump}" for ${host} is not supported`, {
            hint: 'only one jump host (user@host:port) is supported; set proxy_jump in the inventory instead',
          });
        }
        out.proxyJump = parsed;
      }
      return out;
    },
  };
}
