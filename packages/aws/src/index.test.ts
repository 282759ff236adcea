// The `aws-sm:` scheme: importing the package registers it, and every reference form builds a source
// that reads from the emulator with the real SDK.
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  createTlsResolver,
  listSchemes,
  loadCredentials,
  MtlsError,
  sourceFromReference,
} from '@mtlskit/core';
import { type IssuedCert, TestCA } from '@mtlskit/testkit';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { type AwsHarness, startAwsHarness, TEST_CREDENTIALS, TEST_REGION } from './__tests__/harness.js';
import { awsSmScheme } from './index.js';

let alice: IssuedCert;
let aws: AwsHarness;
const opened: Array<{ close?(): Promise<void> }> = [];

beforeAll(async () => {
  alice = await (await TestCA.create()).issueClient({ commonName: 'alice' });
});
beforeEach(async () => {
  aws = await startAwsHarness();
  // Credentials reach the SDK through its own chain, as in a deployment; nothing else is configured.
  vi.stubEnv('AWS_ACCESS_KEY_ID', TEST_CREDENTIALS.accessKeyId);
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', TEST_CREDENTIALS.secretAccessKey);
  vi.stubEnv('AWS_CONFIG_FILE', '/nonexistent/mtlskit-aws-config');
  vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', '/nonexistent/mtlskit-aws-credentials');
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close?.()));
  vi.unstubAllEnvs();
  await aws.close();
});

async function fromReference(reference: string, options: Parameters<typeof sourceFromReference>[1] = {}) {
  const source = await sourceFromReference(reference, options);
  opened.push(source);
  return source;
}

