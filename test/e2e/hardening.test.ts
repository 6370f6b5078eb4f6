/**
 * Security hardening on the lab's real nodes (issue 13):
 * - a discovery token is never shown (terminal with --diff -v, --json, --check), and
 *   `.provision-state/` becomes 0700 (its files 0600) even when it existed with a looser mode;
 * - a double Ctrl-C during `--check` of a TLS cluster leaves nothing behind: no copy of the CA's
 *   private key (nor any other file) in the temporary directory, nothing changed in the
 *   certificate directory.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadInventory } from '../../src/inventory/index.js';
import { ensureClusterCerts } from '../../src/tls/ca.js';
import { clusterMembers } from '../../src/operations/etcd-conf.js';
import { projectRoot } from '../../src/lab/topology.js';
import { provision, provisionJson } from '../helpers/cli.js';
import { ensureLab, etcdNodes, lab } from '../helpers/lab.js';
import { startProvision } from '../helpers/stream.js';

const DISCOVERY_PLAYBOOK = path.join(projectRoot, 'playbooks', 'discovery-server.yaml');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let dir: string;

/** A copy of one of the lab's inventories in the test's directory, with absolute key paths and extra vars. */
function labInventory(variant: string, name: string, vars: Record<string, unknown> = {}): string {
  const doc = YAML.parse(fs.readFileSync(path.join(lab.labFiles.inventory, '..', `inventory-${variant}.yaml`), 'utf8')) as {
    all: { vars: Record<string, unknown> };
  };
  Object.assign(doc.all.vars, { key_file: lab.labFiles.privateKey, known_hosts: lab.labFiles.knownHosts, ...vars });
  const file = path.join(dir, name, 'inventory.yaml');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, YAML.stringify(doc));
  return file;
}

/** Every file under `root` (recursively) with its mode and content. */
function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!fs.existsSync(root)) return out;
  for (const e of fs.readdirSync(root, { withFileTypes: true, recursive: true })) {
    const p = path.join(e.parentPath, e.name);
    const st = fs.lstatSync(p);
    out[path.relative(root, p)] = `${(st.mode & 0o7777).toString(8)} ${e.isFile() ? fs.readFileSync(p, 'utf8') : ''}`;
  }
  return out;
}

const mode = (p: string) => fs.statSync(p).mode & 0o777;

describe('hardening on the lab', () => {
  beforeAll(async () => {
    await ensureLab();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'provision-hardening-'));
  });
  afterAll(async () => {
    for (const n of etcdNodes())
      await lab.exec(n.name, ['sh', '-c', 'kill -CONT $(systemctl show -p MainPID --value ssh) 2>/dev/null; true']).catch(() => undefined);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a double Ctrl-C during --check of a TLS cluster leaves no key nor any other file behind', async () => {
    const inv = labInventory('tls', 'tls', { connect_timeout: 3600 });
    // A CA and certificates exist; one member's are missing, so --check has a certificate to predict.
    const inventory = loadInventory(inv);
    const cluster = inventory.cluster!;
    await ensureClusterCerts(cluster, clusterMembers(inventory, cluster));
    fs.rmSync(path.join(cluster.tls!.dir, 'etcd1.crt'));
    fs.rmSync(path.join(cluster.tls!.dir, 'etcd1.key'));
    const caKey = fs.readFileSync(path.join(cluster.tls!.dir, 'ca.key'), 'utf8');
    const before = snapshot(cluster.tls!.dir);
    const tmp = fs.mkdtempSync(path.join(dir, 'tmpdir-'));
    // etcd2's sshd accepts connections but never answers: the run is still going (waiting for
    // etcd2, up to its connect timeout of an hour) when the other members have planned their
    // certificates. Nothing here depends on how fast the machine is.
    const stopped = await lab.exec('etcd2', ['sh', '-c', 'pid=$(systemctl show -p MainPID --value ssh) && kill -STOP "$pid" && echo "$pid"']);
    expect(stopped.code, stopped.stderr).toBe(0);
    try {
      const live = startProvision([inv, '--check'], { env: { TMPDIR: tmp } });
      await live.waitForLine(/^changed: \[etcd1\] Copy the CA and this member's certificates/);
      expect(live.lines.some((l) => /PLAY RECAP/.test(l.text))).toBe(false);
      live.signal('SIGINT');
      await sleep(500);
      live.signal('SIGINT');
      const r = await live.done;
      expect(r.code, r.stdout + r.stderr).toBe(130);
      expect(r.stderr).toMatch(/second interrupt: exiting now/);
      expect(r.stdout + r.stderr).not.toContain('PRIVATE KEY');
    } finally {
      await lab.exec('etcd2', ['kill', '-CONT', stopped.stdout.trim()]);
    }
    // Nothing left in the temporary directory, no copy of the CA key anywhere in it or in /tmp.
    expect(snapshot(tmp)).toEqual({});
    for (const d of [tmp, os.tmpdir()]) {
      for (const e of fs.readdirSync(d).filter((n) => n.startsWith('provision-check-tls-'))) {
        const files = snapshot(path.join(d, e));
        expect(
          Object.values(files).some((f) => f.includes(caKey.trim())),
          `${d}/${e} holds the CA key`,
        ).toBe(false);
      }
    }
    // And --check changed nothing in the certificate directory.
    expect(snapshot(cluster.tls!.dir)).toEqual(before);
  });

  it('a discovery token is never shown (terminal, --diff -v, --json, --check); .provision-state/ gets 0700 and its files 0600', async () => {
    const inv = labInventory('discovery', 'discovery');
    const state = path.join(path.dirname(inv), '.provision-state');
    fs.mkdirSync(state, { mode: 0o755 });
    fs.chmodSync(state, 0o755); // as a user's umask or an older run may have left it
    await Promise.all([...etcdNodes(), lab.topology(3).find((n) => n.role === 'infra')!].map((n) => lab.resetNode(n.name)));
    const server = await provisionJson([inv, '--playbook', DISCOVERY_PLAYBOOK]);
    expect(server.code, server.stdout + server.stderr).toBe(0);

    const check = await provision([inv, '--check', '--diff', '-vvv']);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    const first = await provision([inv, '--diff', '-v']);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    const file = path.join(state, 'lab-discovery.json');
    const url = (JSON.parse(fs.readFileSync(file, 'utf8')) as { discoveryUrl: string }).discoveryUrl;
    const token = url.split('/').pop()!;
    expect(token).toMatch(/^[0-9a-f]{32}$/);
    expect(mode(state)).toBe(0o700);
    expect(mode(file)).toBe(0o600);

    const again = await provisionJson([inv]);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    const checkAgain = await provision([inv, '--check', '--diff', '-vvv']);
    for (const [what, out] of [
      ['first run', first],
      ['--check', check],
      ['--json re-run', again],
      ['--check re-run', checkAgain],
    ] as const) {
      expect(out.stdout + out.stderr, what).not.toContain(token);
    }
    // What a user needs is still there: the run made a token on the endpoint, and where it is kept.
    expect(first.stdout).toMatch(
      /discovery: made token http:\/\/[0-9.]+:2379\/v2\/keys\/discovery\/<hidden> for 3 members \(recorded in .*lab-discovery\.json\)/,
    );
    expect(first.stdout).toMatch(/\+ETCD_DISCOVERY="http:\/\/[0-9.]+:2379\/v2\/keys\/discovery\/<hidden>"/);
    // The members hold the real token.
    const conf = await lab.exec('etcd0', ['cat', '/etc/etcd/etcd.conf']);
    expect(conf.stdout).toContain(`ETCD_DISCOVERY="${url}"`);
  });
});
