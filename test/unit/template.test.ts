import { describe, expect, it } from 'vitest';
import { renderArgs, renderTemplateString } from '../../src/template/index.js';

describe('templates', () => {
  const vars = { inventory_hostname: 'etcd0', cluster: { name: 'lab', members: ['etcd0', 'etcd1'] }, html: '<a & b>' };

  it('renders Jinja-like syntax without HTML escaping', () => {
    expect(renderTemplateString('{{ inventory_hostname }}:{{ html }}\n{% for m in cluster.members %}{{ m }},{% endfor %}', vars)).toBe(
      'etcd0:<a & b>\netcd0,etcd1,',
    );
  });

  it('names an undefined variable', () => {
    expect(() => renderTemplateString('a\nx={{ nope.deeper }}', vars, 'x.j2')).toThrow('template x.j2: undefined variable in {{ nope.deeper }} (line 2)');
  });

  it('renders every string of task args, nested, and leaves the rest', () => {
    const args = { name: '{{ cluster.name }}-etcd', n: 3, flag: true, cmd: ['echo', '{{ inventory_hostname }}'], env: { A: '{{ html }}' }, plain: 'a {b} $c' };
    expect(renderArgs(args, vars)).toEqual({ name: 'lab-etcd', n: 3, flag: true, cmd: ['echo', 'etcd0'], env: { A: '<a & b>' }, plain: 'a {b} $c' });
  });

  it('reports which argument failed, with the task location', () => {
    const loc = { file: 'site.yml', line: 7, col: 9 };
    try {
      renderArgs({ cmd: ['x', '{{ missing }}'] }, vars, loc);
      expect.unreachable();
    } catch (e) {
      expect((e as { format(): string }).format()).toBe('site.yml:7:9: argument cmd[1]: undefined variable in {{ missing }} (line 1)');
    }
  });

  it('a template compiled once renders each host with its own variables; an error stays an error on every render', () => {
    const args = { path: '{{ sim_dir }}/{{ inventory_hostname }}', cmd: 'touch {{ sim_dir }}/done' };
    const hosts = Array.from({ length: 5 }, (_, i) => ({ inventory_hostname: `h${i}`, sim_dir: `/var/tmp/${i}` }));
    for (const h of hosts) expect(renderArgs(args, h)).toEqual({ path: `${h.sim_dir}/${h.inventory_hostname}`, cmd: `touch ${h.sim_dir}/done` });
    // The same source, rendered where a variable is missing, then where it is not.
    expect(() => renderArgs(args, { inventory_hostname: 'h9' })).toThrow('argument path: undefined variable in {{ sim_dir }} (line 1)');
    expect(renderArgs(args, hosts[1]!)).toEqual({ path: '/var/tmp/1/h1', cmd: 'touch /var/tmp/1/done' });
    // A syntax error is reported on each render, the same way.
    const broken = { name: 'x {{ a ' };
    const message = (() => {
      try {
        renderArgs(broken, { a: 1 });
      } catch (e) {
        return (e as Error).message;
      }
      return 'rendered';
    })();
    expect(message).toMatch(/^argument name: /);
    expect(() => renderArgs(broken, { a: 1 })).toThrow(message);
    expect(renderTemplateString('{{ a }}-{{ b | default("d") }}', { a: 1 })).toBe('1-d');
    expect(renderTemplateString('{{ a }}-{{ b | default("d") }}', { a: 2, b: 'x' })).toBe('2-x');
  });
});
