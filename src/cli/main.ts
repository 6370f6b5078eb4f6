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
import { redactor, type Redactor } from '../report/redact.js';
import { DISCOVERY_TOKEN_PATTERN } from '../discovery/token.js';

export const EXIT = { ok: 0, error: 1, usage: 2, failed: 3, unreachable: 4, interrupted: 130 } as const;

export const USAGE = `usage: provision <inventory.yaml> [options]     converge the hosts of an inventory
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

export async function main(argv: string[], io: MainIO = defaultIO): Promise<number> {
  // Errors are masked too: with the inventory's secrets once it is loaded.
  const masks: { redact: Redactor } = { redact: redactor({ patterns: [DISCOVERY_TOKEN_PATTERN] }) };
  try {
    if (argv[0] === 'lab') {
      const { labCommand } = await import('./lab.js');
      return await labCommand(argv.slice(1), (l) => io.stdout(l + '\n'));
    }
    const parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
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
    return await converge(parsed, io, masks);
  } catch (e) {
    if (isProvisionError(e)) {
      io.stderr(`error: ${printable(masks.redact(e.format()))}\n`);
      return e.code === 'USAGE' || e.code === 'INVENTORY' || e.code === 'PLAYBOOK' ? EXIT.usage : EXIT.error;
    }
    if (e instanceof TypeError && (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr(`error: ${e.message}\n${USAGE}\n`);
      return EXIT.usage;
    }
    io.stderr(`internal error (please report it): ${masks.redact(String((e as Error)?.stack ?? e))}\n`);
    return EXIT.error;
  }
}

/** The parsed command line of a run. */
export type RunArgs = {
  values: {
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
