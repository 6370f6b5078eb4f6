import { describe, expect, it } from 'vitest';
import { dnsSrv } from '../../src/facts/dns.js';
import { networkManager, nmWritesResolvConf } from '../../src/facts/network-manager.js';
import { UNKNOWABLE } from '../../src/facts/types.js';
import type { Step } from '../../src/plan/types.js';

// Recorded from dig 9.18 (the lab image's bind9-dnsutils) against dnsmasq 2.89 serving
// the configuration renderDnsmasqConf makes.
const DIG_OK = `;; Got answer:
;; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 5955
;; flags: qr aa rd ra; QUERY: 1, ANSWER: 2, AUTHORITY: 0, ADDITIONAL: 3

;; OPT PSEUDOSECTION:
; EDNS: version: 0, flags:; udp: 1232
;; ANSWER SECTION:
_etcd-server-ssl._tcp.lab.internal. 0 IN SRV\t0 100 2380 etcd1.lab.internal.
_etcd-server-ssl._tcp.lab.internal. 0 IN SRV\t0 100 2380 etcd0.lab.internal.

`;
const DIG_NXDOMAIN = `;; Got answer:
;; ->>HEADER<<- opcode: QUERY, status: NXDOMAIN, id: 58975
;; flags: qr rd ra; QUERY: 1, ANSWER: 0, AUTHORITY: 0, ADDITIONAL: 1

;; OPT PSEUDOSECTION:
; EDNS: version: 0, flags:; udp: 1232
`;
const DIG_REFUSED = `;; Got answer:
;; ->>HEADER<<- opcode: QUERY, status: REFUSED, id: 40304
;; flags: qr rd ra; QUERY: 1, ANSWER: 0, AUTHORITY: 0, ADDITIONAL: 1

;; OPT PSEUDOSECTION:
; EDNS: version: 0, flags:; udp: 1232
; EDE: 14 (Not Ready)
`;
const DIG_UNREACHABLE = ';; communications error to 127.0.0.1#25354: connection refused\n;; no servers could be reached\n';

const Q = { name: '_etcd-server-ssl._tcp.lab.internal', server: '10.88.0.20' };

describe('dns_srv fact', () => {
  it('command', () => {
    expect(dnsSrv.command(Q)).toBe('dig +noall +comments +answer +time=2 +tries=1 SRV _etcd-server-ssl._tcp.lab.internal @10.88.0.20');
  });
  it.each<[string, string, number, string, unknown]>([
    [
      'answer',
      DIG_OK,
      0,
      '',
      {
        ok: true,
        status: 'NOERROR',
        records: [
          { priority: 0, weight: 100, port: 2380, target: 'etcd1.lab.internal' },
          { priority: 0, weight: 100, port: 2380, target: 'etcd0.lab.internal' },
        ],
      },
    ],
    ['NXDOMAIN', DIG_NXDOMAIN, 0, '', { ok: true, status: 'NXDOMAIN', records: [] }],
    ['REFUSED', DIG_REFUSED, 0, '', { ok: true, status: 'REFUSED', records: [] }],
    ['server unreachable', DIG_UNREACHABLE, 9, '', { ok: false, error: 'dig failed (exit 9): no answer from 10.88.0.20' }],
    ['timeout', ';; connection timed out; no servers could be reached\n', 9, '', { ok: false, error: 'dig failed (exit 9): no answer from 10.88.0.20' }],
    ['no dig', '', 127, 'sh: dig: command not found', { ok: false, error: 'dig is not installed on the host (package bind-utils)' }],
    [
      'bad name',
      '',
      10,
      "dig: 'a..b' is not a legal name (empty label)",
      { ok: false, error: "dig failed (exit 10): dig: 'a..b' is not a legal name (empty label)" },
    ],
    ['garbage', 'hello\n', 0, '', { ok: false, error: 'unexpected output from dig: hello' }],
  ])('parses %s', (_n, out, code, err, want) => {
    expect(dnsSrv.parse(out, code, Q, err)).toEqual(want);
  });
});

// The layout of `NetworkManager --print-config` (NM 1.x): defaults appear as comments.
const PRINT_CONFIG = `# NetworkManager configuration: /etc/NetworkManager/NetworkManager.conf (lib: 00-server.conf) (etc: 90-dns-none.conf)

[main]
# rc-manager=symlink
# auth-polkit=true
dns=none
plugins=ifcfg-rh,keyfile

[logging]
# backend=journal

[connection]
ipv4.dns-priority=100
`;

describe('network_manager fact', () => {
  it.each<[string, string, unknown]>([
    ['running, dns=none', `active=active\nenabled=enabled\n--print-config--\n${PRINT_CONFIG}`, { active: true, enabled: true, dns: 'none', configKnown: true }],
    [
      'running, default dns, rc-manager set',
      'active=active\nenabled=enabled\n--print-config--\n[main]\nplugins=keyfile\nrc-manager = file\n[global-dns]\ndns=x\n',
      { active: true, enabled: true, rcManager: 'file', configKnown: true },
    ],
    ['not installed', 'active=inactive\nenabled=\n', { active: false, enabled: false, configKnown: false }],
    ['installed, stopped and disabled', 'active=inactive\nenabled=disabled\n--print-config--\n[main]\n', { active: false, enabled: false, configKnown: true }],
    ['no systemd', 'no-systemd\n', { active: false, enabled: false, configKnown: false }],
  ])('parses %s', (_n, out, want) => {
    expect(networkManager.parse(out, 0, undefined)).toEqual(want);
  });

  it('fails on a broken probe', () => expect(() => networkManager.parse('', 2, undefined, 'boom')).toThrow(/network_manager failed \(exit 2\): boom/));

  it.each<[string, object, boolean]>([
    ['running, default', { active: true, enabled: false, configKnown: true }, true],
    ['enabled only', { active: false, enabled: true, configKnown: true }, true],
    ['dns=none', { active: true, enabled: true, dns: 'none', configKnown: true }, false],
    ['rc-manager=unmanaged', { active: true, enabled: true, rcManager: 'unmanaged', configKnown: true }, false],
    ['not there', { active: false, enabled: false, configKnown: false }, false],
  ])('nmWritesResolvConf: %s', (_n, s, want) => expect(nmWritesResolvConf(s as never)).toBe(want));

  const probed = { active: true, enabled: true, configKnown: true };
  it.each<[string, Step[], unknown]>([
    ['untouched', [{ kind: 'command', description: 'x', command: 'true' }], undefined],
    [
      'stopped and disabled',
      [{ kind: 'command', description: 'x', command: 'x', effects: [{ kind: 'service', name: 'NetworkManager.service', active: false, enabled: false }] }],
      { ...probed, active: false, enabled: false },
    ],
    [
      'a new NM config file',
      [
        {
          kind: 'file',
          description: 'x',
          path: '/etc/NetworkManager/conf.d/90-dns-none.conf',
          before: null,
          after: '[main]\ndns=none\n',
          mode: 0o644,
          owner: 'root',
          group: 'root',
        },
      ],
      UNKNOWABLE,
    ],
    [
      'NM installed',
      [{ kind: 'command', description: 'x', command: 'x', effects: [{ kind: 'package', name: 'NetworkManager', state: 'present' }] }],
      UNKNOWABLE,
    ],
  ])('predicts: %s', (_n, steps, want) => expect(networkManager.predict!(undefined, steps, probed)).toEqual(want));
});
