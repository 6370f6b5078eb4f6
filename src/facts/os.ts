import { defineFact } from './types.js';
import { probeFailed } from './util.js';

export interface OsRelease {
  id: string; // centos, rhel, debian
  versionId: string;
  idLike: string[];
  prettyName: string;
  /** Every KEY=value of /etc/os-release, unquoted. */
  all: Record<string, string>;
}

/** os-release(5) values are shell-quoted; these are the only escapes it allows. */
const unquote = (v: string): string => {
  const m = /^(["'])(.*)\1$/.exec(v);
  if (!m) return v;
  return m[1] === "'" ? m[2]! : m[2]!.replace(/\\(["\\$`])/g, '$1');
};

export const osRelease = defineFact<OsRelease, void>({
  name: 'os_release',
  command: () => 'cat /etc/os-release',
  parse(stdout, exitCode, _args, stderr) {
    if (exitCode !== 0) throw probeFailed('os_release', exitCode, stderr);
    const all: Record<string, string> = {};
    for (const line of stdout.split('\n')) {
      const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
      if (m) all[m[1]!] = unquote(m[2]!);
    }
    return {
      id: all.ID ?? '',
      versionId: all.VERSION_ID ?? '',
      idLike: (all.ID_LIKE ?? '').split(' ').filter(Boolean),
      prettyName: all.PRETTY_NAME ?? '',
      all,
    };
  },
});
