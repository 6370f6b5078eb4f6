/**
 * Random input to the inventory and playbook loaders, and through the CLI: whatever comes
 * in, the loaders throw nothing but ProvisionError (with a location inside the file), and
 * the user sees one message, never a stack trace or an "internal error".
 *
 * Most inputs are valid files with a few random edits (a character or a line deleted,
 * duplicated, re-indented, a YAML token inserted): they get past the YAML parser and reach
 * the checks behind it, which purely random text seldom does.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { ConnectionSettings } from '../../src/connection/types.js';
import { ProvisionError, isProvisionError } from '../../src/errors.js';
import { parseInventory, type Inventory } from '../../src/inventory/index.js';
import { projectRoot } from '../../src/lab/topology.js';
import { operations } from '../../src/operations/index.js';
import { parsePlaybook } from '../../src/playbook/index.js';

const read = (p: string) => fs.readFileSync(path.join(projectRoot, p), 'utf8');
const INVENTORY_SEEDS = [
  'test/fixtures/bad/good-inventory.yaml',
  'inventories/example-static.yaml',
  'inventories/lab-dns.yaml',
  'inventories/lab-discovery-tls.yaml',
  'test/fixtures/inventory/precedence.yaml',
]
  .filter((p) => fs.existsSync(path.join(projectRoot, p)))
  .map(read);
const PLAYBOOK_SEEDS = ['playbooks/etcd-cluster.yaml', 'playbooks/discovery-server.yaml', 'test/fixtures/playbook/site.yaml']
  .filter((p) => fs.existsSync(path.join(projectRoot, p)))
  .map(read);

const HOME = fs.mkdtempSync(path.join(os.tmpdir(), 'provision-fuzz-'));
afterAll(() => fs.rmSync(HOME, { recursive: true, force: true }));
const OPTS = { home: HOME, user: 'fuzz', sshConfigFile: path.join(HOME, 'no-config') };

const TOKENS = [
  ':',
  ': ',
  '- ',
  '-',
  '{',
  '}',
  '[',
  ']',
  ',',
  '"',
  "'",
  '&a ',
  '*a',
  '!!str ',
  '!!binary ',
  '!vault ',
  '!!set ',
  '<<: ',
  '? ',
  '|',
  '>',
  '#',
  '---',
  '...',
  '%YAML 1.1\n',
  '\t',
  '\n',
  '  ',
  '    ',
  '{{',
  '}}',
  '{%',
  '%}',
  '{{ x | nope }}',
  '$(id)',
  '`id`',
  '\\',
  '\u202e',
  '\x1b[2J',
  '\0',
  '\r',
  'é',
  '0.0.0.0',
  '127.0.0.1',
  'localhost',
  'etcd0',
  'etcd',
  'all',
  'null',
  '~',
  'true',
  'yes',
  '0644',
  '-1',
  '70000',
  '1e400',
  '.nan',
  '__proto__',
  'constructor',
  'x'.repeat(300),
  'hosts',
  'tasks',
  'members',
];

type Mutation = { kind: 'delete-chars' | 'insert' | 'dup-line' | 'delete-line' | 'swap-lines' | 'indent' | 'dedent'; at: number; len: number; token: string };

const mutation: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom('delete-chars', 'insert', 'insert', 'dup-line', 'delete-line', 'swap-lines', 'indent', 'dedent'),
  // Uniform: fast-check's default bias would put most edits at the very start of the file.
  at: fc.noBias(fc.integer({ min: 0, max: 999_999 })).map((n) => n / 1_000_000),
  len: fc.integer({ min: 1, max: 12 }),
  token: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...TOKENS) }, { weight: 1, arbitrary: fc.string({ maxLength: 6 }) }),
});

function mutate(text: string, muts: Mutation[]): string {
  let t = text;
  for (const m of muts) {
    const pos = Math.floor(m.at * (t.length + 1));
    const lines = t.split('\n');
    const li = Math.floor(m.at * lines.length);
    switch (m.kind) {
      case 'delete-chars':
        t = t.slice(0, pos) + t.slice(pos + m.len);
        break;
      case 'insert':
        t = t.slice(0, pos) + m.token + t.slice(pos);
        break;
      case 'dup-line':
        lines.splice(li, 0, lines[li] ?? '');
        t = lines.join('\n');
        break;
      case 'delete-line':
        lines.splice(li, 1);
        t = lines.join('\n');
        break;
      case 'swap-lines': {
        const lj = (li + m.len) % lines.length;
        [lines[li], lines[lj]] = [lines[lj]!, lines[li]!];
        t = lines.join('\n');
        break;
      }
      case 'indent':
        lines[li] = '  ' + (lines[li] ?? '');
        t = lines.join('\n');
        break;
      case 'dedent':
        lines[li] = (lines[li] ?? '').replace(/^ {1,2}/, '');
        t = lines.join('\n');
        break;
    }
  }
  return t;
}

const mutated = (seeds: string[]) =>
  fc.tuple(fc.integer({ min: 0, max: seeds.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([i, ms]) => mutate(seeds[i]!, ms));

/** Random text built from YAML-ish fragments and plain random strings. */
const yamlish = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.array(fc.constantFrom(...TOKENS), { maxLength: 50 }).map((a) => a.join('')),
);

