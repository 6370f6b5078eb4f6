import { shellJoin } from '../connection/quote.js';
import { defineFact } from './types.js';
import { effectsOf, probeFailed } from './util.js';

export interface RpmPackage {
  installed: boolean;
  /** VERSION-RELEASE of each installed instance (several for kernels); [] when predicted without one. */
  versions: string[];
}

export const rpmPackage = defineFact<RpmPackage, { name: string }>({
  name: 'rpm_package',
  command: ({ name }) => shellJoin(['rpm', '-q', '--qf', String.raw`%{NAME}\t%{VERSION}-%{RELEASE}\n`, '--', name]),
  parse(stdout, exitCode, { name }, stderr = '') {
    // Not installed: exit 1 with rpm's one line on stdout and nothing on stderr. The line is not
    // matched: rpm translates it ("未安装软件包 etcd" under LANG=zh_CN.UTF-8 on CentOS); a
    // broken database also exits 1, but says so on stderr.
    const notInstalled = exitCode === 1 && stderr.trim() === '' && stdout.trim() !== '' && !stdout.includes('\t');
    if (notInstalled) return { installed: false, versions: [] };
    if (exitCode !== 0) throw probeFailed(`rpm_package(${name})`, exitCode, stderr, stdout);
    const versions = stdout
      .split('\n')
      .map((l) => l.split('\t'))
      .filter((f) => f.length === 2 && f[0] === name)
      .map((f) => f[1]!);
    return { installed: versions.length > 0, versions };
  },
  predict({ name }, earlier) {
    let fact: RpmPackage | undefined;
    for (const e of effectsOf(earlier)) {
      if (e.kind !== 'package' || e.name !== name) continue;
      // An install predicted without a version: installed, version unknown ([]).
      fact = e.state === 'absent' ? { installed: false, versions: [] } : { installed: true, versions: e.version ? [e.version] : [] };
    }
    return fact;
  },
});

/** `yum check-update` exits 100 when an update is available (read-only; may refresh metadata). */
export interface PackageUpdate {
  available: boolean;
  version?: string;
}

export const packageUpdate = defineFact<PackageUpdate, { name: string }>({
  name: 'package_update',
  command: ({ name }) => shellJoin(['yum', 'check-update', '-q', '--', name]),
  parse(stdout, exitCode, { name }, stderr) {
    if (exitCode === 0) return { available: false };
    if (exitCode !== 100) throw probeFailed(`package_update(${name})`, exitCode, stderr, stdout);
    const line = stdout
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .find((f) => f.length >= 3 && f[0]!.startsWith(`${name}.`));
    return { available: true, version: line?.[1] };
  },
  predict: ({ name }, earlier) =>
    effectsOf(earlier).some((e) => e.kind === 'package' && e.name === name && e.state === 'present') ? { available: false } : undefined,
});
