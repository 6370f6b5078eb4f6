/**
 * Ansible's connection variables (`ansible_host`, `ansible_user`, ...) and what each one is
 * here; and the strictness that goes with them: a key in `vars` that looks like a connection
 * setting but is none (a near-miss, or an `ansible_*` key with no equivalent) is an error with
 * a did-you-mean, since a silently ignored `ansible_user` would connect as someone else.
 */
import type { ConnectionKey, ConnValues } from './connection-keys.js';
import { parseJump, resolvePath } from './connection-keys.js';
import type { YNode, YamlSource } from '../util/yaml.js';
import { short } from '../util/text.js';
import { editDistance } from '../util/did-you-mean.js';

/** Ansible variable -> our key, where the meaning is the same. */
export const ANSIBLE_KEYS: Record<string, ConnectionKey> = {
  ansible_host: 'address',
  ansible_ssh_host: 'address',
  ansible_port: 'port',
  ansible_ssh_port: 'port',
  ansible_user: 'user',
  ansible_ssh_user: 'user',
  ansible_ssh_private_key_file: 'key_file',
  ansible_private_key_file: 'key_file',
  ansible_password: 'password',
  ansible_ssh_pass: 'password',
  ansible_ssh_password: 'password',
  ansible_become: 'become',
  ansible_sudo: 'become',
  ansible_become_user: 'become_user',
  ansible_sudo_user: 'become_user',
  ansible_become_password: 'become_password',
  ansible_become_pass: 'become_password',
  ansible_sudo_pass: 'become_password',
  ansible_sudo_password: 'become_password',
  ansible_host_key_checking: 'host_key_checking',
  ansible_ssh_host_key_checking: 'host_key_checking',
  ansible_timeout: 'connect_timeout',
  ansible_ssh_timeout: 'connect_timeout',
};

/** Ansible variables read specially (not one key of ours, or only some values map). */
export const ANSIBLE_SPECIAL = [
  'ansible_connection',
  'ansible_become_method',
  'ansible_ssh_common_args',
  'ansible_ssh_extra_args',
  'ansible_python_interpreter',
] as const;

export const isAnsibleKey = (k: string): boolean => Object.hasOwn(ANSIBLE_KEYS, k) || (ANSIBLE_SPECIAL as readonly string[]).includes(k);

/** Names people use for our connection keys (from other tools), each with the key it means. */
const SYNONYMS: Record<string, string> = {
  ssh_host: 'address',
  ip_address: 'address',
  username: 'user',
  ssh_user: 'user',
  remote_user: 'user',
  login_user: 'user',
  ssh_port: 'port',
  identity_file: 'key_file',
  private_key: 'key_file',
  private_key_file: 'key_file',
  ssh_key: 'key_file',
  ssh_key_file: 'key_file',
  ssh_private_key_file: 'key_file',
  keyfile: 'key_file',
  ssh_password: 'password',
  ssh_pass: 'password',
  passwd: 'password',
  sudo: 'become',
  sudo_user: 'become_user',
  sudo_password: 'become_password',
  sudo_pass: 'become_password',
  become_pass: 'become_password',
  become_method: 'become',
  jump_host: 'proxy_jump',
  proxyjump: 'proxy_jump',
  strict_host_key_checking: 'host_key_checking',
};

const norm = (k: string) => k.toLowerCase().replace(/[_-]/g, '');

/** The connection key (ours or Ansible's) `key` is probably a misspelling of, if any. */
export function nearMiss(key: string, ours: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  if (Object.hasOwn(SYNONYMS, lower)) return SYNONYMS[lower];
  const candidates = [...ours, ...Object.keys(ANSIBLE_KEYS), ...ANSIBLE_SPECIAL];
  let best: { k: string; d: number } | undefined;
  for (const c of candidates) {
    if (c === key) return undefined;
    // A plural is another word (users, ports), not a typo of the setting.
    if (lower === `${c}s`) continue;
    const d = norm(c) === norm(key) ? 0 : editDistance(lower, c);
    const allowed = c.length <= 6 ? 1 : 2;
    if (d <= allowed && (!best || d < best.d)) best = { k: c, d };
  }
  return best?.k;
}

