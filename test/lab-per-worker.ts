/**
 * The end-to-end files of vitest's "e2e" project run two at a time, each vitest worker on its
 * own lab instance (own bridge, subnet, nodes and .lab files: src/lab/topology.ts), so two files
 * never touch each other's nodes. Worker 1 drives the run's base instance (PROVISION_LAB_INSTANCE,
 * else 0), worker 2 the next one. Runs before the test file imports the lab, which reads the
 * instance once; the provision processes the file starts inherit it. So this file and
 * lab-instances.ts must not import the lab (src/lab/topology.ts): imported here, it would read
 * the instance before it is set (tried: both workers then drove instance 0).
 */
import { labInstanceOfWorker } from './lab-instances.js';

process.env.PROVISION_LAB_INSTANCE = String(labInstanceOfWorker(Number(process.env.VITEST_POOL_ID ?? '1')));
