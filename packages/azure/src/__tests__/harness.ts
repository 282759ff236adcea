// Shared set-up of the adapter's tests: a loopback Key Vault emulator (HTTPS, its own CA) and sources
// pointed at it with the real SecretClient, a static test credential (so nothing looks for one
// elsewhere), no SDK retries and short deadlines. Every harness records the process's outgoing
// connections while it runs and fails its close() if one left loopback: no test of this package
// reaches Azure, Entra ID or a metadata service.
import type { AccessToken, TokenCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import {
  type AzureKeyVaultEmulator,
  type AzureKeyVaultEmulatorOptions,
  type LoopbackHarness,
  startAzureKeyVaultEmulator,
  startLoopbackHarness,
} from '@mtlskit/testkit';
import { type AzureKeyVaultSource, type AzureKeyVaultSourceOptions, azureKeyVaultSource } from '../source.js';

/** The bearer token the test credential hands out: a secret the leak checks look for. */
export const TEST_TOKEN =
  'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.mtlskit-test-token.c2lnbmF0dXJlLW10bHNraXQtdGVzdA';

/** A TokenCredential that counts its calls and gives out {@link TEST_TOKEN} (or what `token` says). */
export function testCredential(token = TEST_TOKEN): TokenCredential & { scopes: string[][] } {
  const scopes: string[][] = [];
  return {
    scopes,
    async getToken(scope: string | string[]): Promise<AccessToken> {
      scopes.push(Array.isArray(scope) ? scope : [scope]);
      return { token, expiresOnTimestamp: Date.now() + 3600_000 };
    },
  };
}

export interface AzureHarness extends LoopbackHarness<AzureKeyVaultEmulator> {
  /** Client options that reach the emulator: its CA trusted, no challenge-resource check, no retries. */
  clientOptions: ConstructorParameters<typeof SecretClient>[2];
  /** A real SecretClient on the emulator, as an application configures one. */
  client(credential?: TokenCredential): SecretClient;
  /** A source on the emulator; options override the test defaults. Closed by `close()`. */
  source(options: Omit<AzureKeyVaultSourceOptions, 'vaultUrl'> & { vaultUrl?: string }): AzureKeyVaultSource;
}

export async function startAzureHarness(options: AzureKeyVaultEmulatorOptions = {}): Promise<AzureHarness> {
  const base = await startLoopbackHarness(() => startAzureKeyVaultEmulator(options));
  const { emulator } = base;
  const clientOptions = {
    tlsOptions: { ca: emulator.caPem },
    disableChallengeResourceVerification: true,
    retryOptions: { maxRetries: 0 },
  };
  return {
    ...base,
    clientOptions,
    client: (credential = testCredential()) => new SecretClient(emulator.url, credential, clientOptions),
    source(sourceOptions) {
      return base.own(
        azureKeyVaultSource({
          vaultUrl: emulator.url,
          credential: testCredential(),
          clientOptions,
          maxRetries: 0,
          timeoutMs: 2_000,
          ...sourceOptions,
        }),
      );
    },
  };
}
