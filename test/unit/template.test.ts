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
});
