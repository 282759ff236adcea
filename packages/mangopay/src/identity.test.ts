// checkMangopayIdentity on real certificates from the test CA: empty for the one the guide describes,
// one finding per departure, with the Git Bash subject diagnosed in plain English.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCredentials, type MtlsCredentials } from '@mtlskit/core';
import { hasOpenssl, type IssueOptions, runOpenssl, TestCA, type TestKeyType } from '@mtlskit/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkMangopayIdentity, mangopayPolicy } from './identity.js';

const SANDBOX = { clientId: 'acme123', environment: 'sandbox' } as const;
const NAME = 'acme123.sandbox.mangopay.com';
const GUIDE_SUBJECT = `CN=${NAME}, O=Mangopay, C=LU`;
const DAY = 86_400_000;

let ca: TestCA;
beforeAll(async () => {
  ca = await TestCA.create();
});

async function issue(opts: IssueOptions & { keyType?: TestKeyType } = {}): Promise<MtlsCredentials> {
  const cert = await ca.issueClient({
    keyType: 'rsa2048',
    subject: GUIDE_SUBJECT,
    dnsNames: [NAME],
    validForSeconds: 365 * 86_400,
    ...opts,
  });
  return loadCredentials(
    { cert: cert.certPem, key: cert.keyPem },
    { requireClientAuth: opts.clientAuth !== false },
  );
}

const codes = (
  credentials: MtlsCredentials,
  identity: Parameters<typeof checkMangopayIdentity>[1] = SANDBOX,
) => checkMangopayIdentity(credentials, identity).map((f) => `${f.severity}:${f.code}`);

