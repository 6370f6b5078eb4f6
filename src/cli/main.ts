/** The command line: the only place that decides exit codes. */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { connect } from '../connection/ssh.js';
import { ProvisionError, isProvisionError } from '../errors.js';
import { runPlaybook } from '../executor/run.js';
import { loadInventory, selectHosts } from '../inventory/index.js';
import { clusterLocation } from '../inventory/cluster.js';
import { projectRoot } from '../lab/topology.js';
import { createRuntime, operations } from '../operations/index.js';
import { precheckDnsBootstrap } from '../operations/dnsmasq-srv.js';
import { loadPlaybook } from '../playbook/index.js';
import { jsonReporter } from '../report/json.js';
import { redacting, redactor, type Redactor } from '../report/redact.js';
import { DISCOVERY_TOKEN_PATTERN, outputSecrets } from '../discovery/token.js';
import { printable, terminalReporter } from '../report/terminal.js';
import { labCommand } from './lab.js';

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
}

const defaultIO: MainIO = { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s) };

export async function main(argv: string[], io: MainIO = defaultIO): Promise<number> {
  // Errors are masked too: with the inventory's secrets once it is loaded.
  const masks: { redact: Redactor } = { redact: redactor({ patterns: [DISCOVERY_TOKEN_PATTERN] }) };
  try {
    if (argv[0] === 'lab') return await labCommand(argv.slice(1), (l) => io.stdout(l + '\n'));
    return await converge(argv, io, masks);
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

async function converge(argv: string[], io: MainIO, masks: { redact: Redactor }): Promise<number> {
  const { values, positionals } = parseArgs({
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
  if (values.help) {
    io.stdout(USAGE + '\n');
    return EXIT.ok;
  }
  if (values.version) {
    const pkg = JSON.parse(fs.readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { version: string };
    io.stdout(`provision ${pkg.version}\n`);
    return EXIT.ok;
  }
  if (positionals.length !== 1)
    throw new ProvisionError('USAGE', positionals.length ? 'give exactly one inventory file' : 'no inventory given', { hint: USAGE });
  const forks = values.forks === undefined ? 10 : Number(values.forks);
  if (!Number.isInteger(forks) || forks < 1) throw new ProvisionError('USAGE', `--forks must be a positive whole number, not "${values.forks}"`);

  const inventory = loadInventory(positionals[0]!);
  masks.redact = redactor(outputSecrets(inventory));
  // Known not to work with the etcd this targets: refused before any host is touched.
  const unworkable = inventory.cluster && precheckDnsBootstrap(inventory.cluster);
  if (unworkable) {
    throw new ProvisionError('INVENTORY', `cluster ${inventory.cluster!.name}: ${unworkable}`, {
      location: clusterLocation(inventory.cluster!, 'bootstrap') ?? { file: inventory.file, line: 1, col: 1 },
    });
  }
  const playbook = loadPlaybook(values.playbook ?? DEFAULT_PLAYBOOK, operations, inventory);
  const selected = new Set(playbook.plays.flatMap((p) => selectHosts(inventory, p.hosts)));
  const limited = values.limit === undefined ? selected : new Set(selectHosts(inventory, values.limit).filter((h) => selected.has(h)));
  if (limited.size === 0) {
    const why =
      values.limit !== undefined && selected.size > 0
        ? `--limit ${values.limit} leaves none of them`
        : `no play of ${playbook.file} matches a host of the inventory`;
    inventory.warnings.push(`nothing to do: ${why}${!inventory.cluster && selected.size === 0 ? ' (the inventory has no cluster: section)' : ''}`);
  }
  // Passwords and capability-like values (discovery tokens) are masked in all output.
  const emit = redacting(
    values.json ? jsonReporter(io.stdout) : terminalReporter({ diff: !!values.diff, verbose: values.verbose?.length ?? 0, write: io.stdout }),
    masks.redact,
  );

  let aborted = false;
  const onSigint = () => {
    if (aborted) {
      io.stderr('\nsecond interrupt: exiting now\n');
      process.exit(EXIT.interrupted);
    }
    aborted = true;
    io.stderr('\ninterrupt: finishing the steps in flight (Ctrl-C again to exit at once)\n');
  };
  process.on('SIGINT', onSigint);
  // The cluster's certificates and discovery token: made once, only if a task asks for them.
  const runtime = createRuntime({ check: !!values.check, inventory, log: (message) => emit({ type: 'notice', message }) });
  try {
    const summary = await runPlaybook(inventory, playbook, {
      check: !!values.check,
      forks,
      limit: values.limit,
      operations,
      connect: io.connect ?? connect,
      runtime,
      options: { allowPartial: !!values['allow-partial'], replaceLostMembers: !!values['replace-lost-members'] },
      emit,
      aborted: () => aborted,
    });
    if (summary.interrupted) return EXIT.interrupted;
    const recaps = Object.values(summary.hosts);
    if (recaps.some((r) => r.unreachable)) return EXIT.unreachable;
    if (recaps.some((r) => r.failed)) return EXIT.failed;
    return EXIT.ok;
  } finally {
    runtime.dispose();
    process.off('SIGINT', onSigint);
  }
}
