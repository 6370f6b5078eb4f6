/**
 * The command-line options Ansible users bring with them, shared by the run, `exec` and
 * `status`: -i, -e/--extra-vars, -k/-K and the password files, and the passphrase of a
 * protected key. Kept apart from main.ts so that each command takes them the same way.
 */
import fs from 'node:fs';
import path from 'node:path';
import ssh2 from 'ssh2';
import type { ConnectionSettings } from '../connection/types.js';
import { ProvisionError } from '../errors.js';
import { readVarLevel, type VarLevel } from '../inventory/groups.js';
import type { Inventory } from '../inventory/types.js';
import { YamlSource } from '../util/yaml.js';
import { SECRET_KEYS } from '../inventory/connection-keys.js';
import { askSecret, readPasswordFile, type AskSecret } from './prompt.js';
import type { CommonValues } from './common-options.js';

/**
 * -e values, in order (a later one wins): `key=value ...` (values read as YAML scalars, so
 * port=2222 is a number), `@file.yaml`, or a YAML/JSON map.
 */
export function extraVars(values: CommonValues, baseDir: string, home: string, warnings: string[]): VarLevel | undefined {
  const list = values['extra-vars'] ?? [];
  if (list.length === 0) return undefined;
  const out: VarLevel = { raw: {}, conn: {}, from: {} };
  list.forEach((arg, i) => {
    let src: YamlSource;
    const label = `-e #${i + 1}`;
    if (arg.startsWith('@')) {
      const file = arg.slice(1);
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch (e) {
        throw new ProvisionError('USAGE', `-e ${arg}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
      src = YamlSource.parse(text, file, 'USAGE', { secretKeys: SECRET_KEYS });
    } else if (/^\s*\{/.test(arg)) {
      src = YamlSource.parse(arg, label, 'USAGE', { secretKeys: SECRET_KEYS });
    } else {
      const pairs = splitPairs(arg);
      if (!pairs) throw new ProvisionError('USAGE', `-e: expected KEY=VALUE, @FILE or a JSON map, not "${arg.length > 40 ? '...' : arg}"`);
      const yaml = pairs.map(([k, v]) => `${JSON.stringify(k)}: ${/pass/i.test(k) ? JSON.stringify(v) : yamlScalar(v)}`).join('\n');
      src = YamlSource.parse(yaml, label, 'USAGE', { secretKeys: SECRET_KEYS });
    }
    const level = readVarLevel(src, src.root, `--extra-vars`, path.resolve(baseDir), home, warnings);
    Object.assign(out.raw, level.raw);
    Object.assign(out.conn, level.conn);
  });
  return out;
}

/** A value as YAML reads it when plain (numbers, true/false), else a string. */
function yamlScalar(v: string): string {
  return /^-?\d+(\.\d+)?$/.test(v) || /^(true|false)$/.test(v) ? v : JSON.stringify(v);
}

/** `a=1 b='two words'` -> pairs; undefined when a word is not KEY=VALUE. */
function splitPairs(s: string): [string, string][] | undefined {
  const out: [string, string][] = [];
  const re = /\s*([^=\s]+)=("(?:[^"\\]|\\.)*"|'[^']*'|\S*)/y;
  let m: RegExpExecArray | null;
  let at = 0;
  while (at < s.length && (m = re.exec(s))) {
    let v = m[2]!;
    if (v.startsWith("'")) v = v.slice(1, -1);
    else if (v.startsWith('"')) v = JSON.parse(v) as string;
    out.push([m[1]!, v]);
    at = re.lastIndex;
    if (/^\s*$/.test(s.slice(at))) return out;
  }
  return out.length && /^\s*$/.test(s.slice(at)) ? out : undefined;
}

export interface Credentials {
  /** Secrets now known (for the output's redaction). */
  secrets: string[];
}

/**
 * -k/-K and the password files fill in the passwords the inventory does not give (its own
 * win, as Ansible's host variables win over -k/-K); a protected key file used by a host of the
 * run is unlocked with a passphrase asked for once, unless the SSH agent holds that key.
 */
export async function applyCredentials(values: CommonValues, inventory: Inventory, hosts: string[], ask: AskSecret = askSecret): Promise<Credentials> {
  const secrets: string[] = [];
  const settings = hosts.map((h) => inventory.hosts.get(h)!.connection);
  const fill = async (flag: boolean | undefined, file: string | undefined, fileOpt: string, prompt: string, key: 'password' | 'becomePassword') => {
    if (flag && file) throw new ProvisionError('USAGE', `give ${key === 'password' ? '-k' : '-K'} or ${fileOpt}, not both`);
    if (!flag && !file) return;
    const value = file ? readPasswordFile(file, fileOpt) : await ask(prompt);
    secrets.push(value);
    for (const s of settings) if (s[key] === undefined) s[key] = value;
  };
  await fill(values['ask-pass'], values['connection-password-file'], '--connection-password-file', 'SSH password: ', 'password');
  await fill(values['ask-become-pass'], values['become-password-file'], '--become-password-file', 'BECOME password: ', 'becomePassword');
  await unlockKeys(settings, ask, secrets);
  return { secrets };
}

async function unlockKeys(settings: ConnectionSettings[], ask: AskSecret, secrets: string[]): Promise<void> {
  const asked = new Map<string, string | undefined>();
  const agentKeys = await agentPublicKeys();
  for (const s of settings) {
    for (const f of s.keyFiles) {
      if (!asked.has(f)) asked.set(f, await passphraseFor(f, agentKeys, ask));
      const p = asked.get(f);
      if (p !== undefined) {
        s.keyPassphrases = { ...s.keyPassphrases, [f]: p };
        secrets.push(p);
      }
    }
  }
}

/** Asks for a key's passphrase when it has one, the agent lacks it and there is a terminal; up to 3 tries. */
async function passphraseFor(file: string, agentKeys: Set<string>, ask: AskSecret): Promise<string | undefined> {
  let data: Buffer;
  try {
    data = fs.readFileSync(file);
  } catch {
    return undefined;
  }
  const plain = ssh2.utils.parseKey(data);
  if (!(plain instanceof Error) || !/passphrase|encrypted/i.test(plain.message)) return undefined;
  const pub = publicKeyOf(file);
  if (pub && agentKeys.has(pub)) return undefined; // the agent signs with it
  for (let attempt = 0; attempt < 3; attempt++) {
    const p = await ask(`Enter passphrase for key '${file}': `);
    const parsed = ssh2.utils.parseKey(data, p);
    if (!(parsed instanceof Error)) return p;
  }
  throw new ProvisionError('AUTH', `wrong passphrase for key ${file} (3 tries)`);
}

/** The base64 blob of `<key>.pub`, if there is one. */
function publicKeyOf(file: string): string | undefined {
  try {
    return fs.readFileSync(`${file}.pub`, 'utf8').trim().split(/\s+/)[1];
  } catch {
    return undefined;
  }
}

/** Public key blobs the SSH agent holds (empty without an agent). */
async function agentPublicKeys(): Promise<Set<string>> {
  const sock = process.env.SSH_AUTH_SOCK;
  if (!sock) return new Set();
  const { OpenSSHAgent } = ssh2 as unknown as {
    OpenSSHAgent: new (sock: string) => { getIdentities(cb: (err: Error | undefined, keys?: { getPublicSSH(): Buffer }[]) => void): void };
  };
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(new Set()), 5000);
    try {
      new OpenSSHAgent(sock).getIdentities((err, keys) => {
        clearTimeout(timer);
        resolve(new Set(err || !keys ? [] : keys.map((k) => k.getPublicSSH().toString('base64'))));
      });
    } catch {
      clearTimeout(timer);
      resolve(new Set());
    }
  });
}
