/**
 * The local lab as a library: up, down, status and per-node controls for fault tests, on
 * either engine (nspawn.ts, docker.ts: two implementations of LabEngine). `provision lab ...`
 * (src/cli/lab.ts) is a thin wrapper over these. The functions exported directly act on the
 * default engine's lab (PROVISION_LAB_ENGINE, else nspawn), which is what the tests drive.
 */
import { dockerEngine } from './docker.js';
import type { LabEngine } from './engine.js';
import { nspawnEngine } from './nspawn.js';
import { defaultEngine, type EngineName } from './topology.js';

export { LAB, labConfig, labFiles, projectRoot, topology, type LabNode, type EngineName, ENGINES, parseEngine } from './topology.js';
export type { LabEngine, LabInfo, LabStatus, NodeOptions, NodeStatus, UpOptions } from './engine.js';

const ENGINE_IMPLS: Record<EngineName, LabEngine> = { nspawn: nspawnEngine, docker: dockerEngine };

export const engine = (name: EngineName = defaultEngine()): LabEngine => ENGINE_IMPLS[name];

const current = engine();
export const up: LabEngine['up'] = (opts) => current.up(opts);
export const down: LabEngine['down'] = (opts) => current.down(opts);
export const status: LabEngine['status'] = () => current.status();
export const stopNode: LabEngine['stopNode'] = (n) => current.stopNode(n);
export const startNode: LabEngine['startNode'] = (n) => current.startNode(n);
export const restartNode: LabEngine['restartNode'] = (n) => current.restartNode(n);
export const resetNode: LabEngine['resetNode'] = (n, o) => current.resetNode(n, o);
export const cutNetwork: LabEngine['cutNetwork'] = (n) => current.cutNetwork(n);
export const restoreNetwork: LabEngine['restoreNetwork'] = (n) => current.restoreNetwork(n);
export const exec: LabEngine['exec'] = (n, argv) => current.exec(n, argv);