/** Calls `parse`; a ProvisionError must point inside `text`; anything else fails the property. */
function onlyLocatedProvisionErrors(text: string, parse: () => unknown): void {
  try {
    parse();
  } catch (e) {
    if (!isProvisionError(e)) throw e;
    const loc = e.location;
    expect(loc, e.message).toBeDefined();
    const lines = text.split(/\r\n|\r|\n/).length;
    expect(loc!.line).toBeGreaterThanOrEqual(1);
    expect(loc!.line).toBeLessThanOrEqual(lines + 1);
    expect(loc!.col).toBeGreaterThanOrEqual(1);
    expect(e.format()).not.toMatch(/^\s+at /m);
  }
}

const baseInventory: Inventory = parseInventory(INVENTORY_SEEDS[0]!, '/fuzz/inventory.yaml', OPTS);

describe('inventory loader (property)', () => {
  it('edited valid inventories: only located ProvisionErrors', () => {
    fc.assert(
      fc.property(mutated(INVENTORY_SEEDS), (text) => onlyLocatedProvisionErrors(text, () => parseInventory(text, '/fuzz/inventory.yaml', OPTS))),
      { numRuns: 1500 },
    );
  });
});

describe('playbook loader (property)', () => {
  const parse = (text: string) => () => parsePlaybook(text, '/fuzz/playbook.yaml', operations, baseInventory);

  it('edited valid playbooks: only located ProvisionErrors', () => {
    fc.assert(
      fc.property(mutated(PLAYBOOK_SEEDS), (text) => onlyLocatedProvisionErrors(text, parse(text))),
      { numRuns: 1000 },
    );
  });

  it('random YAML-ish text: only located ProvisionErrors', () => {
    fc.assert(
      fc.property(yamlish, (text) => onlyLocatedProvisionErrors(text, parse(text))),
      { numRuns: 1000 },
    );
  });

  it('random structured documents: only located ProvisionErrors', () => {
    const key = fc.constantFrom(
      'name',
      'hosts',
      'tasks',
      'handlers',
      'vars',
      'become',
      'notify',
      'when',
      'throttle',
      'package',
      'file',
      'command',
      'service',
      'etcd_config',
      'etcd_verify',
      'flush_handlers',
      'path',
      'content',
      'mode',
      'state',
      'cmd',
      'enabled',
      'timeout',
      'secret',
      '__proto__',
      'constructor',
      'x y',
      '',
    );
    const leaf = fc.oneof(
      fc.constantFrom('etcd', 'all', 'etcd0', '/etc/x', 'present', 'started', '0644', '{{ cluster.name }}', '{{ x', 'a == b', 'a ===', null, true, 3, -1),
      fc.integer(),
      fc.string({ maxLength: 20 }),
    );
    const { tree } = fc.letrec((tie) => ({
      tree: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('map'), tie('list')),
      map: fc.dictionary(key, tie('tree'), { maxKeys: 5 }),
      list: fc.array(tie('tree'), { maxLength: 4 }),
    }));
    const play = fc.record({ hosts: fc.oneof(fc.constantFrom('etcd', 'all', 'nope', 'etcd:!etcd0'), tree), tasks: tree }, { requiredKeys: [] });
    const doc = fc.oneof(fc.array(play, { maxLength: 3 }), tree);
    fc.assert(
      fc.property(doc, (d) => {
        const text = stringify(d);
        onlyLocatedProvisionErrors(text, parse(text));
      }),
      { numRuns: 1000 },
    );
  });
});

describe('the CLI on random files (property)', () => {
  const dir = fs.mkdtempSync(path.join(HOME, 'cli-'));
  let n = 0;
  const write = (text: string) => {
    const f = path.join(dir, `f${n++}.yaml`);
    fs.writeFileSync(f, text);
    return f;
  };
  let connects = 0;
  const fakeConnect = async (s: ConnectionSettings): Promise<never> => {
    connects++;
    throw new ProvisionError('CONNECT', `cannot connect to ${s.name}: fuzz`);
  };

  async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const code = await main(args, { stdout: (s) => void (out += s), stderr: (s) => void (err += s), connect: fakeConnect });
    return { code, out, err };
  }

  const expectNoCrash = ({ code, out, err }: { code: number; out: string; err: string }) => {
    const all = out + err;
    expect(all).not.toMatch(/internal error/i);
    expect(all).not.toMatch(/^\s+at .*[(:]\d+/m);
    expect([0, 2, 3, 4]).toContain(code);
    if (code === 2) {
      expect(err.match(/^error: /gm), err).toHaveLength(1);
      expect(out).toBe('');
    }
  };

  it('random and edited inventories with the default playbook', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(mutated(INVENTORY_SEEDS), yamlish), async (text) => expectNoCrash(await cli([write(text), '--check']))),
      { numRuns: 250 },
    );
  });

  it('random and edited playbooks with a valid inventory, and --json', async () => {
    const inv = write(INVENTORY_SEEDS[0]!);
    await fc.assert(
      fc.asyncProperty(fc.oneof(mutated(PLAYBOOK_SEEDS), yamlish), fc.boolean(), async (text, json) =>
        expectNoCrash(await cli([inv, '--playbook', write(text), '--check', ...(json ? ['--json'] : [])])),
      ),
      { numRuns: 250 },
    );
    expect(connects).toBeGreaterThan(0); // some edits are still valid: those runs went as far as connecting
  });
});
