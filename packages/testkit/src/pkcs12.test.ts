import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type IssuedCert, TestCA } from './ca.js';
import { hasOpenssl, runOpenssl } from './openssl.js';
import { httpsRequest, type MtlsTestServer, startMtlsServer } from './server.js';

const PASSPHRASE = 'pfx passphrase 42';
// Shown in the test names, so a skipped run says why.
const NEEDS_OPENSSL = hasOpenssl() ? '' : ' [skipped: needs the openssl CLI]';

let dir: string;
let root: TestCA;
let intermediate: TestCA;
let client: IssuedCert;
let server: MtlsTestServer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mtlskit-pkcs12-test-'));
  root = await TestCA.create();
  intermediate = await root.intermediate();
  client = await intermediate.issueClient({ commonName: 'pfx client' });
  server = await startMtlsServer({ clientCa: root.rootPem });
});
afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

/** What `openssl pkcs12 -info` says about a file (algorithms, MAC, bags), keys not printed. */
async function opensslInfo(
  pfx: Buffer,
  extra: string[] = [],
): Promise<{ stdout: string; stderr: string; code: number | null }> {
  const file = join(dir, `info-${Math.random().toString(36).slice(2)}.p12`);
  await writeFile(file, pfx);
  return runOpenssl(['pkcs12', '-info', '-noout', '-in', file, '-passin', 'env:P12_PASS', ...extra], {
    env: { P12_PASS: PASSPHRASE },
  });
}

async function certificatesIn(pfx: Buffer): Promise<number> {
  const file = join(dir, `certs-${Math.random().toString(36).slice(2)}.p12`);
  await writeFile(file, pfx);
  const result = await runOpenssl(['pkcs12', '-nokeys', '-in', file, '-passin', 'env:P12_PASS'], {
    env: { P12_PASS: PASSPHRASE },
  });
  expect(result.code).toBe(0);
  return result.stdout.match(/-----BEGIN CERTIFICATE-----/g)?.length ?? 0;
}

describe('modern PKCS#12 (AES-256-CBC, written in-process)', { timeout: 20_000 }, () => {
  it('loads in tls.createSecureContext and authenticates a real mTLS request, chain included', async () => {
    const pfx = await client.pkcs12(PASSPHRASE);

    expect(() => createSecureContext({ pfx, passphrase: PASSPHRASE })).not.toThrow();
    const response = await httpsRequest(server.url, { pfx, passphrase: PASSPHRASE, ca: server.caPem });

    expect(response.status).toBe(200);
    expect(server.requests.at(-1)?.peerFingerprint256).toBe(client.fingerprint256);
  });

  it.each(['ec-p256', 'ed25519', 'rsa2048'] as const)('holds a %s key that Node loads', async (keyType) => {
    const leaf = await root.issueClient({ keyType });
    const pfx = await leaf.pkcs12(PASSPHRASE);
    expect(() => createSecureContext({ pfx, passphrase: PASSPHRASE })).not.toThrow();
    expect((await httpsRequest(server.url, { pfx, passphrase: PASSPHRASE, ca: server.caPem })).status).toBe(
      200,
    );
  });

  it('fails to load with a wrong passphrase, as Node reports it', async () => {
    const pfx = await client.pkcs12(PASSPHRASE);
    expect(() => createSecureContext({ pfx, passphrase: 'not the passphrase' })).toThrow(
      /mac verify failure/,
    );
  });

  it.skipIf(!hasOpenssl())(
    `uses PBES2 / PBKDF2-HMAC-SHA256 / AES-256-CBC and a SHA-256 MAC, as openssl reads it${NEEDS_OPENSSL}`,
    async () => {
      const info = await opensslInfo(await client.pkcs12(PASSPHRASE, { friendlyName: 'my client' }));

      expect(info.code).toBe(0);
      expect(info.stderr).toContain('MAC: sha256');
      expect(info.stderr).toMatch(/PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC, .*PRF hmacWithSHA256/);
      expect(info.stderr).toMatch(/Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, .*PRF hmacWithSHA256/);
    },
  );

  it.skipIf(!hasOpenssl())(
    `includes the intermediates by default, the root only when asked${NEEDS_OPENSSL}`,
    async () => {
      expect(await certificatesIn(await client.pkcs12(PASSPHRASE))).toBe(2);
      expect(await certificatesIn(await client.pkcs12(PASSPHRASE, { includeChain: false }))).toBe(1);
      expect(await certificatesIn(await client.pkcs12(PASSPHRASE, { includeRoot: true }))).toBe(3);
    },
  );
});