describe('the aws-sm: scheme', () => {
  it('is registered by importing @mtlskit/aws', () => {
    const row = listSchemes().find((s) => s.scheme === 'aws-sm');
    expect(row).toMatchObject({ packageName: '@mtlskit/aws', available: true });
    expect(Object.keys(row?.options ?? {})).toEqual(
      expect.arrayContaining(['region', 'timeoutMs', 'maxAttempts']),
    );
    expect(awsSmScheme.scheme).toBe('aws-sm');
  });

  it('builds a source from aws-sm://NAME with region, endpoint and tuning options', async () => {
    aws.emulator.putSecret('prod/payments/mtls', JSON.stringify({ cert: alice.certPem, key: alice.keyPem }));
    const reference = `aws-sm://prod/payments/mtls?region=${TEST_REGION}&endpoint=${aws.emulator.url}&maxAttempts=1&timeoutMs=200`;
    const source = await fromReference(reference);
    expect(source.id).toBe(reference);
    expect(source.kind).toBe('static');
    expect((await loadCredentials(source)).fingerprint256).toBe(alice.fingerprint256);
    expect(aws.emulator.log.last()?.body).toMatchObject({ SecretId: 'prod/payments/mtls' });

    // maxAttempts=1 reached the SDK (its default here would send the failing call twice) ...
    aws.emulator.log.clear();
    const failing = aws.emulator.fail({ kind: 'serverError', times: Number.POSITIVE_INFINITY });
    await expect(source.load()).rejects.toMatchObject({ code: 'SOURCE_UNAVAILABLE' });
    expect(aws.emulator.log.count()).toBe(1);
    failing.clear();
    // ... and so did timeoutMs=200.
    aws.emulator.fail('slow');
    await expect(source.load()).rejects.toThrow(/within 200 ms/);
  });

  it('builds a source from a full ARN, in the ARN’s region', async () => {
    vi.stubEnv('AWS_REGION', 'us-east-2');
    aws.emulator.putSecret('prod/mtls', JSON.stringify({ cert: alice.certPem, key: alice.keyPem }));
    const arn = aws.emulator.arnOf('prod/mtls');
    const source = await fromReference(`aws-sm://${arn}?endpoint=${aws.emulator.url}`);
    expect((await loadCredentials(source)).fingerprint256).toBe(alice.fingerprint256);
    expect(String(aws.emulator.log.last()?.headers.authorization)).toContain(
      `/${TEST_REGION}/secretsmanager/`,
    );
  });

  it('builds a one-secret-per-field source from aws-sm://?cert=…&key=…', async () => {
    aws.emulator.putSecret('mtls/cert', alice.certPem);
    aws.emulator.putSecret('mtls/key', alice.keyPem);
    const source = await fromReference(
      `aws-sm://?cert=mtls/cert&key=mtls/key&region=${TEST_REGION}&endpoint=${aws.emulator.url}`,
    );
    expect((await loadCredentials(source)).fingerprint256).toBe(alice.fingerprint256);
    expect(aws.emulator.log.operations()).toEqual(['GetSecretValue', 'GetSecretValue']);
  });

  it('reads a passphrase kept in its own secret, or named by another reference', async () => {
    const encrypted = alice.encryptedPkcs8Pem('a-long-passphrase');
    aws.emulator.putSecret('enc', JSON.stringify({ cert: alice.certPem, key: encrypted }));
    aws.emulator.putSecret('enc/pass', 'a-long-passphrase');
    const endpoint = `region=${TEST_REGION}&endpoint=${aws.emulator.url}`;

    const sameStore = await fromReference(`aws-sm://enc?passphrase=enc/pass&${endpoint}`);
    expect((await loadCredentials(sameStore)).fingerprint256).toBe(alice.fingerprint256);

    const fromEnv = await fromReference(`aws-sm://enc?passphrase=env:MTLS_TEST_PASSPHRASE&${endpoint}`, {
      env: { MTLS_TEST_PASSPHRASE: 'a-long-passphrase' },
    });
    expect((await loadCredentials(fromEnv)).fingerprint256).toBe(alice.fingerprint256);
  });

  // The passphrase of another reference joins the material only after this source's load() returns,
  // so the load must not treat "encrypted key, no passphrase yet" as a pair that does not match.
  it.each([
    ['one secret per field', (e: string) => `aws-sm://?cert=enc/cert&key=enc/key&passphrase=env:PASS&${e}`],
    [
      'a bundle with its CA in a second secret',
      (e: string) => `aws-sm://enc?ca=enc/ca&passphrase=env:PASS&${e}`,
    ],
  ])('loads %s with the passphrase from env:, reading each secret once', async (_, reference) => {
    const encrypted = alice.encryptedPkcs8Pem('env-held-passphrase');
    aws.emulator.putSecret('enc/cert', alice.certPem);
    aws.emulator.putSecret('enc/key', encrypted);
    aws.emulator.putSecret('enc', JSON.stringify({ cert: alice.certPem, key: encrypted }));
    aws.emulator.putSecret('enc/ca', alice.caPem);
    const source = await fromReference(reference(`region=${TEST_REGION}&endpoint=${aws.emulator.url}`), {
      env: { PASS: 'env-held-passphrase' },
    });
    expect((await loadCredentials(source)).fingerprint256).toBe(alice.fingerprint256);
    expect(aws.emulator.log.count({ operation: 'GetSecretValue' })).toBe(2);

    // The resolver's path: a probe, then a load steered by it — still one read per secret.
    aws.emulator.log.clear();
    const resolver = createTlsResolver({ source });
    try {
      expect((await resolver.credentials()).fingerprint256).toBe(alice.fingerprint256);
    } finally {
      await resolver.close();
    }
    expect(aws.emulator.log.count({ operation: 'GetSecretValue' })).toBe(2);
  });

  it('uses a client the application injects', async () => {
    aws.emulator.putSecret('s', JSON.stringify({ cert: alice.certPem, key: alice.keyPem }));
    const client = new SecretsManagerClient({
      endpoint: aws.emulator.url,
      region: TEST_REGION,
      credentials: { accessKeyId: 'AKIDINJECTEDCLIENT', secretAccessKey: 'injected-secret' },
      maxAttempts: 1,
    });
    try {
      const source = await fromReference('aws-sm://s', { client });
      expect((await source.load()).bundle).toContain('BEGIN CERTIFICATE');
      expect(String(aws.emulator.log.last()?.headers.authorization)).toContain(
        'Credential=AKIDINJECTEDCLIENT/',
      );
    } finally {
      client.destroy();
    }
  });

  it.each([
    ['aws-sm://s?timeoutMs=0', /timeoutMs=0/],
    ['aws-sm://s?maxAttempts=0', /maxAttempts=0/],
    ['aws-sm://s?timeoutMs=soon', /timeoutMs=soon is not a whole number/],
  ])('refuses %s with INVALID_REFERENCE', async (reference, message) => {
    const err = await sourceFromReference(reference).catch((e: unknown) => e);
    expect(MtlsError.is(err, 'INVALID_REFERENCE')).toBe(true);
    expect((err as MtlsError).message).toMatch(message);
  });

  it('refuses an injected client that is not an SDK client', async () => {
    const err = await sourceFromReference('aws-sm://s', { client: { region: 'eu-west-1' } }).catch(
      (e: unknown) => e,
    );
    expect(MtlsError.is(err, 'INVALID_OPTION')).toBe(true);
    expect((err as MtlsError).message).toMatch(/not a SecretsManagerClient/);
  });
});
