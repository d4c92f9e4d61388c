// The lab's public API for tests and tools.
export {
  apiserverReady,
  COMPONENTS,
  type Component,
  type ControlPlane,
  type ControlPlaneOptions,
  type ControlPlaneState,
  destroyControlPlane,
  loadState,
  startControlPlane,
  stopControlPlane,
} from './controlplane/controlplane.ts';
export { kubeBinary, labPaths, toolBinary } from './paths.ts';
