import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ProvisionError, isProvisionError } from '../../src/errors.js';
import { parseInventory } from '../../src/inventory/index.js';
import type { ArgSpec, OperationDef } from '../../src/operations/types.js';
import { evaluateWhen, loadPlaybook, parsePlaybook, parseWhen } from '../../src/playbook/index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const FILE = '/pb/site.yaml';

const op = (name: string, args: Record<string, ArgSpec>): OperationDef<any> => ({
  name,
  description: name,
  args,
  plan: async () => ({ steps: [] }),
});
const registry = new Map<string, OperationDef<any>>([
  ['package', op('package', { name: { type: 'string', required: true }, state: { type: 'string', enum: ['present', 'absent'] } })],
  [
    'service',
    op('service', {
      name: { type: 'string', required: true },
      state: { type: 'string', enum: ['started', 'stopped', 'restarted'] },
      enabled: { type: 'boolean' },
    }),
  ],
  ['etcd_config', op('etcd_config', {})],
  [
    'copy',
    op('copy', {
      dest: { type: 'string', required: true },
      mode: { type: 'string' },
      port: { type: 'number' },
      lines: { type: 'string[]' },
      env: { type: 'map' },
      extra: { type: 'any' },
    }),
  ],
]);

const inventory = parseInventory(
  'all:\n  children:\n    etcd:\n      hosts:\n        etcd0: { address: 10.0.0.1 }\n        etcd1: { address: 10.0.0.2 }\n',
  '/inv.yaml',
  { sshConfigFile: '/nonexistent', home: '/nonexistent', user: 'u' },
);

const parse = (text: string) => parsePlaybook(text, FILE, registry, inventory);
const play = (tasks: string, extra = '') => `- hosts: etcd\n${extra}  tasks:\n${tasks}`;

function errorOf(text: string): ProvisionError {
  try {
    parse(text);
  } catch (e) {
    if (isProvisionError(e)) return e;
    throw e;
  }
  throw new Error('expected a ProvisionError');
}

