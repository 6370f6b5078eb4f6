/** The docker lab's setup for vitest's "docker" project (see global-setup.ts): one lab instance, the run's base one. */
import { labSetup } from './global-setup.js';
import { runInstances } from './lab-instances.js';

export default labSetup('docker', runInstances().slice(0, 1));
