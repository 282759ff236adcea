import {
  type AwsSecretsManagerEmulator,
  type IssuedCert,
  leakCheck,
  startAwsSecretsManagerEmulator,
  TestCA,
  trackConnections,
} from '@mtlskit/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, withFiles } from '../__tests__/harness.js';

const AWS_ENV = {
  AWS_ACCESS_KEY_ID: 'AKIDMTLSKITTEST',
  AWS_SECRET_ACCESS_KEY: 'mtlskit-test-secret',
  AWS_EC2_METADATA_DISABLED: 'true',
};
let aws: AwsSecretsManagerEmulator;
let net: ReturnType<typeof trackConnections>;
let leaf: IssuedCert;
let saved: NodeJS.ProcessEnv;
beforeAll(async () => {
  net = trackConnections();
  aws = await startAwsSecretsManagerEmulator({ region: 'eu-west-1' });
  leaf = await (await TestCA.create()).issueClient({
    keyType: 'rsa2048',
    commonName: 'put.sandbox.mangopay.com',
    validForSeconds: 300 * 86_400,
  });
  saved = { ...process.env };
  Object.assign(process.env, AWS_ENV); // the AWS SDK reads its credentials from process.env
});
afterAll(async () => {
  process.env = saved;
  await aws?.close();
  net?.stop();
  expect(net.offLoopback()).toEqual([]);
});

const ref = (name: string) => `aws-sm://${name}?region=eu-west-1&endpoint=${aws.url}&maxAttempts=1`;

describe('mtlskit put', () => {
  it('stores a new version in AWS Secrets Manager and reads it back; inspect then loads it', async () => {
    aws.putSecret('prod/mtls', JSON.stringify({ cert: 'old', key: 'old' }));
    const dir = await withFiles({ 'certificate.pem': leaf.certPem, 'private.key': leaf.keyPem });
    const r = await cli(['put', ref('prod/mtls'), '--from', dir, '--json'], { env: AWS_ENV });
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({
      fingerprint256: leaf.fingerprint256,
      readBack: true,
      subject: 'CN=put.sandbox.mangopay.com',
    });
    expect(aws.log.operations()).toContain('PutSecretValue');
    const inspected = await cli(['inspect', '--source', ref('prod/mtls'), '--json'], { env: AWS_ENV });
    expect(JSON.parse(inspected.stdout)).toMatchObject({
      status: 'healthy',
      fingerprint256: leaf.fingerprint256,
    });
  });

  it('stages a version with --stage without touching the current one', async () => {
    aws.putSecret('staged/mtls', JSON.stringify({ cert: leaf.certPem, key: leaf.keyPem }));
    const next = await (await TestCA.create()).issueClient({ validForSeconds: 300 * 86_400 });
    const dir = await withFiles({ 'both.pem': next.keyPem + next.certPem });
    const r = await cli(['put', ref('staged/mtls'), '--from', `${dir}/both.pem`, '--stage', 'AWSPENDING'], {
      env: AWS_ENV,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/stage AWSPENDING/);
    const current = await cli(['inspect', '--source', ref('staged/mtls'), '--json'], { env: AWS_ENV });
    expect(JSON.parse(current.stdout).fingerprint256).toBe(leaf.fingerprint256);
  });

  it('refuses an invalid credential (exit 1), a read-only reference (exit 2), a denied write (exit 4)', async () => {
    const other = await (await TestCA.create()).issueClient();
    const bad = await withFiles({ 'certificate.pem': leaf.certPem, 'private.key': other.keyPem });
    const mismatch = await cli(['put', ref('prod/mtls'), '--from', bad], { env: AWS_ENV });
    expect(mismatch.code).toBe(1);
    expect(mismatch.stderr).toMatch(/KEY_MISMATCH/);
    const good = await withFiles({ 'certificate.pem': leaf.certPem, 'private.key': leaf.keyPem });
    const readOnly = await cli(['put', 'env:', '--from', good]);
    expect(readOnly.code).toBe(2);
    expect(readOnly.stderr).toMatch(/cannot be written by mtlskit/);
    aws.fail('denied');
    const denied = await cli(['put', ref('prod/mtls'), '--from', good], { env: AWS_ENV });
    expect(denied.code).toBe(4);
    expect(denied.stderr).toMatch(/error ACCESS_DENIED/);
    expect((await cli(['put', ref('prod/mtls')])).code).toBe(2);
  });

  it('never prints the key', async () => {
    const leak = leakCheck([leaf.keyPem, leaf.keyDer]);
    // Secrets Manager writes versions of an existing secret only (PutSecretValue): absent, it is SOURCE_NOT_FOUND.
    const absent = await cli(
      [
        'put',
        ref('leak/mtls'),
        '--from',
        `${await withFiles({ 'both.pem': leaf.keyPem + leaf.certPem })}/both.pem`,
      ],
      { env: AWS_ENV },
    );
    expect(absent.code).toBe(4);
    expect(absent.stderr).toMatch(/error SOURCE_NOT_FOUND: AWS Secrets Manager has no secret "leak\/mtls"/);
    leak.checkText(absent.stdout + absent.stderr, 'put output (absent secret)');
    aws.putSecret('leak/mtls', '{}');
    const dir = await withFiles({ 'certificate.pem': leaf.certPem, 'private.key': leaf.keyPem });
    const r = await cli(['put', ref('leak/mtls'), '--from', dir, '--json'], { env: AWS_ENV });
    expect(r.code, r.stderr).toBe(0);
    leak.checkText(r.stdout + r.stderr, 'put output');
  });
});
