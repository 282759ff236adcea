// createMangopayResolver: the Mangopay check on every load — refused before the first use, refused at
// a rotation (the old certificate stays), warnings once, the expiring event, sources by reference.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {
  CredentialMaterial,
  CredentialSource,
  Finding,
  RefreshFailedEvent,
  TlsResolver,
} from '@mtlskit/core';
import { type IssuedCert, leakCheck, TestCA } from '@mtlskit/testkit';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createMangopayResolver } from './resolver.js';

const SANDBOX = { clientId: 'acme123', environment: 'sandbox' } as const;

let ca: TestCA;
let good: IssuedCert;
let otherClient: IssuedCert;
let gitBash: IssuedCert;
let noSan: IssuedCert;
const open: TlsResolver[] = [];

function named(
  clientId: string,
  environment = 'sandbox',
  extra: { dnsNames?: string[]; validForSeconds?: number } = {},
) {
  const name = `${clientId}.${environment}.mangopay.com`;
  return ca.issueClient({
    keyType: 'rsa2048',
    subject: `CN=${name}, O=Mangopay, C=LU`,
    dnsNames: [name],
    validForSeconds: 365 * 86_400,
    ...extra,
  });
}

/** A source whose material the test swaps, as a vault rotation would. */
function swappable(cert: IssuedCert) {
  let current: CredentialMaterial = { cert: cert.certPem, key: cert.keyPem };
  let loads = 0;
  const source: CredentialSource = {
    id: 'test:swappable',
    load: async () => {
      loads++;
      return current;
    },
  };
  return {
    source,
    loads: () => loads,
    swap(next: IssuedCert) {
      current = { cert: next.certPem, key: next.keyPem };
    },
  };
}

function resolver(options: Parameters<typeof createMangopayResolver>[0]): TlsResolver {
  const r = createMangopayResolver({ onWarning: () => {}, ...options });
  open.push(r);
  return r;
}

beforeAll(async () => {
  ca = await TestCA.create();
  [good, otherClient, gitBash, noSan] = await Promise.all([
    named('acme123'),
    named('other42'),
    ca.issueClient({
      keyType: 'rsa2048',
      commonName: 'acme123.sandbox.mangopay.com\\O=Mangopay\\C=LU',
      validForSeconds: 365 * 86_400,
    }),
    named('acme123', 'sandbox', { dnsNames: [] }),
  ]);
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((r) => r.close()));
});

