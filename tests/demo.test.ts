// `npm run demo` is the first thing a newcomer runs: it must load a real credential and make a real
// mTLS request, and show no secret while doing so. Runs the built packages, like a user would.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
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
    // The field is named, quoted or not depending on how core labels it.
    expect(out).toMatch(/KEY_MISMATCH: The private key in `?key`? does not belong to the certificate/);
    expect(out).not.toContain('demo passphrase');
    expect(out).not.toMatch(/PRIVATE KEY/);
  });

  it('fails loudly, with exit code 1, when the mismatched key is unexpectedly accepted', () => {
    // The demo itself, with its "key of another certificate" replaced by the right (encrypted) key:
    // the stand-in for a key check that lets a mismatch through. Run from the workspace root, so
    // `@mtlskit/*` resolve as they do for scripts/demo.mjs.
    const demo = readFileSync(`${root}scripts/demo.mjs`, 'utf8');
    const wrongKey = 'MTLS_KEY: b64(other.keyPem)';
    expect(demo).toContain(wrongKey);
    const broken = demo.replace(/^#!.*\n/, '').replace(wrongKey, 'MTLS_KEY: env.MTLS_KEY');
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', broken], {
      cwd: root,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.stdout).toMatch(/answered 200 to mtls\.fetch\(\);\nit saw this certificate/);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(
      'the key of another certificate should have been refused with KEY_MISMATCH, but it was accepted',
    );
  });
});
