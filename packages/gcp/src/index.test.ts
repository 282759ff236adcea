// The `gcp-sm:` scheme: importing the package registers it, and every reference form builds a source
// that reads from the emulator with the real client, on both transports.
import { listSchemes, loadCredentials, MtlsError, sourceFromReference } from '@mtlskit/core';
import { type IssuedCert, TestCA } from '@mtlskit/testkit';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { askedOf, type GcpHarness, startGcpHarness, TRANSPORTS } from './__tests__/harness.js';
import './index.js';

let alice: IssuedCert;
const opened: Array<{ close?(): Promise<void> }> = [];
const bundleOf = (cert: IssuedCert, key = cert.keyPem) => JSON.stringify({ cert: cert.certPem, key });

beforeAll(async () => {
  alice = await (await TestCA.create()).issueClient({ commonName: 'alice' });
});

async function fromReference(reference: string, options: Parameters<typeof sourceFromReference>[1] = {}) {
  const source = await sourceFromReference(reference, options);
  opened.push(source);
  return source;
}

it('registers gcp-sm: when @mtlskit/gcp is imported', () => {
  expect(listSchemes().find((s) => s.scheme === 'gcp-sm')).toMatchObject({
    packageName: '@mtlskit/gcp',
    available: true,
  });
});

describe.each(TRANSPORTS)('gcp-sm: references with an injected %s client', (transport) => {
  let gcp: GcpHarness;
  beforeEach(async () => {
    gcp = await startGcpHarness(transport);
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close?.()));
    await gcp.close();
  });

  it('reads latest, a pinned version and a regional secret', async () => {
    gcp.emulator.putSecret('prod-mtls', bundleOf(alice));
    gcp.emulator.putSecret('projects/mtlskit-test/locations/europe-west1/secrets/eu', bundleOf(alice));
    const client = gcp.client();
    for (const reference of [
      'gcp-sm://projects/mtlskit-test/secrets/prod-mtls',
      'gcp-sm://projects/123456789012/secrets/prod-mtls/versions/1',
      'gcp-sm://projects/mtlskit-test/locations/europe-west1/secrets/eu',
    ]) {
      const source = await fromReference(reference, { client });
      expect(source.id).toContain(reference.slice('gcp-sm://'.length));
      const material = await source.load();
      expect(material.version).toBe('1');
      expect((await loadCredentials(material)).fingerprint256).toBe(alice.fingerprint256);
    }
    // A first read of latest also asks whether the secret has the renewal alias `current`.
    expect(askedOf(gcp.emulator)).toEqual([
      'AccessSecretVersion latest',
      'AccessSecretVersion current',
      'AccessSecretVersion 1',
      'AccessSecretVersion latest',
      'AccessSecretVersion current',
    ]);
    expect(gcp.emulator.log.calls().map((c) => c.secret)).toEqual([
      'projects/mtlskit-test/secrets/prod-mtls',
      'projects/mtlskit-test/secrets/prod-mtls',
      'projects/mtlskit-test/secrets/prod-mtls',
      'projects/mtlskit-test/locations/europe-west1/secrets/eu',
      'projects/mtlskit-test/locations/europe-west1/secrets/eu',
    ]);
  });

  it('merges a passphrase from another reference', async () => {
    gcp.emulator.putSecret('prod-mtls', bundleOf(alice, alice.encryptedPkcs8Pem('correct horse')));
    const source = await fromReference(
      'gcp-sm://projects/mtlskit-test/secrets/prod-mtls?passphrase=env:GCP_TEST_PASSPHRASE',
      { client: gcp.client(), env: { GCP_TEST_PASSPHRASE: 'correct horse' } },
    );
    expect((await loadCredentials(await source.load())).fingerprint256).toBe(alice.fingerprint256);
  });
});

describe('gcp-sm: reference errors', () => {
  it.each([
    ['gcp-sm://projects/mtlskit-test/secrets', /not a secret resource name/],
    ['gcp-sm://projects/Bad_Project/secrets/s', /"Bad_Project" is not a project id/],
    ['gcp-sm://projects/my-project/secrets/s/versions/1.5', /"1\.5" is not a secret version/],
    ['gcp-sm://projects/my-project/secrets/s?transport=http2', /transport/],
  ])('refuses %s', async (reference, message) => {
    const err = await sourceFromReference(reference).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(MtlsError.is(err, 'INVALID_REFERENCE')).toBe(true);
    expect((err as MtlsError).message).toMatch(message);
  });
});
