/**
 * `provision <inventory> exec [--limit P] [--become] -- COMMAND...`: one command on many hosts
 * at once (as `ansible -m shell` or `pyinfra exec`). One argument after `--` is a shell command
 * line, run as it is; several are one command's argv, each word quoted.
 */
import { parseArgs } from 'node:util';
import os from 'node:os';
import pLimit from 'p-limit';
import { connect as sshConnect } from '../connection/ssh.js';
import { shellJoin } from '../connection/quote.js';
import { isProvisionError, ProvisionError } from '../errors.js';
import { limitHosts, loadInventory } from '../inventory/index.js';
import { execJsonReporter, execTerminalReporter, type ExecHostResult } from '../report/exec.js';
import { applyCredentials, extraVars } from './ansible-options.js';
import { COMMON_OPTIONS, COMMON_USAGE, inventoryArg } from './common-options.js';
import type { MainIO } from './main.js';
import type { OutputRedactor } from './redact.js';
import { outputSecrets } from '../discovery/token.js';

export const EXEC_USAGE = `usage: provision <inventory> exec [options] -- COMMAND [ARG...]
  runs COMMAND on the hosts at once and prints each host's output and exit status.
  One word after -- is a shell command line ('systemctl is-active etcd | tr a-z A-Z');
  several words are one command, each word quoted.

options:
  --limit PATTERN   only these hosts (default: all)
  --become, -b      run through sudo (as the host's become_user, default root)
  --forks N         hosts at once (default 10)
  --timeout S       kill the command after S seconds (default: the host's command_timeout)
  --json            one JSON document: each host's exit code, stdout and stderr
${COMMON_USAGE}

exit codes: 0 the command succeeded everywhere, 3 it failed on a host, 4 a host was unreachable`;

export async function execCommand(argv: string[], io: MainIO, redactor: OutputRedactor): Promise<number> {
  const dash = argv.indexOf('--');
  const own = dash < 0 ? argv : argv.slice(0, dash);
  const command = dash < 0 ? [] : argv.slice(dash + 1);
  const { values, positionals } = parseArgs({
    args: own,
    allowPositionals: true,
    options: {
      ...COMMON_OPTIONS,
      limit: { type: 'string', short: 'l' },
      become: { type: 'boolean', short: 'b' },
      forks: { type: 'string', short: 'f' },
      timeout: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    io.stdout(EXEC_USAGE + '\n');
    return 0;
  }
  const { file, rest } = inventoryArg(
    values,
    positionals.filter((p) => p !== 'exec'),
    EXEC_USAGE,
  );
  if (rest.length)
    throw new ProvisionError('USAGE', `unexpected "${rest[0]}" before --`, { hint: 'the command comes after --: provision inv.yaml exec -- uptime' });
  if (command.length === 0 || command.every((w) => w.trim() === '')) throw new ProvisionError('USAGE', 'exec needs a command after --', { hint: EXEC_USAGE });
  const forks = values.forks === undefined ? 10 : Number(values.forks);
  if (!Number.isInteger(forks) || forks < 1) throw new ProvisionError('USAGE', `--forks must be a positive whole number, not "${values.forks}"`);
  const timeoutS = values.timeout === undefined ? undefined : Number(values.timeout);
  if (timeoutS !== undefined && !(timeoutS > 0)) throw new ProvisionError('USAGE', `--timeout must be a positive number of seconds, not "${values.timeout}"`);

  const warnings: string[] = [];
  const extra = extraVars(values, process.cwd(), os.homedir(), warnings);
  const inventory = loadInventory(file, extra ? { extraVars: extra } : {});
  redactor.merge(outputSecrets(inventory));
  for (const s of inventory.secrets ?? []) redactor.add(s);
  const hosts = limitHosts(inventory, values.limit, [...inventory.hosts.keys()]);
  const creds = await applyCredentials(values, inventory, hosts);
  creds.secrets.forEach(redactor.add);
  for (const w of [...warnings, ...inventory.warnings]) io.stderr(`warning: ${w}\n`);

  const line = command.length === 1 ? command[0]! : shellJoin(command);
  const emit = values.json ? execJsonReporter(io.stdout) : execTerminalReporter(io.stdout);
  const connect = io.connect ?? sshConnect;
  const started = Date.now();
  const limit = pLimit(forks);
  const results = await Promise.all(
    hosts.map((name) =>
      limit(async (): Promise<ExecHostResult> => {
        const settings = inventory.hosts.get(name)!.connection;
        let result: ExecHostResult;
        let conn;
        try {
          conn = await connect(settings);
        } catch (e) {
          result = { host: name, unreachable: true, message: isProvisionError(e) ? e.format() : String(e) };
          emit({ type: 'host', result });
          return result;
        }
        try {
          const r = await conn.exec(line, { become: values.become || settings.become, ...(timeoutS ? { timeoutMs: timeoutS * 1000 } : {}) });
          result = { host: name, exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr, durationMs: r.durationMs };
        } catch (e) {
          // A lost connection is unreachable; sudo refused or a timeout is a failure on the host.
          const lost = isProvisionError(e) && e.code === 'CONNECT';
          result = { host: name, ...(lost ? { unreachable: true } : {}), message: isProvisionError(e) ? e.format() : String(e) };
        } finally {
          await conn.close().catch(() => {});
        }
        emit({ type: 'host', result });
        return result;
      }),
    ),
  );
  emit({ type: 'done', results, durationMs: Date.now() - started });
  if (results.some((r) => r.unreachable)) return 4;
  if (results.some((r) => r.exitCode !== 0)) return 3;
  return 0;
}
