// Shared set-up of the adapter's tests: a loopback Vault emulator, and sources pointed at it with the
// real node-vault client, a recognisable root token and short deadlines. Every harness records the
// process's outgoing connections while it runs and fails its close() if one left loopback.
import {
  type LoopbackHarness,
  startLoopbackHarness,
  startVaultEmulator,
  type VaultEmulator,
  type VaultEmulatorOptions,
} from '@mtlskit/testkit';
import { type VaultSource, type VaultSourceOptions, vaultSource } from '../source.js';

/** Recognisable secrets: tests look for them in every error, warning and inspect output. */
export const ROOT_TOKEN = 'hvs.ROOTtokenMTLSKITleak0001xyz';
export const SECRET_ID = '7c1d5e0a-secret-id-LEAKCHECK-9f3b2a';
export const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJsZWFrY2hlY2sifQ.c2lnbmF0dXJlLWxlYWtjaGVjaw';

export interface VaultHarness extends LoopbackHarness<VaultEmulator> {
  /** A source on the emulator; options override the test defaults (root token, 2 s deadline). */
  source(options: Partial<VaultSourceOptions> & { path: string }): VaultSource;
}

export async function startVaultHarness(options: VaultEmulatorOptions = {}): Promise<VaultHarness> {
  const base = await startLoopbackHarness(() => startVaultEmulator({ rootToken: ROOT_TOKEN, ...options }));
  return {
    ...base,
    source(sourceOptions) {
      return base.own(
        vaultSource({
          endpoint: base.emulator.url,
          auth: { method: 'token', token: ROOT_TOKEN, renew: false },
          timeoutMs: 2_000,
          onWarning: () => {},
          ...sourceOptions,
        }),
      );
    },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export { until } from '@mtlskit/testkit';
