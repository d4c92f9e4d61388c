// V8 settings for our long-running processes (controller, agent). V8 grows its heap lazily, for
// throughput: at 1,000 nodes and 30,000 pods the controller's live heap is about 70 MiB, yet
// with the defaults its RSS reached 470-640 MiB (the chart's memory limit is 512 MiB). A small
// young generation and a 1.5x old-generation growing factor held it at about 240 MiB for the
// same CPU (docs/benchmarks.md). NODE_OPTIONS may not carry --heap-growing-percent, so these
// go on the command line: images/bin/{controller,agent}, the lab kubelet and the scale
// benchmark all use this list (a unit test keeps the image wrappers in step).
export const SERVICE_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4', '--heap-growing-percent=50'];

/** The programs that run as services and take SERVICE_NODE_FLAGS. */
export const SERVICE_PROGRAMS: readonly string[] = ['controller', 'agent'];
