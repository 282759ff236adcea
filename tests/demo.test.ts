// `npm run demo` is the first thing a newcomer runs: it must load a real credential and make a real
// mTLS request, and show no secret while doing so. Runs the built packages, like a user would.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('npm run demo', () => {
  it('loads a Base64-stored credential with an encrypted key, makes an mTLS request, and explains a mismatch', () => {
    const out = execFileSync(process.execPath, ['scripts/demo.mjs'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(out).toContain('subject            CN=demo-client.sandbox.mangopay.com, O=Mangopay, C=LU');
    expect(out).toContain('findings           none: ready to use');
    expect(out).toMatch(/answered 200 to mtls\.fetch\(\);\nit saw this certificate/);
    expect(out).toContain('KEY_MISMATCH: The private key in key does not belong to the certificate');
    expect(out).not.toContain('demo passphrase');
    expect(out).not.toMatch(/PRIVATE KEY/);
  });
});