const YES = new Set(['yes', 'true', 'on', '1']);
const NO = new Set(['no', 'false', 'off', '0']);

/** Ansible's booleans: true/false, and (YAML 1.1, INI) yes/no/on/off as strings. */
export function ansibleBool(src: YamlSource, node: YNode, what: string, keyNode: YNode): boolean {
  const s = src.scalar(node);
  if (s && typeof s.value === 'boolean') return s.value;
  const v = s && (typeof s.value === 'string' || typeof s.value === 'number') ? String(s.value).toLowerCase() : undefined;
  if (v !== undefined && YES.has(v)) return true;
  if (v !== undefined && NO.has(v)) return false;
  return src.fail(node, `${what} must be true or false`, undefined, keyNode);
}

/** A value of Ansible's that our key takes in another form: done here, the rest by readConnectionKey. */
export function readAnsibleSpecial(
  src: YamlSource,
  key: string,
  node: YNode,
  keyNode: YNode,
  out: ConnValues,
  ctx: { baseDir: string; home: string; warnings: string[] },
): void {
  const text = () => {
    const s = src.scalar(node);
    if (!s || (typeof s.value !== 'string' && typeof s.value !== 'number')) src.fail(node, `"${key}" must be a string`, undefined, keyNode);
    return String(s.value);
  };
  switch (key) {
    case 'ansible_connection': {
      const v = text();
      if (!['ssh', 'smart', 'paramiko'].includes(v)) {
        src.fail(
          node,
          `"ansible_connection: ${short(v)}" cannot be mapped: provision connects over SSH only`,
          'remove it, or leave such hosts out of this inventory',
          keyNode,
        );
      }
      return;
    }
    case 'ansible_become_method': {
      const v = text();
      if (v !== 'sudo')
        src.fail(
          node,
          `"ansible_become_method: ${short(v)}" cannot be mapped: provision becomes another user with sudo only`,
          'use sudo, or remove the key',
          keyNode,
        );
      return;
    }
    case 'ansible_python_interpreter':
      ctx.warnings.push(`${src.file}:${src.loc(keyNode).line}: ansible_python_interpreter is ignored: provision needs no Python on the hosts`);
      return;
    case 'ansible_ssh_common_args':
    case 'ansible_ssh_extra_args':
      readSshArgs(src, key, node, keyNode, out, ctx);
      return;
  }
}

/** Shell-like words: whitespace-separated, with '...' and "..." quoting. */
export function shellWords(s: string): string[] | undefined {
  const out: string[] = [];
  let cur: string | undefined;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === "'" || c === '"') {
      const j = s.indexOf(c, i + 1);
      if (j < 0) return undefined;
      cur = (cur ?? '') + s.slice(i + 1, j);
      i = j;
    } else if (/\s/.test(c)) {
      if (cur !== undefined) out.push(cur);
      cur = undefined;
    } else cur = (cur ?? '') + c;
  }
  if (cur !== undefined) out.push(cur);
  return out;
}

/** `-o ProxyCommand="ssh -W %h:%p -q [-p N] [user@]jump"` -> the jump host. */
function proxyCommandJump(cmd: string): string | undefined {
  const w = shellWords(cmd);
  if (!w || w[0] !== 'ssh' || !w.includes('-W')) return undefined;
  let port: string | undefined;
  let host: string | undefined;
  for (let i = 1; i < w.length; i++) {
    const t = w[i]!;
    if (t === '-W') i++;
    else if (t === '-p') port = w[++i];
    else if (t === '-q') continue;
    else if (t.startsWith('-')) return undefined;
    else if (host) return undefined;
    else host = t;
  }
  return host && `${host}${port ? `:${port}` : ''}`;
}

