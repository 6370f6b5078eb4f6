/**
 * The connection keys of the inventory (address, port, user, ...): their type checks and
 * the value each one yields. They may be set on a host entry or (all but `address`) in any
 * `vars` block.
 */
import os from 'node:os';
import path from 'node:path';
import type { HostKeyPolicy } from '../connection/types.js';
import type { YNode, YamlSource } from '../util/yaml.js';
import { short } from '../util/text.js';

export const CONNECTION_KEYS = [
  'address',
  'port',
  'user',
  'key_file',
  'password',
  'become',
  'become_user',
  'become_password',
  'host_key_checking',
  'known_hosts',
  'connect_timeout',
  'command_timeout',
  'keepalive_interval',
  'proxy_jump',
] as const;
export type ConnectionKey = (typeof CONNECTION_KEYS)[number];

export interface JumpSpec {
  address: string;
  port?: number;
  user?: string;
}

/** Typed values of connection keys as given at one level (paths already resolved). */
export interface ConnValues {
  address?: string;
  port?: number;
  user?: string;
  key_file?: string[];
  password?: string;
  become?: boolean;
  become_user?: string;
  become_password?: string;
  host_key_checking?: HostKeyPolicy;
  known_hosts?: string[];
  connect_timeout?: number;
  command_timeout?: number;
  keepalive_interval?: number;
  proxy_jump?: JumpSpec;
}

/** Keys whose values are secrets: no message ever shows them. */
export const SECRET_KEYS = ['password', 'become_password'] as const;

export const isConnectionKey = (k: string): k is ConnectionKey => (CONNECTION_KEYS as readonly string[]).includes(k);

export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const USER_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;
/** Host name, IPv4 or IPv6 literal. */
const ADDRESS_RE = /^[A-Za-z0-9._:%-]+$/;

/** `~` -> home; relative -> against `baseDir`. */
export function resolvePath(p: string, baseDir: string, home: string = os.homedir()): string {
  if (p === '~') return home;
  if (p.startsWith('~/')) return path.join(home, p.slice(2));
  return path.resolve(baseDir, p);
}

export function checkAddress(src: YamlSource, node: YNode, value: string, what: string): string {
  if (!ADDRESS_RE.test(value) || value.startsWith('-')) src.fail(node, `${what} "${short(value)}" is not a host name or IP address`);
  if (value.length > 253) src.fail(node, `${what} is ${value.length} characters long; a host name has at most 253`);
  return value;
}

/** `[user@]host[:port]`, host may be `[v6]`. Returns undefined when malformed. */
export function parseJump(spec: string): JumpSpec | undefined {
  const m = /^(?:([^@\s]+)@)?(\[[0-9A-Fa-f:.]+\]|[^@:\s[\]]+)(?::(\d+))?$/.exec(spec.trim());
  if (!m) return undefined;
  const [, user, host, port] = m;
  const address = host!.replace(/^\[|\]$/g, '');
  const jump: JumpSpec = { address };
  if (user !== undefined) {
    if (!USER_RE.test(user)) return undefined;
    jump.user = user;
  }
  if (port !== undefined) {
    const p = Number(port);
    if (p < 1 || p > 65535) return undefined;
    jump.port = p;
  }
  if (!ADDRESS_RE.test(address) || address.startsWith('-')) return undefined;
  return jump;
}

/** Type-checks one connection key and stores its value in `out`. */
export function readConnectionKey(src: YamlSource, key: ConnectionKey, node: YNode, keyNode: YNode, out: ConnValues, baseDir: string, home: string): void {
  const what = `"${key}"`;
  const str = () => src.string(node, what, keyNode);
  const seconds = (min: number) => {
    const v = src.number(node, `${what} (seconds)`, keyNode);
    if (v < min || v > 86400) src.fail(node, `${what} must be between ${min} and 86400 seconds, not ${v}`, undefined, keyNode);
    return v;
  };
  switch (key) {
    case 'address':
      out.address = checkAddress(src, node ?? keyNode, str(), 'address');
      return;
    case 'port':
      out.port = src.int(node, what, 1, 65535, keyNode);
      return;
    case 'user':
    case 'become_user': {
      const v = str();
      if (!USER_RE.test(v)) src.fail(node, `${what} "${short(v)}" is not a valid user name`);
      if (key === 'user') out.user = v;
      else out.become_user = v;
      return;
    }
    case 'key_file':
      out.key_file = src.stringList(node, what, keyNode).map((p) => resolvePath(p, baseDir, home));
      return;
    case 'known_hosts':
      out.known_hosts = src.stringList(node, what, keyNode).map((p) => resolvePath(p, baseDir, home));
      return;
    case 'password':
      out.password = oneLineSecret(src, node, what, keyNode);
      return;
    case 'become_password':
      out.become_password = oneLineSecret(src, node, what, keyNode);
      return;
    case 'become':
      out.become = src.bool(node, what, keyNode);
      return;
    case 'host_key_checking': {
      const v = src.scalar(node)?.value;
      if (v !== 'strict' && v !== 'accept-new') {
        src.fail(node, `${what} must be "strict" or "accept-new"`, 'accept-new trusts a host key the first time it is seen', keyNode);
      }
      out.host_key_checking = v;
      return;
    }
    case 'connect_timeout':
      out.connect_timeout = seconds(0.1);
      return;
    case 'command_timeout':
      out.command_timeout = seconds(0.1);
      return;
    case 'keepalive_interval':
      out.keepalive_interval = seconds(0);
      return;
    case 'proxy_jump': {
      const v = str();
      const jump = parseJump(v);
      if (!jump) src.fail(node, `${what} "${short(v)}" must look like user@host:port (one jump host)`);
      out.proxy_jump = jump;
      return;
    }
  }
}

/**
 * A password is one line: sudo reads one line from stdin, and what follows a line break would
 * become the first bytes of the command's own input (a file written through sudo). `key: |`
 * adds a line break at the end, so it is refused here, where file:line:col can be given.
 */
function oneLineSecret(src: YamlSource, node: YNode, what: string, keyNode: YNode): string {
  const v = src.secretString(node, what, keyNode);
  if (/[\r\n]/.test(v))
    src.fail(
      node,
      `${what} contains a line break (the value is not shown)`,
      'write it on one line, quoted ("..."); a block scalar (|) ends with a line break',
      keyNode,
    );
  return v;
}
