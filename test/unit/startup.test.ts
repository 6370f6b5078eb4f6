/**
 * `provision --help` (and a usage error) load only the argument parser: neither the SSH client
 * (ssh2, with its native crypto) nor the YAML parser, which took most of its start-up time.
 * Both packages are CommonJS, so whatever loaded them shows in the CommonJS module cache. The
 * module structure is checked on dist/ (tsc's output, one file per module); what users run,
 * bin/provision.js, is its bundle (scripts/bundle.mjs), where the YAML parser is inside the run's
 * chunk and ssh2 stays a package of its own.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/lab/topology.js';

function loadedPackages(argv: string[]): { code: number; packages: string[] } {
  const script = `
    import { createRequire } from 'node:module';
    const { main } = await import(${JSON.stringify(path.join(projectRoot, 'dist/cli/main.js'))});
    const code = await main(${JSON.stringify(argv)}, { stdout() {}, stderr() {} });
    const names = Object.keys(createRequire(import.meta.url).cache)
      .map((f) => /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(f)?.[1])
      .filter(Boolean);
    console.log(JSON.stringify({ code, packages: [...new Set(names)].sort() }));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: projectRoot, encoding: 'utf8', timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as { code: number; packages: string[] };
}

describe('start-up loads only what the command needs', () => {
  it('--help: no ssh2, no yaml', () => {
    const r = loadedPackages(['--help']);
    expect(r.code).toBe(0);
    expect(r.packages).not.toContain('ssh2');
    expect(r.packages).not.toContain('yaml');
  });

  it('a usage error: no ssh2, no yaml', () => {
    const r = loadedPackages(['--no-such-option']);
    expect(r.code).toBe(2);
    expect(r.packages).not.toContain('ssh2');
    expect(r.packages).not.toContain('yaml');
  });

  it('the check itself sees a package when one is loaded (a run of a missing inventory loads the engine)', () => {
    const r = loadedPackages(['/nonexistent/inventory.yaml']);
    expect(r.code).toBe(2);
    expect(r.packages).toContain('ssh2');
  });

  it('bin/provision.js (the bundle): --help prints the usage without loading ssh2; a run loads it', () => {
    const report = `data:text/javascript,import { createRequire } from 'node:module';
      process.on('exit', () => process.stderr.write('\\nloaded: ' + JSON.stringify(Object.keys(createRequire('/').cache).filter((f) => f.includes('/node_modules/ssh2/')).length) + ' crypto: ' + process.moduleLoadList.includes('NativeModule crypto') + '\\n'));`;
    const loaded = (argv: string[]) => {
      const r = spawnSync(process.execPath, ['--import', report, 'bin/provision.js', ...argv], { cwd: projectRoot, encoding: 'utf8', timeout: 60_000 });
      return { code: r.status, stdout: r.stdout, ssh2Files: Number(/loaded: (\d+)/.exec(r.stderr)?.[1]), crypto: /crypto: (\w+)/.exec(r.stderr)?.[1] };
    };
    const help = loaded(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: provision <inventory>/);
    expect(help.ssh2Files).toBe(0);
    // Nor Node's crypto module (the discovery token's pattern, which masks output, lives apart from the code that makes tokens).
    expect(help.crypto).toBe('false');
    const run = loaded(['/nonexistent/inventory.yaml']);
    expect(run.code).toBe(2);
    expect(run.ssh2Files).toBeGreaterThan(0);
    expect(run.crypto).toBe('true');
  });
});
