/** The docker lab's setup for vitest's "docker" project (see global-setup.ts). */
import { labSetup } from './global-setup.js';

export default labSetup('docker');
