/** `provision lab up|down|status|stop|start|restart|reset|cut|restore` */
import { parseArgs } from 'node:util';
import { ProvisionError } from '../errors.js';
import * as lab from '../lab/index.js';

export const LAB_USAGE = `usage: provision lab up [--nodes N]      start the local lab (N etcd nodes + infra; default 3)
       provision lab down                remove the lab and everything it made
       provision lab status              list the nodes
       provision lab stop|start|restart NODE
       provision lab reset NODE          back to a bare node (same name, address, host keys)
       provision lab cut|restore NODE    cut or restore one node's network`;

export async function labCommand(args: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { nodes: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  const [sub, node] = positionals;
  const log = (l: string) => out(l);
  const needNode = () => {
    if (!node) throw new ProvisionError('USAGE', `provision lab ${sub} needs a node name`, { hint: 'see `provision lab status`' });
    return node;
  };
  if (values.help || !sub) {
    out(LAB_USAGE);
    return values.help ? 0 : 2;
  }
  switch (sub) {
    case 'up': {
      const n = values.nodes === undefined ? undefined : Number(values.nodes);
      const info = await lab.up({ nodes: n, log });
      out(
        `inventory: ${info.inventory}\nssh: ssh -i ${info.privateKey} -o UserKnownHostsFile=${info.knownHosts} root@${info.nodes[1]?.address ?? info.nodes[0]!.address}`,
      );
      return 0;
    }
    case 'down':
      await lab.down({ log });
      return 0;
    case 'status': {
      const s = lab.status();
      if (!s.up) {
        out('lab: down');
        return 0;
      }
      for (const n of s.nodes) out(`${n.name.padEnd(8)} ${n.address.padEnd(14)} ${n.role.padEnd(6)} ${n.running ? 'running' : 'stopped'}`);
      return 0;
    }
    case 'stop':
      await lab.stopNode(needNode());
      return 0;
    case 'start':
      await lab.startNode(needNode());
      return 0;
    case 'restart':
      await lab.restartNode(needNode());
      return 0;
    case 'reset':
      await lab.resetNode(needNode());
      return 0;
    case 'cut':
      await lab.cutNetwork(needNode());
      return 0;
    case 'restore':
      await lab.restoreNetwork(needNode());
      return 0;
    default:
      throw new ProvisionError('USAGE', `unknown lab command "${sub}"`, { hint: LAB_USAGE });
  }
}
