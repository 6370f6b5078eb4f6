/**
 * The command line: the only place that decides exit codes. It loads only what the command
 * needs: `--help` and `--version` load nothing else; a run loads the engine, the SSH client
 * and the operations (./converge.ts); `lab` loads the lab (./lab.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { connect } from '../connection/ssh.js';
import { isProvisionError } from '../errors.js';
import { projectRoot } from '../lab/topology.js';
import { printable } from '../util/printable.js';
import { DISCOVERY_TOKEN_PATTERN } from '../discovery/token-pattern.js';
import { COMMON_OPTIONS, COMMON_USAGE, type CommonValues } from './common-options.js';
import { redactingIO } from './redact.js';
import { commandOf } from './route.js';

export const EXIT = { ok: 0, error: 1, usage: 2, failed: 3, unreachable: 4, interrupted: 130 } as const;

export const USAGE = `usage: provision <inventory> [options]          converge the hosts of an inventory (YAML or INI)
       provision <inventory> exec [options] -- COMMAND...   a command on the hosts (see: exec --help)
       provision <inventory> status [--json]    the cluster as it is (see: status --help)
       provision backup <inventory> [--to DIR]  a snapshot of the cluster on this machine (see: backup --help)
       provision restore <inventory> --snapshot FILE [--force] [--check]
                                                the cluster rebuilt from a snapshot (see: restore --help)
       provision lab up|down|status|...         the built-in local lab (see: provision lab --help)

options:
  --playbook FILE   playbook to run (default: playbooks/etcd-cluster.yaml)
  --check           connect, gather facts and plan; change nothing
  --diff            show a unified diff of every file that would change, and each command
  --limit PATTERN   only these hosts (e.g. etcd0,etcd1  or  'etcd:!etcd2')
  --forks N         hosts worked on at once (default 10)
  --json            machine-readable results on stdout
  --allow-partial   bootstrap a new cluster even when some of its members are unreachable
                    or failed (by default the others stop before starting etcd)
  --replace-lost-members
                    a member that lost its data is removed from the cluster and added again
                    (etcdctl member remove/add), then started; without it, such a member is
                    reported with what to do, and left alone
  --list-hosts      list the hosts each play would run on, and stop
  --list-tasks      list each play's tasks, and stop
  --syntax-check    check the inventory and playbook, connect to nothing, and stop
${COMMON_USAGE}
  -v                more detail (repeat for more)

exit codes: 0 ok, 2 bad input, 3 a host failed, 4 a host was unreachable, 130 interrupted`;

export const DEFAULT_PLAYBOOK = path.join(projectRoot, 'playbooks', 'etcd-cluster.yaml');

export interface MainIO {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  /** Opens a connection to a host (default: SSH). Tests pass a fake. */
  connect?: typeof connect;
  /** Whether stdout is a terminal (live progress display); default: process.stdout.isTTY. */
  isTTY?: boolean;
}

const defaultIO: MainIO = { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s), isTTY: !!process.stdout.isTTY };

export async function main(argv: string[], rawIO: MainIO = defaultIO): Promise<number> {
  // Every byte printed, errors included, goes through the redactor (see redact.ts); the
  // inventory's secrets are added once it is loaded.
  const out = redactingIO(rawIO, { patterns: [DISCOVERY_TOKEN_PATTERN] });
  const io = out.io;
  try {
    if (argv[0] === 'lab') {
      const { labCommand } = await import('./lab.js');
      return await labCommand(argv.slice(1), (l) => io.stdout(l + '\n'));
    }
    const command = commandOf(argv);
    if (command === 'exec') return await (await import('./exec.js')).execCommand(argv, io, out);
    if (command === 'status') return await (await import('./status.js')).statusCommand(argv, io, out);
    if (command === 'backup') return await (await import('./backup.js')).backupCommand(argv, io, out);
    if (command === 'restore') return await (await import('./restore.js')).restoreCommand(argv, io, out);
    const parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        ...COMMON_OPTIONS,
        'list-hosts': { type: 'boolean' },
        'list-tasks': { type: 'boolean' },
        'syntax-check': { type: 'boolean' },
        playbook: { type: 'string', short: 'p' },
        check: { type: 'boolean', short: 'C' },
        diff: { type: 'boolean', short: 'D' },
        limit: { type: 'string', short: 'l' },
        forks: { type: 'string', short: 'f' },
        json: { type: 'boolean' },
        'allow-partial': { type: 'boolean' },
        'replace-lost-members': { type: 'boolean' },
        verbose: { type: 'boolean', short: 'v', multiple: true },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
      },
    });
    const { values } = parsed;
    if (values.help) {
      io.stdout(USAGE + '\n');
      return EXIT.ok;
    }
    if (values.version) {
      const pkg = JSON.parse(fs.readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { version: string };
      io.stdout(`provision ${pkg.version}\n`);
      return EXIT.ok;
    }
    const { converge } = await import('./converge.js');
    return await converge(parsed, io, out);
  } catch (e) {
    if (isProvisionError(e)) {
      io.stderr(`error: ${printable(e.format())}\n`);
      if (e.code === 'INTERRUPTED') return EXIT.interrupted;
      return e.code === 'USAGE' || e.code === 'INVENTORY' || e.code === 'PLAYBOOK' ? EXIT.usage : EXIT.error;
    }
    if (e instanceof TypeError && (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr(`error: ${e.message}\n${USAGE}\n`);
      return EXIT.usage;
    }
    io.stderr(`internal error (please report it): ${String((e as Error)?.stack ?? e)}\n`);
    return EXIT.error;
  }
}

/** The parsed command line of a run. */
export type RunArgs = {
  values: CommonValues & {
    'list-hosts'?: boolean;
    'list-tasks'?: boolean;
    'syntax-check'?: boolean;
    playbook?: string;
    check?: boolean;
    diff?: boolean;
    limit?: string;
    forks?: string;
    json?: boolean;
    'allow-partial'?: boolean;
    'replace-lost-members'?: boolean;
    verbose?: boolean[];
  };
  positionals: string[];
};