describe('checkMangopayIdentity', () => {
  it('is empty for the certificate the guide describes', async () => {
    expect(checkMangopayIdentity(await issue(), SANDBOX)).toEqual([]);
  });

  it('names the other ClientId', async () => {
    const [finding] = checkMangopayIdentity(await issue(), { clientId: 'other42', environment: 'sandbox' });
    expect(finding).toMatchObject({ code: 'IDENTITY_MISMATCH', severity: 'error', field: 'cert' });
    expect(finding?.message).toContain('is for ClientId "acme123", not "other42"');
    expect(finding?.message).toContain('other42.sandbox.mangopay.com');
  });

  it('names the other environment', async () => {
    const findings = checkMangopayIdentity(await issue(), { clientId: 'acme123', environment: 'production' });
    expect(findings.map((f) => f.code)).toEqual(['IDENTITY_MISMATCH', 'IDENTITY_MISMATCH']);
    expect(findings[0]?.message).toContain('the name for sandbox (sandbox), not production (prod)');
    expect(findings[1]?.message).toContain('do not include DNS:acme123.prod.mangopay.com');
  });

  it('says when the name is not a Mangopay client certificate name at all', async () => {
    const credentials = await issue({ subject: 'CN=client.example.com', dnsNames: ['client.example.com'] });
    const [finding] = checkMangopayIdentity(credentials, SANDBOX);
    expect(finding?.message).toContain(
      '"client.example.com", which is not a Mangopay client certificate name',
    );
  });

  it('diagnoses the subject the guide’s Windows command gives under Git Bash (one CN holding O and C)', async () => {
    const credentials = await issue({ subject: undefined, commonName: `${NAME}\\O=Mangopay\\C=LU` });
    const findings = checkMangopayIdentity(credentials, SANDBOX);
    expect(findings[0]).toMatchObject({ code: 'IDENTITY_MISMATCH', severity: 'error' });
    expect(findings[0]?.message).toContain('O=Mangopay and C=LU ran into the common name');
    expect(findings[0]?.message).toContain('Git Bash');
    expect(findings[0]?.fix).toContain(
      `MSYS_NO_PATHCONV=1 openssl req … -subj "/CN=${NAME}/O=Mangopay/C=LU"`,
    );
    expect(findings[0]?.fix).toContain(`subject=${GUIDE_SUBJECT}`);
  });

  it.skipIf(!hasOpenssl())(
    'diagnoses the same when OpenSSL itself read the backslashes of the Windows command as escapes',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'mtlskit-gitbash-'));
      try {
        const key = join(dir, 'private.key');
        const csr = join(dir, 'request.csr');
        expect((await runOpenssl(['genrsa', '-out', key, '2048'])).code).toBe(0);
        // What reaches OpenSSL from `-subj "//CN=…\O=Mangopay\C=LU"` once MSYS has eaten one slash.
        const made = await runOpenssl([
          'req',
          '-new',
          '-key',
          key,
          '-out',
          csr,
          '-subj',
          `/CN=${NAME}\\O=Mangopay\\C=LU`,
        ]);
        expect(made.code).toBe(0);
        const signed = await ca.signCsr(readFileSync(csr, 'utf8'), { validForSeconds: 365 * 86_400 });
        const credentials = await loadCredentials({ cert: signed.certPem, key: readFileSync(key, 'utf8') });
        expect(credentials.subject).not.toContain('\nO=');
        const [finding] = checkMangopayIdentity(credentials, SANDBOX);
        expect(finding?.message).toContain('ran into the common name');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  it('warns when the subject is in another order or lacks O and C', async () => {
    expect(codes(await issue({ subject: `C=LU, O=Mangopay, CN=${NAME}` }))).toEqual([
      'warning:SUBJECT_NOT_AS_GUIDE',
    ]);
    const [finding] = checkMangopayIdentity(await issue({ subject: `CN=${NAME}` }), SANDBOX);
    expect(finding?.message).toContain(
      `"CN=${NAME}"; Mangopay's guide asks for "${GUIDE_SUBJECT}", in that order`,
    );
  });

  it('warns without a SAN, refuses a SAN naming another host', async () => {
    expect(codes(await issue({ dnsNames: [] }))).toEqual(['warning:SAN_MISSING']);
    expect(codes(await issue({ dnsNames: ['other42.sandbox.mangopay.com'] }))).toEqual([
      'error:IDENTITY_MISMATCH',
    ]);
  });

  it('refuses a certificate without clientAuth, warns when it has no extended key usage at all', async () => {
    expect(codes(await issue({ clientAuth: false }))).toEqual(['error:NO_CLIENT_AUTH']);
    expect(codes(await issue({ eku: false }))).toEqual(['warning:CLIENT_AUTH_NOT_STATED']);
  });

  it('warns for a key other than RSA 2048', async () => {
    expect(codes(await issue({ keyType: 'ec-p256' }))).toEqual(['warning:KEY_NOT_RSA_2048']);
    const [finding] = checkMangopayIdentity(await issue({ keyType: 'rsa3072' }), SANDBOX);
    expect(finding?.message).toContain('RSA 3072');
  });

  it('counts the days left within the expiring window (30 days by default, or warnDays)', async () => {
    const credentials = await issue({ validForSeconds: 10 * 86_400 + 3600 });
    const [finding] = checkMangopayIdentity(credentials, SANDBOX);
    expect(finding).toMatchObject({ code: 'EXPIRING_SOON', severity: 'warning' });
    expect(finding?.message).toContain('in 10 days');
    expect(checkMangopayIdentity(credentials, { ...SANDBOX, warnDays: 7 })).toEqual([]);
  });

  it('reports an expired or not yet valid certificate by the clock it is given', async () => {
    const credentials = await issue();
    const notAfter = credentials.notAfter.getTime();
    expect(codes(credentials, { ...SANDBOX, now: () => notAfter + DAY })).toEqual(['error:EXPIRED']);
    expect(codes(credentials, { ...SANDBOX, now: () => credentials.notBefore.getTime() - DAY })).toEqual([
      'error:NOT_YET_VALID',
    ]);
  });

  it('lists errors before warnings', async () => {
    const credentials = await issue({ keyType: 'ec-p256', dnsNames: [] });
    expect(codes(credentials, { clientId: 'other42', environment: 'sandbox' })).toEqual([
      'error:IDENTITY_MISMATCH',
      'warning:SAN_MISSING',
      'warning:KEY_NOT_RSA_2048',
    ]);
  });

  it('refuses a malformed identity with INVALID_OPTION', async () => {
    const credentials = await issue();
    expect(() => checkMangopayIdentity(credentials, { clientId: 'a b', environment: 'sandbox' })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION' }),
    );
  });
});

describe('mangopayPolicy', () => {
  it('makes loadCredentials refuse another ClientId’s or environment’s certificate, and accept the right one', async () => {
    const cert = await ca.issueClient({ keyType: 'rsa2048', subject: GUIDE_SUBJECT, dnsNames: [NAME] });
    const material = { cert: cert.certPem, key: cert.keyPem };
    await expect(loadCredentials(material, mangopayPolicy(SANDBOX))).resolves.toMatchObject({
      subject: expect.stringContaining(NAME),
    });
    await expect(
      loadCredentials(material, mangopayPolicy({ clientId: 'other42', environment: 'sandbox' })),
    ).rejects.toMatchObject({
      code: 'IDENTITY_MISMATCH',
    });
    await expect(
      loadCredentials(material, mangopayPolicy({ clientId: 'acme123', environment: 'production' })),
    ).rejects.toMatchObject({
      code: 'IDENTITY_MISMATCH',
    });
  });

  it('keeps the other members of the policy it is given', () => {
    expect(mangopayPolicy(SANDBOX, { warnDays: 45 }).warnDays).toBe(45);
  });
});