/** The SSH options Ansible users put in ansible_ssh_common_args that have an equivalent here. */
function readSshArgs(src: YamlSource, key: string, node: YNode, keyNode: YNode, out: ConnValues, ctx: { baseDir: string; home: string }): void {
  const s = src.scalar(node);
  if (!s || typeof s.value !== 'string') src.fail(node, `"${key}" must be a string`, undefined, keyNode);
  const words = shellWords(s.value as string);
  if (!words) src.fail(node, `"${key}": unbalanced quote`, undefined, keyNode);
  const cannot = (
    what: string,
    hint = 'the options that map: -o ProxyJump/ProxyCommand (ssh -W), -J, -o StrictHostKeyChecking=yes|accept-new, -o UserKnownHostsFile, -o ConnectTimeout, -o ServerAliveInterval, -p, -i, -l',
  ): never => src.fail(node, `"${key}": ${what} cannot be mapped to provision's settings`, hint, keyNode);
  const seconds = (v: string, opt: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) cannot(`${opt}=${short(v)}`);
    return n;
  };
  const jump = (v: string) => {
    const j = parseJump(v);
    if (!j || v.includes(',')) cannot(`jump host "${short(v)}"`, 'one jump host, as [user@]host[:port]');
    out.proxy_jump = j;
  };
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    const arg = () => {
      if (i + 1 >= words.length) cannot(`${w} without a value`);
      return words[++i]!;
    };
    if (w === '-J') jump(arg());
    else if (w === '-p') out.port = Number(arg());
    else if (w === '-i') out.key_file = [...(out.key_file ?? []), resolvePath(arg(), ctx.baseDir, ctx.home)];
    else if (w === '-l') out.user = arg();
    else if (w === '-q' || w === '-C') continue;
    else if (w.startsWith('-o')) {
      const opt = w.length > 2 ? w.slice(2) : arg();
      const m = /^([A-Za-z]+)(?:\s*=\s*|\s+)(.*)$/.exec(opt);
      if (!m) cannot(`-o ${short(opt)}`);
      const [, name, value] = m as unknown as [string, string, string];
      switch (name.toLowerCase()) {
        case 'proxyjump':
          jump(value);
          break;
        case 'proxycommand': {
          const j = proxyCommandJump(value);
          if (!j) cannot(`ProxyCommand "${short(value)}"`, 'only "ssh -W %h:%p [user@]jump" maps (to proxy_jump)');
          jump(j!);
          break;
        }
        case 'stricthostkeychecking': {
          const v = value.toLowerCase();
          if (v === 'yes') out.host_key_checking = 'strict';
          else if (v === 'accept-new') out.host_key_checking = 'accept-new';
          else cannot(`StrictHostKeyChecking=${short(value)}`, 'provision always checks host keys: use yes (strict) or accept-new');
          break;
        }
        case 'userknownhostsfile':
          out.known_hosts = value.split(/\s+/).map((p) => resolvePath(p, ctx.baseDir, ctx.home));
          break;
        case 'connecttimeout':
          out.connect_timeout = seconds(value, name);
          break;
        case 'serveraliveinterval':
          out.keepalive_interval = seconds(value, name);
          break;
        case 'port':
          out.port = Number(value);
          break;
        case 'user':
          out.user = value;
          break;
        case 'identityfile':
          out.key_file = [...(out.key_file ?? []), resolvePath(value, ctx.baseDir, ctx.home)];
          break;
        // Connection sharing only changes how fast ssh(1) reconnects; provision keeps one
        // connection per host for the whole run anyway.
        case 'controlmaster':
        case 'controlpersist':
        case 'controlpath':
          break;
        default:
          cannot(`-o ${short(name)}`);
      }
    } else cannot(`"${short(w)}"`);
  }
  if (out.port !== undefined && (!Number.isInteger(out.port) || out.port < 1 || out.port > 65535)) cannot('the port');
}
