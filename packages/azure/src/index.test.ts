// The azure-kv: scheme end to end: importing the package registers it, and references build sources
// that read from the emulator with the real SecretClient — an injected client, or a credential and
// client options for the client built from the reference; ca= and passphrase= sub-references merged.
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listSchemes, loadCredentials, MtlsError, sourceFromReference } from '@mtlskit/core';
import { type IssuedCert, TestCA } from '@mtlskit/testkit';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type AzureHarness, startAzureHarness, testCredential } from './__tests__/harness.js';
import { azureKvScheme } from './index.js';

let leaf: IssuedCert;
let kv: AzureHarness;
let dir: string;
const opened: Array<{ close?(): Promise<void> }> = [];

beforeAll(async () => {
  leaf = await (await TestCA.create()).issueClient({ commonName: 'kv ref leaf' });
  dir = await mkdtemp(join(tmpdir(), 'mtlskit-azure-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));
beforeEach(async () => {
  kv = await startAzureHarness();
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close?.()));
  await kv.close();
});

async function fromReference(reference: string, options: Parameters<typeof sourceFromReference>[1] = {}) {
  const source = await sourceFromReference(reference, options);
  opened.push(source);
  return source;
}

/** The emulator as a reference names it: its host (it contains dots) and port. */
const vaultOf = (harness: AzureHarness) => new URL(harness.emulator.url).host;

describe('the azure-kv: scheme', () => {
  it('is registered by importing @mtlskit/azure', () => {
    const row = listSchemes().find((s) => s.scheme === 'azure-kv');
    expect(row).toMatchObject({ packageName: '@mtlskit/azure', available: true });
    expect(Object.keys(row?.options ?? {})).toEqual(['vaultUrl', 'timeoutMs', 'passphrase', 'ca']);
    expect(azureKvScheme.scheme).toBe('azure-kv');
  });

  it('builds a source from azure-kv://VAULT/SECRET with an injected client', async () => {
    const v = kv.emulator.putSecret('mtls', JSON.stringify({ cert: leaf.certPem, key: leaf.keyPem }));
    const reference = `azure-kv://${vaultOf(kv)}/mtls`;
    const source = await fromReference(reference, { client: kv.client() });
    expect(source.id).toBe(reference);
    expect(source.kind).toBe('static');
    const credentials = await loadCredentials(source);
    expect(credentials.fingerprint256).toBe(leaf.fingerprint256);
    expect(credentials.sourceVersion).toBe(v.id);
  });

  it('builds its own client from a credential and client options, and reads a pinned version', async () => {
    const v1 = kv.emulator.putSecret('mtls', JSON.stringify({ cert: leaf.certPem, key: leaf.keyPem }));
    kv.emulator.putSecret('mtls', 'a later version');
    const credential = testCredential();
    const source = await fromReference(`azure-kv:///mtls/${v1.id}?vaultUrl=${kv.emulator.url}`, {
      credential,
      clientOptions: kv.clientOptions,
    });
    expect((await loadCredentials(source)).fingerprint256).toBe(leaf.fingerprint256);
    expect(credential.scopes).toEqual([['https://vault.azure.net/.default']]);
  });

  it('merges ca= and passphrase= sub-references into a certificate-backed secret', async () => {
    const caFile = join(dir, 'api-ca.pem');
    await writeFile(caFile, leaf.caPem);
    kv.emulator.putSecret('client-cert', (await leaf.pkcs12('pfx pass')).toString('base64'), {
      contentType: 'application/x-pkcs12',
      managed: true,
    });
    const source = await fromReference(
      `azure-kv://${vaultOf(kv)}/client-cert?ca=file:${caFile}&passphrase=env:KV_PFX_PASS`,
      { client: kv.client(), env: { KV_PFX_PASS: 'pfx pass' } },
    );
    const credentials = await loadCredentials(source);
    expect(credentials.fingerprint256).toBe(leaf.fingerprint256);
    expect(credentials.ca.map((c) => c.fingerprint256)).toEqual([
      new X509Certificate(leaf.caPem).fingerprint256,
    ]);
  });

  it('passes timeoutMs to the source', async () => {
    kv.emulator.putSecret('mtls', 'x');
    kv.emulator.fail({ kind: 'slow', times: Number.POSITIVE_INFINITY });
    const source = await fromReference(`azure-kv://${vaultOf(kv)}/mtls?timeoutMs=150`, {
      client: kv.client(),
    });
    const err = await source.load().catch((e: unknown) => e);
    expect(MtlsError.is(err, 'SOURCE_UNAVAILABLE')).toBe(true);
    expect((err as MtlsError).message).toContain('within 150 ms');
  });

  it('refuses a client or a credential that is not one', async () => {
    const reference = `azure-kv://${vaultOf(kv)}/mtls`;
    await expect(sourceFromReference(reference, { client: { send() {} } })).rejects.toMatchObject({
      code: 'INVALID_OPTION',
      message: expect.stringContaining('is not a SecretClient'),
    });
    await expect(sourceFromReference(reference, { credential: 'token' })).rejects.toMatchObject({
      code: 'INVALID_OPTION',
      message: expect.stringContaining('is not a TokenCredential'),
    });
  });
});
