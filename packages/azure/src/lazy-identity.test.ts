// `@azure/identity` is loaded only for a source that has to build DefaultAzureCredential: an
// application that passes a client or a credential never loads it (nor MSAL behind it).
import { afterEach, expect, it, vi } from 'vitest';
import { startAzureHarness, testCredential } from './__tests__/harness.js';
import { azureKeyVaultSource } from './source.js';

const loads = vi.hoisted(() => ({ identity: 0 }));
vi.mock('@azure/identity', async (importOriginal) => {
  loads.identity++;
  return importOriginal();
});

afterEach(() => {
  vi.unstubAllEnvs();
});

it('imports @azure/identity only when neither client nor credential is given', async () => {
  const kv = await startAzureHarness();
  try {
    kv.emulator.putSecret('mtls', '{"cert":"c","key":"k"}');
    await azureKeyVaultSource({ name: 'mtls', client: kv.client(testCredential()) }).load();
    await azureKeyVaultSource({
      name: 'mtls',
      vaultUrl: kv.emulator.url,
      credential: testCredential(),
      clientOptions: kv.clientOptions,
    }).load();
    expect(loads.identity).toBe(0);

    vi.stubEnv('AZURE_TOKEN_CREDENTIALS', 'EnvironmentCredential');
    const source = azureKeyVaultSource({
      name: 'mtls',
      vaultUrl: kv.emulator.url,
      clientOptions: kv.clientOptions,
    });
    expect(loads.identity).toBe(0);
    await source.load().catch(() => undefined);
    expect(loads.identity).toBe(1);
  } finally {
    await kv.close();
  }
});
