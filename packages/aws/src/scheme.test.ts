import { readFileSync } from 'node:fs';
import { parseReference } from '@mtlskit/core/adapter';
import { documentedOptionRows, optionTableRows } from '@mtlskit/testkit';
import {
  type InvalidReferenceForm,
  referenceFormTests,
  type ValidReferenceForm,
} from '@mtlskit/testkit/conformance';
import { describe, expect, it, vi } from 'vitest';
import { awsSmScheme } from './scheme.js';

const sdk = vi.hoisted(() => ({ loaded: false }));
vi.mock('@aws-sdk/client-secrets-manager', () => {
  sdk.loaded = true;
  return {};
});

const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/mtls-AbCdEf';

// The forms of aws-sm: references, and the target the source is built from.
const VALID: ValidReferenceForm[] = [
  [
    'aws-sm://prod/mtls?region=eu-west-1',
    { scheme: 'aws-sm', target: { secretId: 'prod/mtls', fields: {}, region: 'eu-west-1' } },
  ],
  ['AWS-SM://prod/mtls', { scheme: 'aws-sm', target: { secretId: 'prod/mtls', fields: {} } }],
  ['aws-sm://team+a/mtls=v2@x.y_z-1', { target: { secretId: 'team+a/mtls=v2@x.y_z-1', fields: {} } }],
  [`aws-sm://${ARN}`, { target: { secretId: ARN, fields: {}, region: 'eu-west-1' } }],
  [
    `aws-sm://${ARN}?region=eu-west-1&versionStage=AWSPENDING`,
    { target: { secretId: ARN, fields: {}, region: 'eu-west-1', versionStage: 'AWSPENDING' } },
  ],
  [
    'aws-sm://prod/mtls?versionId=3f1c&endpoint=http://127.0.0.1:4566',
    { target: { secretId: 'prod/mtls', fields: {}, versionId: '3f1c', endpoint: 'http://127.0.0.1:4566' } },
  ],
  [
    'aws-sm://?cert=prod/cert&key=prod/key&passphrase=prod/pass',
    { path: '', target: { fields: { cert: 'prod/cert', key: 'prod/key', passphrase: 'prod/pass' } } },
  ],
  [
    'aws-sm://?pfx=prod/p12&passphrase=env:P12_PASS',
    {
      target: { fields: { pfx: 'prod/p12' } },
      passphrase: expect.objectContaining({ scheme: 'env', path: 'P12_PASS' }),
    },
  ],
  [
    `aws-sm://prod/mtls?passphrase=${ARN}`,
    { target: { secretId: 'prod/mtls', fields: { passphrase: ARN }, region: 'eu-west-1' } },
  ],
  [
    'aws-sm://prod/mtls?timeoutMs=5000&maxAttempts=3',
    {
      values: { timeoutMs: 5000, maxAttempts: 3 },
      target: expect.objectContaining({ timeoutMs: 5000, maxAttempts: 3 }),
    },
  ],
];

// Malformed forms: the message, and the part the caret line points at.
const INVALID: InvalidReferenceForm[] = [
  ['aws-sm:prod/mtls', /aws-sm: needs "\/\/" after the colon/, 'prod/mtls'],
  ['aws-sm://', /aws-sm:\/\/ names no credential/, ''],
  ['aws-sm://prod?region=eu_west_1', /"eu_west_1" is not an AWS region name/, 'region=eu_west_1'],
  [
    `aws-sm://${ARN}?region=us-east-1`,
    /region=us-east-1 differs from the ARN's region eu-west-1/,
    'region=us-east-1',
  ],
  ['aws-sm://arn:aws:s3:::bucket/key', /not a Secrets Manager secret ARN/, 'arn:aws:s3:::bucket/key'],
  ['aws-sm://prod%20mtls', /whitespace or a control character/, 'prod%20mtls'],
  ['aws-sm://prod/mtls?cert=c', /names a bundle secret, so cert= conflicts/, 'cert=c'],
  ['aws-sm://?cert=c&key=k&versionId=v1', /versionId= applies to one secret/, 'versionId=v1'],
  ['aws-sm://prod?endpoint=ftp://x', /endpoint=ftp:\/\/x is not an http\(s\) URL/, 'ftp://x'],
  ['aws-sm://prod?timeoutMs=0', /timeoutMs=0 is below the least value, 1/, '0'],
  ['aws-sm://prod?maxAttempts=two', /maxAttempts=two is not a whole number/, 'two'],
];

describe('the aws-sm: scheme', () => {
  referenceFormTests({ parse: (text) => parseReference(text, awsSmScheme), valid: VALID, invalid: INVALID });

  it('is documented in docs/references.md with exactly this option table', () => {
    const doc = readFileSync(new URL('../../../docs/references.md', import.meta.url), 'utf8');
    expect(documentedOptionRows(doc, 'aws-sm')).toEqual(optionTableRows(awsSmScheme.options));
  });

  it('parses without loading the AWS SDK: the scheme module imports no @aws-sdk module', async () => {
    // Any import of the SDK, however indirect, runs this factory.
    const { parseReference: parse } = await import('@mtlskit/core/adapter');
    await import('./scheme.js');
    expect(parse('aws-sm://prod/mtls?region=eu-west-1').target).toMatchObject({ region: 'eu-west-1' });
    expect(() => parse('aws-sm://prod/mtls?regoin=eu-west-1')).toThrow(/Did you mean "region"/);
    expect(sdk.loaded).toBe(false);
  });
});
