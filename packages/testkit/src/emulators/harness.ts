// The part every adapter's test harness shares: record the process's outgoing connections, start an
// emulator, close what the tests opened on it, and fail the close when a connection left loopback —
// so no test of an adapter reaches a cloud service or a metadata endpoint unnoticed.
import { trackConnections } from './network.js';

/** Anything a harness closes for the test: a source, a vendor client. */
export interface Closable {
  close(): unknown;
}

export interface LoopbackHarness<E> {
  readonly emulator: E;
  /** Has `close()` close `resource` (last owned, first closed); returns it. */
  own<T extends Closable>(resource: T): T;
  /** Closes what it owns, then the emulator; rejects when any connection made meanwhile left loopback. */
  close(): Promise<void>;
}

/**
 * Starts recording outgoing connections, then the emulator `start()` returns. Adapters build their
 * harness on it: `const base = await startLoopbackHarness(() => startVaultEmulator());` and wrap each
 * source they make in `base.own(…)`.
 */
export async function startLoopbackHarness<E extends Closable>(
  start: () => Promise<E>,
): Promise<LoopbackHarness<E>> {
  const net = trackConnections();
  let emulator: E;
  try {
    emulator = await start();
  } catch (err) {
    net.stop();
    throw err;
  }
  const owned: Closable[] = [];
  return {
    emulator,
    own(resource) {
      owned.push(resource);
      return resource;
    },
    async close() {
      try {
        for (const resource of owned.splice(0).reverse()) await resource.close();
        await emulator.close();
      } finally {
        net.stop();
      }
      const away = net.offLoopback();
      if (away.length > 0) {
        throw new Error(`connections left loopback: ${away.map((c) => `${c.host}:${c.port}`).join(', ')}`);
      }
    },
  };
}

/** Waits until `predicate` holds (polling every 10 ms), or fails naming `what` after `timeoutMs`. */
export async function until(predicate: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
