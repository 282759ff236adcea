// Shared set-up of the adapter's tests: a loopback Vault emulator, and sources pointed at it with the
// real node-vault client, a recognisable root token and short deadlines. Every harness records the
// process's outgoing connections while it runs and fails its close() if one left loopback.
import {
  startVaultEmulator,
  trackConnections,
  type VaultEmulator,
  type VaultEmulatorOptions,
} from '@mtlskit/testkit';
import { type VaultSource, type VaultSourceOptions, vaultSource } from '../source.js';

/** Recognisable secrets: tests look for them in every error, warning and inspect output. */
export const ROOT_TOKEN = 'hvs.ROOTtokenMTLSKITleak0001xyz';
export const SECRET_ID = '7c1d5e0a-secret-id-LEAKCHECK-9f3b2a';
export const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJsZWFrY2hlY2sifQ.c2lnbmF0dXJlLWxlYWtjaGVjaw';

export interface VaultHarness {
  emulator: VaultEmulator;
  /** A source on the emulator; options override the test defaults (root token, 2 s deadline). */
  source(options: Partial<VaultSourceOptions> & { path: string }): VaultSource;
  /** Closes sources and emulator; rejects when any connection made meanwhile left loopback. */
  close(): Promise<void>;
}

export async function startVaultHarness(options: VaultEmulatorOptions = {}): Promise<VaultHarness> {
  const net = trackConnections();
  const emulator = await startVaultEmulator({ rootToken: ROOT_TOKEN, ...options });
  const opened: VaultSource[] = [];
  return {
    emulator,
    source(sourceOptions) {
      const source = vaultSource({
        endpoint: emulator.url,
        auth: { method: 'token', token: ROOT_TOKEN, renew: false },
        timeoutMs: 2_000,
        onWarning: () => {},
        ...sourceOptions,
      });
      opened.push(source);
      return source;
    },
    async close() {
      await Promise.all(opened.map((s) => s.close()));
      await emulator.close();
      net.stop();
      const away = net.offLoopback();
      if (away.length > 0) {
        throw new Error(`connections left loopback: ${away.map((c) => `${c.host}:${c.port}`).join(', ')}`);
      }
    },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `predicate` holds (polling), or fails naming `what`. */
export async function until(predicate: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}
