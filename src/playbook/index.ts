export { loadPlaybook, parsePlaybook, type Registry } from './load.js';
export { evaluateWhen, parseWhen, truthy, WhenSyntaxError } from './when.js';
export type { Play, Playbook, Task, WhenExpr, WhenNode } from './types.js';