describe('createMangopayResolver', () => {
  it('serves the certificate Mangopay expects', async () => {
    const r = resolver({ source: swappable(good).source, ...SANDBOX });
    expect((await r.credentials()).fingerprint256).toBe(good.fingerprint256);
  });

  it('refuses another ClientId’s certificate before the first use, with the Mangopay diagnosis', async () => {
    const r = resolver({ source: swappable(otherClient).source, ...SANDBOX });
    const error = await r.credentials().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'IDENTITY_MISMATCH', sourceId: 'test:swappable' });
    expect((error as Error).message).toContain('is for ClientId "other42", not "acme123"');
    expect(r.health()).toMatchObject({ ready: false, lastError: { code: 'IDENTITY_MISMATCH' } });
  });

  it('refuses the Git Bash subject, saying what went wrong', async () => {
    const r = resolver({ source: swappable(gitBash).source, ...SANDBOX });
    await expect(r.credentials()).rejects.toThrow(/O=Mangopay and C=LU ran into the common name/);
  });

  it('refuses a rotation to a certificate of another environment and keeps serving the good one', async () => {
    const store = swappable(good);
    const r = resolver({ source: store.source, ...SANDBOX });
    await r.credentials();
    const failures: RefreshFailedEvent[] = [];
    r.on('refreshFailed', (event) => failures.push(event));
    store.swap(await named('acme123', 'prod'));
    await expect(r.refresh()).rejects.toMatchObject({ code: 'IDENTITY_MISMATCH' });
    expect((await r.credentials()).fingerprint256).toBe(good.fingerprint256);
    expect(failures).toHaveLength(1);
    expect(failures[0]?.error.code).toBe('IDENTITY_MISMATCH');
    expect(failures[0]?.error.message).toContain('the name for production (prod), not sandbox (sandbox)');
    expect(failures[0]?.stale).toBe(true);
  });

  it('follows a rotation to a renewed certificate of the same account', async () => {
    const store = swappable(good);
    const r = resolver({ source: store.source, ...SANDBOX });
    await r.credentials();
    const renewed = await named('acme123');
    store.swap(renewed);
    expect((await r.refresh()).fingerprint256).toBe(renewed.fingerprint256);
  });

  it('reports each warning once per certificate, not at every load', async () => {
    const warnings: Finding[] = [];
    const store = swappable(noSan);
    const r = resolver({ source: store.source, ...SANDBOX, onWarning: (f) => warnings.push(f) });
    await r.credentials();
    await r.refresh();
    await r.refresh();
    expect(store.loads()).toBe(3);
    expect(warnings.map((f) => f.code)).toEqual(['SAN_MISSING']);
  });

  it('fires expiring for a certificate within 30 days of notAfter, and warns with the days left', async () => {
    const warnings: Finding[] = [];
    const soon = await named('acme123', 'sandbox', { validForSeconds: 12 * 86_400 });
    const r = resolver({ source: swappable(soon).source, ...SANDBOX, onWarning: (f) => warnings.push(f) });
    const expiring = new Promise((resolve) => r.once('expiring', resolve));
    await r.credentials();
    await expect(expiring).resolves.toMatchObject({ fingerprint256: soon.fingerprint256 });
    expect(warnings[0]?.message).toMatch(/in 1[12] days/);
  });

  it('judges dates by the clock the resolver is given', async () => {
    const warnings: Finding[] = [];
    const fiveDaysBefore = good.notAfter.getTime() - 5 * 86_400_000 - 3_600_000;
    const r = resolver({
      source: swappable(good).source,
      ...SANDBOX,
      clock: { now: () => fiveDaysBefore },
      mode: 'on-access',
      onWarning: (f) => warnings.push(f),
    });
    await r.credentials();
    expect(warnings.map((f) => [f.code, f.message.includes('in 5 days')])).toEqual([['EXPIRING_SOON', true]]);
  });

  it('takes a reference, and closes the source it made from it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtlskit-mangopay-ref-'));
    try {
      writeFileSync(join(dir, 'certificate.pem'), good.certPem);
      writeFileSync(join(dir, 'private.key'), good.keyPem, { mode: 0o600 });
      const r = resolver({ source: `file:${dir}`, ...SANDBOX });
      expect((await r.credentials()).fingerprint256).toBe(good.fingerprint256);
      await r.close();
      await expect(r.credentials()).rejects.toMatchObject({ code: 'CLOSED' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps the source’s own warnings on the credentials, as core’s resolver does', async () => {
    const own: Finding = {
      code: 'KEY_FILE_PERMISSIONS',
      severity: 'warning',
      field: 'key',
      message: 'the key file is readable by its group',
      fix: 'chmod 600 it',
    };
    const r = resolver({ source: { ...swappable(good).source, warnings: [own] }, ...SANDBOX });
    expect((await r.credentials()).findings).toContainEqual(own);
  });

  it('refuses a missing source or identity with INVALID_OPTION', () => {
    expect(() => createMangopayResolver({ source: undefined as never, ...SANDBOX })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION' }),
    );
    expect(() =>
      createMangopayResolver({ source: 'env:', clientId: 'acme123', environment: 'live' as never }),
    ).toThrow(
      expect.objectContaining({
        code: 'INVALID_OPTION',
        message: expect.stringContaining("'production'"),
      }),
    );
  });

  it('shows no key bytes in its errors and events', async () => {
    const store = swappable(good);
    const r = resolver({ source: store.source, ...SANDBOX });
    await r.credentials();
    const events: unknown[] = [];
    r.on('refreshFailed', (event) => events.push(event));
    store.swap(otherClient);
    const refreshed = await r.refresh().catch((e: unknown) => e);
    const refused = await resolver({ source: swappable(otherClient).source, ...SANDBOX })
      .credentials()
      .catch((e: unknown) => e);
    const leaks = leakCheck([good.keyPem, otherClient.keyPem, good.keyDer, otherClient.keyDer]);
    leaks.check(events, 'refreshFailed events');
    leaks.check(refused, 'the refusal');
    leaks.check(refreshed, 'the refused refresh');
    expect(events).toHaveLength(1);
    leaks.check(r, 'the resolver');
  });
});
