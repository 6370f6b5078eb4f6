/**
 * Simulated hosts for the scale bench: the in-process SSH server of the connection tests
 * (test/helpers/ssh-server.ts) in a process of its own, so that the controller's CPU and memory
 * are measured alone. Every simulated host is this one server (127.0.0.1, one port); commands
 * run with `sh -c` in a scratch directory, with fake `rpm` and `yum` first in PATH.
 *
 * Usage: tsx bench/sim-server.ts DIR [--memoize] [--hosts=N]; with --hosts, simulated host i
 * also listens at its own loopback address (simAddress(i)), as N distinct hosts would. Writes DIR/id_ed25519, DIR/known_hosts and
 * prints `port N` when it listens; ends when its stdin closes.
 * --memoize: a command seen before is answered as the first time (hosts with identical state:
 * for read-only runs only).
 */
import fs from 'node:fs';
import path from 'node:path';
import { generateKey, publicKeyLine, startTestServer } from '../test/helpers/ssh-server.js';
import { simAddress } from './sim-address.js';

const [dir, ...flags] = process.argv.slice(2);
const hostsFlag = flags.find((f) => f.startsWith('--hosts='));
const hosts = hostsFlag ? Number(hostsFlag.slice('--hosts='.length)) : 0;
if (!dir) throw new Error('usage: sim-server.ts DIR [--memoize]');
fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
const keyFile = path.join(dir, 'id_ed25519');
if (!fs.existsSync(keyFile)) fs.writeFileSync(keyFile, generateKey().private, { mode: 0o600 });
const hostKeyFile = path.join(dir, 'host_key');
if (!fs.existsSync(hostKeyFile)) fs.writeFileSync(hostKeyFile, generateKey().private, { mode: 0o600 });
// rpm: the package `bench-tool` is installed once `yum install` ran (a marker file).
fs.writeFileSync(
  path.join(dir, 'bin', 'rpm'),
  `#!/bin/sh\nname=$(eval echo \\$$#)\nif [ -e "${dir}/installed-$name" ]; then printf '%s\\t1.0-1\\n' "$name"; exit 0; fi\necho "package $name is not installed"; exit 1\n`,
  { mode: 0o755 },
);
fs.writeFileSync(path.join(dir, 'bin', 'yum'), `#!/bin/sh\nname=$(eval echo \\$$#)\ntouch "${dir}/installed-$name"\n`, { mode: 0o755 });
const server = await startTestServer({
  cwd: dir,
  users: { root: { publicKey: publicKeyLine(fs.readFileSync(keyFile)) } },
  hostKeys: [fs.readFileSync(hostKeyFile, 'utf8')],
  env: { PATH: `${path.join(dir, 'bin')}:${process.env.PATH}` },
  memoize: flags.includes('--memoize'),
  noRecord: true,
  alsoListen: Array.from({ length: hosts }, (_, i) => simAddress(i)),
});
const k = server.hostKeys[0]!;
const line = (addr: string) => `[${addr}]:${server.port} ${k.type} ${k.blob.toString('base64')}\n`;
fs.writeFileSync(path.join(dir, 'known_hosts'), ['127.0.0.1', ...Array.from({ length: hosts }, (_, i) => simAddress(i))].map(line).join(''));
process.stdout.write(`port ${server.port}\n`);
process.stdin.resume();
process.stdin.on('end', () => void server.close().then(() => process.exit(0)));
