// The first legacy (RC2/DES) PKCS#12 of a process: loadCredentials meets the cipher mid-decode, loads
// node-forge's modules asynchronously and decodes again. The second run must not pay for the key
// derivations twice — with a high iteration count, that doubled the worst case of a file. Counted
// here by the derivations' inner loop, in a test file of its own: the ciphers load once per process.
import { hasOpenssl, TestCA } from '@mtlskit/testkit';
import { describe, expect, test, vi } from 'vitest';
import { loadCredentials } from '../validation/load.js';
import { iterateHash } from './iterated-hash.js';
import { legacyCiphersIfLoaded } from './legacy-ciphers.js';

vi.mock('./iterated-hash.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('./iterated-hash.js')>();
  return { ...actual, iterateHash: vi.fn(actual.iterateHash) };
});

const PASSPHRASE = 'legacy retry passphrase';

describe.skipIf(!hasOpenssl())('the first legacy PKCS#12', () => {
  test('costs the same key derivations as any later one', async () => {
    const root = await TestCA.create();
    const leaf = await root.issueClient({ validForSeconds: 90 * 86_400 });
    const pfx = await leaf.pkcs12(PASSPHRASE, { algorithm: 'legacy-rc2' });
    const counted = vi.mocked(iterateHash);
    const derivations = async () => {
      counted.mockClear();
      const creds = await loadCredentials({ pfx, passphrase: PASSPHRASE });
      expect(creds.fingerprint256).toBe(leaf.fingerprint256);
      return counted.mock.calls.length;
    };

    expect(legacyCiphersIfLoaded()).toBeUndefined();
    const first = await derivations();
    expect(legacyCiphersIfLoaded(), 'the first load brought in RC2/DES').toBeDefined();
    const later = await derivations();
    // MAC key, RC2 key and IV for the certificates, 3DES key and IV for the key: at least 5.
    expect(later).toBeGreaterThanOrEqual(5);
    expect(first).toBe(later);
  });
});
