/**
 * Merged connection keys -> ConnectionSettings. Layers, strongest first:
 * inventory (host > child group > parent group > all) > ~/.ssh/config > built-in defaults.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ConnectionSettings } from '../connection/types.js';
import type { ConnValues } from './connection-keys.js';
import type { SshConfigReader } from './ssh-config.js';

export interface Environment {
  home: string;
  /** Local user name ($USER), the default login user. */
  user: string;
}

export const DEFAULT_KEY_FILES = ['id_ed25519', 'id_rsa', 'id_ecdsa'];

export function buildSettings(name: string, c: ConnValues, ssh: SshConfigReader, env: Environment): ConnectionSettings {
  // ssh config is matched against what would be typed after `ssh`: the address if given, else the name.
  const sc = ssh.lookup(c.address ?? name);
  const user = c.user ?? sc.user ?? env.user;
  const keyFiles = c.key_file ?? sc.identityFiles ?? DEFAULT_KEY_FILES.map((f) => path.join(env.home, '.ssh', f)).filter((f) => fs.existsSync(f));
  const settings: ConnectionSettings = {
    name,
    address: c.address ?? sc.hostName ?? name,
    port: c.port ?? sc.port ?? 22,
    user,
    keyFiles,
    become: c.become ?? false,
    becomeUser: c.become_user ?? 'root',
    knownHostsFiles: c.known_hosts ?? [path.join(env.home, '.ssh', 'known_hosts')],
    hostKeyPolicy: c.host_key_checking ?? 'strict',
    connectTimeoutMs: Math.round((c.connect_timeout ?? 10) * 1000),
    commandTimeoutMs: Math.round((c.command_timeout ?? 300) * 1000),
    keepaliveIntervalMs: Math.round((c.keepalive_interval ?? 5) * 1000),
  };
  if (c.password !== undefined) settings.password = c.password;
  if (c.become_password !== undefined) settings.becomePassword = c.become_password;
  const jump = c.proxy_jump ?? sc.proxyJump;
  if (jump) {
    // The jump host is itself looked up in ssh config (a Host alias there works); as with
    // OpenSSH, its user defaults to the local user, not the target's.
    const jc = ssh.lookup(jump.address);
    settings.proxyJump = {
      address: jc.hostName ?? jump.address,
      port: jump.port ?? jc.port ?? 22,
      user: jump.user ?? jc.user ?? env.user,
    };
  }
  return settings;
}
