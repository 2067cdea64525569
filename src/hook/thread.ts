/**
 * Which thread the hook runs on. worker_threads answers, but loading it brings MessagePort, serdes and
 * (Node 24) locks into every process: about 2 MB of RSS in a hello-world server that never starts a
 * worker. The addon knows without that (native/src/addon.cc: its thread is the process's first one);
 * worker_threads answers when the addon is absent.
 */
let main: boolean | undefined;

export function isMainThread(): boolean {
  if (main === undefined) {
    main = (require('../native') as typeof import('../native')).nativeAddon()?.mainThread;
    main ??= (require('node:worker_threads') as typeof import('node:worker_threads')).isMainThread;
  }
  return main;
}

/** worker_threads.threadId: 0 on the main thread. */
export function threadId(): number {
  return isMainThread() ? 0 : (require('node:worker_threads') as typeof import('node:worker_threads')).threadId;
}
