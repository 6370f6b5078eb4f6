export { loadInventory, parseInventory, type InventoryOptions } from './load.js';
export { limitHosts, selectHosts } from './patterns.js';
export type { BootstrapMode, ClusterSpec, HostEntry, Inventory } from './types.js';
