/** `provision lab up|down|status|prepare|stop|start|restart|reset|cut|restore [--engine nspawn|docker]` */
import { parseArgs } from 'node:util';
import { ProvisionError } from '../errors.js';
import * as lab from '../lab/index.js';
import { dockerEngine } from '../lab/docker.js';

export const LAB_USAGE = `usage: provision lab up [--nodes N]      start the local lab (N etcd nodes + infra; default 3)
                [--locale L] [--firewalld]
                                         etcd nodes with login locale L (LANG, e.g. zh_CN.UTF-8)
                                         and/or firewalld running (default zone: only ssh open)
       provision lab down                remove the lab and everything it made
       provision lab status              list the nodes
       provision lab stop|start|restart NODE
       provision lab reset NODE [--locale L] [--firewalld]
                                         back to a bare node (same name, address, host keys)
       provision lab cut|restore NODE    cut or restore one node's network
       provision lab prepare --engine docker
                                         make what docker-compose.test.yml needs, start nothing
options: --engine nspawn|docker          which lab (default: PROVISION_LAB_ENGINE, else nspawn;
                                         for other commands than up, the one lab that is up;
                                         with labs up on both, commands that change one need it)`;

/**
 * The engine named, else the default. For commands on a running lab without --engine (and no
 * PROVISION_LAB_ENGINE): the one lab that is up; with labs up on both engines, a command that
 * changes one must name it.
 */
function chooseEngine(named: string | undefined, sub: string): lab.LabEngine {
  if (named !== undefined) {
    try {
      return lab.engine(lab.parseEngine(named));
    } catch (e) {
      throw new ProvisionError('USAGE', (e as Error).message);
    }
  }
  const dflt = lab.engine();
  if (sub === 'up' || sub === 'prepare' || sub === 'status' || process.env.PROVISION_LAB_ENGINE) return dflt;
  const upOnes = lab.ENGINES.map((e) => lab.engine(e)).filter((e) => e.status().up);
  if (upOnes.length > 1) {
    throw new ProvisionError('USAGE', `labs are up on ${upOnes.map((e) => e.name).join(' and ')}: say which with --engine`, {
      hint: `provision lab ${sub} --engine ${upOnes[0]!.name}`,
    });
  }
  return upOnes[0] ?? dflt;
}

export async function labCommand(args: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      nodes: { type: 'string' },
      engine: { type: 'string' },
      locale: { type: 'string' },
      firewalld: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
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
  const eng = chooseEngine(values.engine, sub);
  const nodes = values.nodes === undefined ? undefined : Number(values.nodes);
  const nodeOpts: lab.NodeOptions = { ...(values.locale !== undefined ? { locale: values.locale } : {}), ...(values.firewalld ? { firewalld: true } : {}) };
  if (Object.keys(nodeOpts).length && sub !== 'up' && sub !== 'reset')
    throw new ProvisionError('USAGE', `--locale and --firewalld are options of lab up and lab reset, not lab ${sub}`);
  switch (sub) {
    case 'up': {
      const info = await eng.up({ nodes, log, ...nodeOpts });
      out(
        `inventory: ${info.inventory}\nssh: ssh -i ${info.privateKey} -o UserKnownHostsFile=${info.knownHosts} root@${info.nodes[1]?.address ?? info.nodes[0]!.address}`,
      );
      return 0;
    }
    case 'prepare': {
      if (eng.name !== 'docker') throw new ProvisionError('USAGE', 'provision lab prepare is for --engine docker (the nspawn lab needs no preparing)');
      await dockerEngine.prepare({ nodes, log });
      out(`ready for docker-compose.test.yml: image provision-lab-node:latest, key, host keys, known_hosts and inventories in ${eng.config.filesDir}`);
      return 0;
    }
    case 'down':
      await eng.down({ log });
      return 0;
    case 'status': {
      // Without --engine: every engine's lab that is up (the default one's line when none is).
      const engines = values.engine !== undefined || process.env.PROVISION_LAB_ENGINE ? [eng] : lab.ENGINES.map((e) => lab.engine(e));
      const shown = engines.filter((e) => e.status().up);
      if (!shown.length) {
        out(`lab (${eng.name}): down`);
        return 0;
      }
      for (const e of shown) {
        if (engines.length > 1) out(`lab (${e.name}):`);
        for (const n of e.status().nodes) out(`${n.name.padEnd(8)} ${n.address.padEnd(14)} ${n.role.padEnd(6)} ${n.running ? 'running' : 'stopped'}`);
      }
      return 0;
    }
    case 'stop':
      await eng.stopNode(needNode());
      return 0;
    case 'start':
      await eng.startNode(needNode());
      return 0;
    case 'restart':
      await eng.restartNode(needNode());
      return 0;
    case 'reset':
      await eng.resetNode(needNode(), nodeOpts);
      return 0;
    case 'cut':
      await eng.cutNetwork(needNode());
      return 0;
    case 'restore':
      await eng.restoreNetwork(needNode());
      return 0;
    default:
      throw new ProvisionError('USAGE', `unknown lab command "${sub}"`, { hint: LAB_USAGE });
  }
}
