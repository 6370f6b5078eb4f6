/**
 * Parsers fed what the tools print on a node whose login sets LANG=zh_CN.UTF-8 (recorded on
 * the lab with `lab reset etcd1 --locale zh_CN.UTF-8`, over SSH, without provision's fixed
 * locale). Commands run with LANG=C (src/connection/exec.ts FIXED_LOCALE); these tests make
 * sure a parser does not misread a node where that did not take.
 */
import { describe, expect, it } from 'vitest';
import { file } from '../../src/facts/file.js';
import { packageUpdate, rpmPackage } from '../../src/facts/rpm.js';
import { systemdUnit } from '../../src/facts/systemd.js';

const HASH = 'bb74037d446905be223b20ee79e3c6b108558288d20e16e0a0c13066e13a69ec';

describe('facts on a node that speaks Chinese', () => {
  it('stat: file types from the raw mode, not from the translated words (seen: "exists and is a other, not a regular file")', () => {
    // The file probe's output for /etc/hostname, /etc and /etc/localtime there.
    expect(file.parse(`普通文件|644|root|root|6|81a4\n${HASH}\n--provision-content--\netcd1\n`, 0, { path: '/etc/hostname' })).toEqual({
      exists: true,
      type: 'file',
      mode: 0o644,
      owner: 'root',
      group: 'root',
      size: 6,
      sha256: HASH,
      content: 'etcd1\n',
    });
    expect(file.parse('目录|755|root|root|4096|41ed\n', 0, { path: '/etc' })).toMatchObject({ exists: true, type: 'directory', mode: 0o755 });
    expect(file.parse('符号链接|777|root|root|27|a1ff\n--provision-content--\n/usr/share/zoneinfo/Etc/UTC\n', 0, { path: '/etc/localtime' })).toMatchObject({
      type: 'link',
      target: '/usr/share/zoneinfo/Etc/UTC',
    });
  });

  it('rpm: "未安装软件包 etcd" (package etcd is not installed) is read from the exit status; a broken database is still an error', () => {
    expect(rpmPackage.parse('未安装软件包 etcd \n', 1, { name: 'etcd' }, '')).toEqual({ installed: false, versions: [] });
    expect(() => rpmPackage.parse('', 1, { name: 'etcd' }, '错误：无法打开 /var/lib/rpm 中的软件包数据库\n')).toThrow(
      /fact rpm_package\(etcd\) failed \(exit 1\)/,
    );
    expect(rpmPackage.parse('etcd\t3.4.23-1.el8\n', 0, { name: 'etcd' }, '')).toEqual({ installed: true, versions: ['3.4.23-1.el8'] });
  });

  it('dnf check-update: the translated metadata line is not taken for a package', () => {
    const out = '上次元数据过期检查：0:00:04 前，执行于 2026年12月02日 星期三 11时05分14秒。\n\netcd.x86_64    3.5.16-1.el9    lab\n';
    expect(packageUpdate.parse(out, 100, { name: 'etcd' }, '')).toEqual({ available: true, version: '3.5.16-1.el9' });
    expect(packageUpdate.parse('', 0, { name: 'etcd' }, '')).toEqual({ available: false });
  });

  it('systemctl show: property names and values are not translated', () => {
    const out = 'LoadState=not-found\nActiveState=inactive\nSubState=dead\nFragmentPath=\nDropInPaths=\nUnitFileState=\nNeedDaemonReload=no\n';
    expect(systemdUnit.parse(out, 0, { name: 'etcd' }, '')).toMatchObject({ loadState: 'not-found', activeState: 'inactive', unitFileState: '' });
  });
});
