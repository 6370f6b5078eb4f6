// The command line as users run it (bin/provision.js): dist/ (tsc's output, one file per module)
// bundled by esbuild into dist/bundle/, one file per entry and per command loaded on demand
// (code splitting keeps `provision --help` from loading the run's code). Node's ES module
// loader resolves, reads and compiles the files of dist/ and of the packages one by one: loading
// the run's code took 0.38 s (0.43 s of CPU) from dist/ and takes 0.22 s (0.23 s of CPU)
// bundled, Node's own 0.10 s start included, on the critical path of every run. ssh2 stays a
// package of its own: it loads its native crypto binding by path.
import { build } from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// Chunk names carry a hash: the last build's chunks would stay beside this one's.
fs.rmSync(path.join(root, 'dist/bundle'), { recursive: true, force: true });
await build({
  entryPoints: [path.join(root, 'dist/cli/main.js')],
  outdir: path.join(root, 'dist/bundle'),
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['ssh2'],
  // CommonJS packages inside an ES module bundle still call require() for Node's own modules.
  banner: { js: "import { createRequire as __provisionRequire } from 'node:module'; const require = __provisionRequire(import.meta.url);" },
  logLevel: 'warning',
});
