/** A run of a playbook over an inventory: loaded by ./main.ts only when a run is asked for. */
import { connect } from '../connection/ssh.js';
import { ProvisionError } from '../errors.js';
import { runPlaybook } from '../executor/run.js';
import { loadInventory, selectHosts } from '../inventory/index.js';
import { clusterLocation } from '../inventory/cluster.js';
import { createRuntime, operations } from '../operations/index.js';
import { precheckDnsBootstrap } from '../operations/dnsmasq-srv.js';
import { loadPlaybook } from '../playbook/index.js';
import { jsonReporter } from '../report/json.js';
import { terminalReporter } from '../report/terminal.js';
import { redacting, redactor, type Redactor } from '../report/redact.js';
import { outputSecrets } from '../discovery/token.js';
import { DEFAULT_PLAYBOOK, EXIT, USAGE, type MainIO, type RunArgs } from './main.js';

export async function converge({ values, positionals }: RunArgs, io: MainIO, masks: { redact: Redactor }): Promise<number> {
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
    values.json ? jsonReporter(io.stdout) : terminalReporter({ diff: !!values.diff, verbose: values.verbose?.length ?? 0, write: io.stdout, live: !!io.isTTY }),
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
