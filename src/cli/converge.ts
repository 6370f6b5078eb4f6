/** A run of a playbook over an inventory: loaded by ./main.ts only when a run is asked for. */
import { connect } from '../connection/ssh.js';
import { ProvisionError } from '../errors.js';
import { runPlaybook } from '../executor/run.js';
import os from 'node:os';
import { limitHosts, loadInventory, selectHosts } from '../inventory/index.js';
import { clusterLocation } from '../inventory/cluster.js';
import { createRuntime, operations } from '../operations/index.js';
import { precheckDnsBootstrap } from '../operations/dnsmasq-srv.js';
import { loadPlaybook } from '../playbook/index.js';
import { jsonReporter } from '../report/json.js';
import { terminalReporter } from '../report/terminal.js';
import { redacting } from '../report/redact.js';
import { outputSecrets } from '../discovery/token.js';
import { applyCredentials, extraVars } from './ansible-options.js';
import { inventoryArg } from './common-options.js';
import { listings } from './listings.js';
import { DEFAULT_PLAYBOOK, EXIT, USAGE, type MainIO, type RunArgs } from './main.js';
import type { OutputRedactor } from './redact.js';

export async function converge({ values, positionals }: RunArgs, io: MainIO, out: OutputRedactor): Promise<number> {
  const { file: inventoryFile, rest } = inventoryArg(values, positionals, USAGE);
  if (rest.length) throw new ProvisionError('USAGE', 'give exactly one inventory file', { hint: USAGE });
  const forks = values.forks === undefined ? 10 : Number(values.forks);
  if (!Number.isInteger(forks) || forks < 1) throw new ProvisionError('USAGE', `--forks must be a positive whole number, not "${values.forks}"`);

  const cliWarnings: string[] = [];
  const extra = extraVars(values, process.cwd(), os.homedir(), cliWarnings);
  const inventory = loadInventory(inventoryFile, extra ? { extraVars: extra } : {});
  inventory.warnings.unshift(...cliWarnings);
  out.merge(outputSecrets(inventory));
  for (const s of inventory.secrets ?? []) out.add(s);
  // Known not to work with the etcd this targets: refused before any host is touched.
  const unworkable = inventory.cluster && precheckDnsBootstrap(inventory.cluster);
  if (unworkable) {
    throw new ProvisionError('INVENTORY', `cluster ${inventory.cluster!.name}: ${unworkable}`, {
      location: clusterLocation(inventory.cluster!, 'bootstrap') ?? { file: inventory.file, line: 1, col: 1 },
    });
  }
  const playbookFile = values.playbook ?? DEFAULT_PLAYBOOK;
  // The default playbook builds the inventory's cluster: without one there is nothing it could
  // do, and "nothing to do" with exit 0 would hide the mistake (an Ansible inventory given as is).
  if (!inventory.cluster && values.playbook === undefined) {
    throw new ProvisionError('INVENTORY', `${inventoryFile} has no cluster: section, and the default playbook builds the inventory's cluster`, {
      location: { file: inventoryFile, line: 1, col: 1 },
      hint: 'add a cluster: section (in an INI inventory: cluster: in group_vars/all.yaml), or give --playbook FILE',
    });
  }
  const playbook = loadPlaybook(playbookFile, operations, inventory);
  const selected = [...new Set(playbook.plays.flatMap((p) => selectHosts(inventory, p.hosts)))];
  const limited = new Set(limitHosts(inventory, values.limit, selected));
  if (values['syntax-check'] || values['list-hosts'] || values['list-tasks']) {
    io.stdout(listings(playbook, inventory, limited, { hosts: !!values['list-hosts'], tasks: !!values['list-tasks'] }));
    return EXIT.ok;
  }
  if (limited.size === 0) inventory.warnings.push(`nothing to do: no play of ${playbook.file} matches a host of the inventory`);
  const creds = await applyCredentials(values, inventory, [...limited]);
  creds.secrets.forEach(out.add);
  // Passwords and capability-like values (discovery tokens) are masked in all output.
  const emit = redacting(
    values.json ? jsonReporter(io.stdout) : terminalReporter({ diff: !!values.diff, verbose: values.verbose?.length ?? 0, write: io.stdout, live: !!io.isTTY }),
    out.redact,
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
      // The hosts --limit kept, by name (a pattern naming a host that does not exist selected nothing from it).
      limit: values.limit === undefined ? undefined : [...limited].join(','),
      operations,
      vars: extra?.raw ?? {},
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
