import { benchSim } from './sim.js';
const r = await benchSim([100, 500], 1, 500);
for (const [n, rs] of r) for (const x of rs) console.log(process.env.BENCH_PROVISION_BIN ?? 'after', n, 'hosts', Math.round(x.ms), 'ms wall', x.cpuMs, 'cpu-ms', (x.cpuMs / n).toFixed(1), 'cpu-ms/host', x.peakMb.toFixed(0), 'MB peak');