describe('playbook errors name file:line:col', () => {
  const cases: [string, string, number, number, RegExp][] = [
    ['invalid YAML', '- hosts: [etcd\n', 2, 1, /^invalid YAML/],
    ['duplicate key', '- hosts: etcd\n  hosts: all\n  tasks: []\n', 2, 3, /^duplicate key "hosts"$/],
    ['not a list', 'hosts: etcd\n', 1, 1, /^a playbook \(a list of plays\) must be a list, not a map$/],
    ['empty file', '', 1, 1, /^the playbook is empty/],
    ['empty list', '[]\n', 1, 1, /has no plays/],
    ['play not a map', '- etcd\n', 1, 3, /^a play must be a map/],
    ['unknown play key', '- hosts: etcd\n  taks: []\n', 2, 3, /^unknown key "taks" in play \(expected one of: name, hosts, become, vars, tasks, handlers\)$/],
    ['missing hosts', '- name: x\n  tasks: []\n', 1, 3, /^play has no "hosts:"/],
    ['missing tasks', '- hosts: etcd\n', 1, 3, /^play has no "tasks:" list$/],
    ['bad host pattern', "- hosts: 'etcd; rm'\n  tasks: []\n", 1, 10, /^invalid host pattern "etcd; rm"$/],
    ['unknown host pattern', '- hosts: etcd:nope\n  tasks: []\n', 1, 10, /^unknown host or group "nope" in host pattern "etcd:nope"$/],
    ['play become yes', '- hosts: etcd\n  become: yes\n  tasks: []\n', 2, 11, /^become must be true or false/],
    ['bad play var', "- hosts: etcd\n  vars: { 'a-b': 1 }\n  tasks: []\n", 2, 11, /invalid variable name "a-b"/],
    ['tasks not a list', '- hosts: etcd\n  tasks: { package: {} }\n', 2, 10, /^tasks must be a list/],
    [
      'unknown operation',
      play('    - pakage: { name: etcd }\n'),
      3,
      7,
      /^unknown operation "pakage" in task \(known operations: copy, etcd_config, package, service\)$/,
    ],
    ['two operations', play('    - package: { name: etcd }\n      service: { name: etcd }\n'), 4, 7, /^task has two operations, "package" and "service"/],
    ['no operation', play('    - name: nothing\n'), 3, 7, /^task has no operation \(known operations: copy, etcd_config, package, service\)$/],
    ['task not a map', play('    - package\n'), 3, 7, /^a task must be a map/],
    [
      'unknown argument',
      play('    - package: { name: etcd, stat: present }\n'),
      3,
      30,
      /^unknown argument "stat" for operation "package" \(expected one of: name, state\)$/,
    ],
    ['missing required argument', play('    - package: { state: present }\n'), 3, 7, /^missing required argument "name" for operation "package"$/],
    ['null args, missing required', play('    - package:\n'), 3, 7, /^missing required argument "name"/],
    ['args not a map', play('    - package: etcd\n'), 3, 16, /^arguments of "package" must be a map/],
    ['string arg given a number', play('    - copy: { dest: /x, mode: 0644 }\n'), 3, 31, /^argument "mode" of "copy" must be a string, not the number 644$/],
    ['number arg given a string', play('    - copy: { dest: /x, port: http }\n'), 3, 31, /^argument "port" of "copy" must be a number/],
    ['boolean arg given yes', play('    - service: { name: etcd, enabled: yes }\n'), 3, 39, /^argument "enabled" of "service" must be true or false/],
    ['string[] given a map', play('    - copy: { dest: /x, lines: {a: 1} }\n'), 3, 32, /must be a list of strings, not a map$/],
    ['map given a list', play('    - copy: { dest: /x, env: [1] }\n'), 3, 30, /must be a map, not a list$/],
    [
      'enum',
      play('    - package: { name: etcd, state: installed }\n'),
      3,
      37,
      /^argument "state" of "package" must be one of: present, absent \(got "installed"\)$/,
    ],
    ['unknown task key', play('    - package: { name: etcd }\n      notfy: x\n'), 4, 7, /^unknown operation "notfy" in task/],
    ['task become yes', play('    - package: { name: etcd }\n      become: yes\n'), 4, 15, /^become must be true or false/],
    [
      'notify unknown handler',
      play('    - package: { name: etcd }\n      notify: restart etc\n', '') + '  handlers:\n    - name: restart etcd\n      service: { name: etcd }\n',
      4,
      15,
      /^notify: no handler named "restart etc" in this play$/,
    ],
    ['notify without handlers', play('    - package: { name: etcd }\n      notify: [a]\n'), 4, 15, /no handler named "a"/],
    ['handler without name', '- hosts: etcd\n  tasks: []\n  handlers:\n    - service: { name: etcd }\n', 4, 7, /^handler has no name/],
    [
      'duplicate handler',
      '- hosts: etcd\n  tasks: []\n  handlers:\n    - name: h\n      service: { name: etcd }\n    - name: h\n      service: { name: etcd }\n',
      6,
      7,
      /^handler "h" is defined twice \(first at line 4\)$/,
    ],
    [
      'when syntax (double quoted)',
      play('    - etcd_config:\n      when: "cluster.bootstrap === \'dns\'"\n'),
      4,
      34,
      /^invalid when condition: unexpected character "="$/,
    ],
    [
      'when syntax (plain)',
      play('    - etcd_config:\n      when: a and\n'),
      4,
      18,
      /^invalid when condition: expected a variable, a string or a number, found the end$/,
    ],
    ['when unterminated string', play("    - etcd_config:\n      when: a == 'x\n"), 4, 18, /unterminated string/],
    ['when with braces', play('    - etcd_config:\n      when: "{{ x }}"\n'), 4, 14, /without \{\{ \}\}/],
    ['when list item', play('    - etcd_config:\n      when:\n        - a\n        - b c\n'), 6, 13, /expected "and", "or" or the end, found "c"/],
    ['when not a string', play('    - etcd_config:\n      when: 3\n'), 4, 13, /^when \(a condition/],
  ];

  it.each(cases)('%s', (_name, text, line, col, message) => {
    const e = errorOf(text);
    expect(e.code).toBe('PLAYBOOK');
    expect(e.message).toMatch(message);
    expect(e.location).toEqual({ file: FILE, line, col });
  });

  it('reports a missing file', () => {
    expect(() => loadPlaybook('/nonexistent/pb.yaml', registry)).toThrow(/cannot read playbook \/nonexistent\/pb.yaml: no such file \(ENOENT\)$/);
  });
});

describe('playbook structure', () => {
  it('loads the fixture playbook', () => {
    const pb = loadPlaybook(path.join(ROOT, 'test/fixtures/playbook/site.yaml'), registry, inventory);
    expect(pb.plays).toHaveLength(1);
    const p = pb.plays[0]!;
    expect(p).toMatchObject({ name: 'etcd cluster', hosts: 'etcd', become: true, vars: { greeting: 'hello' } });
    expect(p.location.line).toBe(1);
    expect(p.tasks.map((t) => [t.name, t.op, t.notify])).toEqual([
      ['Install etcd', 'package', ['restart etcd']],
      ['package {{ cluster.package.name }}', 'package', []],
      ['etcd_config', 'etcd_config', ['restart etcd', 'reload']],
      ['service etcd', 'service', []],
    ]);
    expect(p.tasks[0]!.args).toEqual({ name: 'etcd' });
    expect(p.tasks[1]!.args).toEqual({ name: '{{ cluster.package.name }}', state: '{{ wanted_state }}' });
    expect(p.tasks[2]!.args).toEqual({});
    expect(p.tasks[2]!.location).toMatchObject({ line: 12, col: 7 });
    expect(p.tasks[3]).toMatchObject({ become: false, args: { name: 'etcd', state: 'started', enabled: true } });
    expect(p.tasks[0]!.become).toBeUndefined();
    expect(p.tasks[3]!.when!.source).toBe("not skip_service and cluster.tls is not defined or cluster.listen != 'any'");
    expect(p.handlers.map((h) => h.name)).toEqual(['restart etcd', 'reload']);

    const vars = { skip_service: false, cluster: { bootstrap: 'dns', listen: 'any' } };
    expect(evaluateWhen(p.tasks[2]!.when!, vars)).toBe(true);
    expect(evaluateWhen(p.tasks[3]!.when!, vars)).toBe(true);
    expect(evaluateWhen(p.tasks[3]!.when!, { ...vars, skip_service: true })).toBe(false);
    expect(evaluateWhen(p.tasks[3]!.when!, { ...vars, cluster: { listen: 'any', tls: { dir: '/x' } } })).toBe(false);
  });

  it('accepts templates for typed arguments and a play without inventory', () => {
    const pb = parsePlaybook(
      play(
        '    - copy: { dest: /x, port: "{{ p }}", lines: "{{ l }}", mode: "0644", extra: [1, {a: b}] }\n    - service: { name: etcd, enabled: "{{ e }}" }\n',
      ),
      FILE,
      registry,
    );
    expect(pb.plays[0]!.tasks[0]!.args).toEqual({ dest: '/x', port: '{{ p }}', lines: '{{ l }}', mode: '0644', extra: [1, { a: 'b' }] });
    expect(pb.plays[0]!.name).toBe('etcd');
  });

  it('does not check host patterns without an inventory', () => {
    expect(parsePlaybook('- hosts: whatever*\n  tasks: []\n', FILE, registry).plays[0]!.hosts).toBe('whatever*');
  });
});

describe('when expressions', () => {
  const vars = {
    cluster: { bootstrap: 'dns', listen: 'address', clientPort: 2379, tls: undefined, members: ['a', 'b'] },
    empty: '',
    zero: 0,
    list: [],
    flag: true,
    hosts: new Map([['etcd0', { up: true }]]),
  };
  const cases: [string, boolean][] = [
    ["cluster.bootstrap == 'dns'", true],
    ['cluster.bootstrap == "static"', false],
    ["cluster.bootstrap != 'dns'", false],
    ['cluster.clientPort == 2379', true],
    ["cluster.clientPort == '2379'", false],
    ['flag', true],
    ['not flag', false],
    ['not not flag', true],
    ['empty', false],
    ['zero', false],
    ['list', false],
    ['cluster.members', true],
    ['cluster.tls', false],
    ['cluster.nothing', false],
    ['cluster.nothing == null', true],
    ['cluster.tls is defined', false],
    ['cluster.tls is not defined', true],
    ['nope is defined', false],
    ['cluster.bootstrap is defined', true],
    ["flag and cluster.listen == 'address'", true],
    ['flag and zero', false],
    ['zero or flag', true],
    ['zero or empty or list', false],
    ['flag or zero and empty', true],
    ['(flag or zero) and empty', false],
    ['not (flag and zero)', true],
    ['hosts.etcd0.up', true],
    ['hosts.etcd9.up', false],
    ['true', true],
    ['False', false],
  ];
  it.each(cases)('%s -> %s', (text, expected) => expect(evaluateWhen(parseWhen(text), vars)).toBe(expected));

  it('rejects an undefined root variable (a typo) with a hint', () => {
    expect(() => evaluateWhen(parseWhen('clustr.bootstrap == "dns"'), vars)).toThrow(/undefined variable "clustr" in when: clustr.bootstrap == "dns"/);
  });

  it.each(['', 'a ==', '== a', 'a b', '(a', 'a)', 'not', 'a is', 'a is defined2', "'x' is defined", 'a = b', 'a && b', '!a'])('syntax error: %j', (text) =>
    expect(() => parseWhen(text)).toThrow(),
  );
});

describe('playbook parser robustness (property)', () => {
  const onlyProvisionErrors = (text: string) => {
    try {
      parse(text);
    } catch (e) {
      if (!isProvisionError(e)) throw e;
    }
  };

  it('never throws anything but ProvisionError on random text', () => {
    const frag = fc.constantFrom(
      '- ',
      'hosts:',
      'tasks:',
      'handlers:',
      'name:',
      'notify:',
      'when:',
      'become:',
      'package:',
      'service:',
      'copy:',
      'vars:',
      '\n',
      '\n  ',
      '\n    ',
      '  ',
      ': ',
      '{',
      '}',
      '[',
      ']',
      ',',
      'etcd',
      'a == ',
      "'x'",
      '"',
      'not ',
      ' and ',
      '(',
      ')',
      '&a ',
      '*a',
      '!!binary ',
      'null',
      '~',
      '0644',
      'true',
      'yes',
      '{{ x }}',
      '#',
      '|',
      '\t',
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.array(frag, { maxLength: 40 }).map((a) => a.join('')),
        ),
        onlyProvisionErrors,
      ),
      { numRuns: 1500 },
    );
  });

  it('never throws anything but ProvisionError on random structured playbooks', () => {
    const key = fc.constantFrom(
      'hosts',
      'tasks',
      'handlers',
      'name',
      'notify',
      'when',
      'become',
      'vars',
      'package',
      'service',
      'copy',
      'etcd_config',
      'dest',
      'mode',
      'port',
      'lines',
      'env',
      'extra',
      'state',
      'enabled',
      '__proto__',
      'constructor',
      'toString',
    );
    const leaf = fc.oneof(
      fc.constantFrom('etcd', 'all', 'present', 'restarted', "a == 'b'", 'not x', 'x is defined', '{{ y }}', null, true, 644),
      fc.integer(),
      fc.string(),
    );
    const { tree } = fc.letrec((tie) => ({
      tree: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('map'), tie('list')),
      map: fc.dictionary(key, tie('tree'), { maxKeys: 5 }),
      list: fc.array(tie('tree'), { maxLength: 4 }),
    }));
    const playArb = fc.record({
      hosts: fc.constantFrom('etcd', 'all', 'etcd0', 'x'),
      tasks: fc.array(fc.dictionary(key, tree, { maxKeys: 4 }), { maxLength: 4 }),
    });
    fc.assert(
      fc.property(fc.oneof(tree, fc.array(playArb, { maxLength: 3 })), (d) => onlyProvisionErrors(stringify(d))),
      { numRuns: 1500 },
    );
  });
});