describe.skipIf(!hasOpenssl())(`3DES and legacy PKCS#12 (written by the openssl CLI)${NEEDS_OPENSSL}`, () => {
  it('writes a PBE-SHA1-3DES file that Node loads and authenticates with', async () => {
    const pfx = await client.pkcs12(PASSPHRASE, { algorithm: '3des' });
    const info = await opensslInfo(pfx);

    expect(info.stderr).toContain('MAC: sha1');
    expect(info.stderr).toContain('PKCS7 Encrypted data: pbeWithSHA1And3-KeyTripleDES-CBC');
    expect(info.stderr).toContain('Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC');
    expect(() => createSecureContext({ pfx, passphrase: PASSPHRASE })).not.toThrow();
    expect((await httpsRequest(server.url, { pfx, passphrase: PASSPHRASE, ca: server.caPem })).status).toBe(
      200,
    );
  });

  it('writes a legacy RC2-40 file that Node 20 refuses but `openssl pkcs12 -info -legacy` reads', async () => {
    const pfx = await client.pkcs12(PASSPHRASE, { algorithm: 'legacy-rc2' });

    expect(() => createSecureContext({ pfx, passphrase: PASSPHRASE })).toThrow(
      /Unsupported PKCS12 PFX data|unsupported/,
    );
    const legacy = await opensslInfo(pfx, ['-legacy']);
    expect(legacy.code).toBe(0);
    expect(legacy.stderr).toContain('PKCS7 Encrypted data: pbeWithSHA1And40BitRC2-CBC');
    // Without the legacy provider, OpenSSL 3 itself cannot decrypt the RC2 safe.
    expect((await opensslInfo(pfx)).code).not.toBe(0);
  });

  it("writes openssl's own default file, and passes extra flags in the order given", async () => {
    const defaults = await opensslInfo(await client.pkcs12(PASSPHRASE, { algorithm: 'openssl' }));
    expect(defaults.stderr).toContain('MAC: sha256');
    expect(defaults.stderr).toMatch(/Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC/);
    const noMac = await client.pkcs12(PASSPHRASE, {
      algorithm: 'openssl',
      opensslArgs: ['-iter', '1', '-nomac'],
    });
    const info = await opensslInfo(noMac, ['-nomacver']);
    expect(info.code).toBe(0);
    expect(info.stderr).not.toContain('MAC:');
    expect(info.stderr).toContain('Iteration 1');
  });

  it('removes its temporary files, key included', async () => {
    const privateTmp = await mkdtemp(join(dir, 'tmp-'));
    vi.stubEnv('TMPDIR', privateTmp);
    try {
      await client.pkcs12(PASSPHRASE, { algorithm: '3des' });
      await client.pkcs12(PASSPHRASE, { algorithm: 'legacy-rc2' });
    } finally {
      vi.unstubAllEnvs();
    }
    expect(await readdir(privateTmp)).toEqual([]);
  });
});

describe('without the openssl CLI', () => {
  it('says the openssl CLI is needed for 3DES and legacy files, and still writes modern ones', async () => {
    vi.stubEnv('MTLSKIT_OPENSSL', join(tmpdir(), 'mtlskit-no-such-openssl'));
    try {
      expect(hasOpenssl()).toBe(false);
      await expect(client.pkcs12(PASSPHRASE, { algorithm: '3des' })).rejects.toThrow(
        /the openssl CLI is needed/,
      );
      await expect(client.pkcs12(PASSPHRASE, { algorithm: 'legacy-rc2' })).rejects.toThrow(/hasOpenssl\(\)/);
      expect((await client.pkcs12(PASSPHRASE)).length).toBeGreaterThan(0);
    } finally {
      vi.unstubAllEnvs();
    }
  });
});
