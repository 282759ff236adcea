// The emulator's wire, spoken by hand (JSON 1.1 over fetch). The real SDK against it is tested in
// packages/aws, which depends on the SDK; the testkit does not.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AWSCURRENT,
  AWSPENDING,
  AWSPREVIOUS,
  type AwsSecretsManagerEmulator,
  startAwsSecretsManagerEmulator,
} from './aws-secrets-manager.js';
import { corruptValue } from './faults.js';

const SIGNED =
  'AWS4-HMAC-SHA256 Credential=AKIDTEST/20250101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=00';

interface Reply {
  status: number;
  type: string | null;
  json: Record<string, unknown>;
}

async function send(
  emulator: AwsSecretsManagerEmulator,
  operation: string,
  body: Record<string, unknown>,
  authorization: string | null = SIGNED,
): Promise<Reply> {
  const res = await fetch(emulator.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': `secretsmanager.${operation}`,
      ...(authorization === null ? {} : { authorization }),
    },
    body: JSON.stringify(body),
  });
  return {
    status: res.status,
    type: res.headers.get('x-amzn-errortype'),
    json: (await res.json()) as Record<string, unknown>,
  };
}

let emulator: AwsSecretsManagerEmulator;
beforeEach(async () => {
  emulator = await startAwsSecretsManagerEmulator({ region: 'eu-west-1', accountId: '210987654321' });
});
afterEach(() => emulator.close());

describe('AWS Secrets Manager emulator', () => {
  it('answers GetSecretValue by name, full ARN and partial ARN with the current version', async () => {
    const version = emulator.putSecret('prod/mtls', '{"cert":"c","key":"k"}');
    const arn = emulator.arnOf('prod/mtls');
    expect(arn).toMatch(/^arn:aws:secretsmanager:eu-west-1:210987654321:secret:prod\/mtls-[A-Za-z0-9]{6}$/);

    for (const id of ['prod/mtls', arn, arn.slice(0, -7)]) {
      const reply = await send(emulator, 'GetSecretValue', { SecretId: id });
      expect(reply.status).toBe(200);
      expect(reply.json).toMatchObject({
        ARN: arn,
        Name: 'prod/mtls',
        VersionId: version.id,
        SecretString: '{"cert":"c","key":"k"}',
        VersionStages: [AWSCURRENT],
      });
      expect(typeof reply.json.CreatedDate).toBe('number');
    }
    expect(emulator.log.calls().map((c) => c.secret)).toEqual(['prod/mtls', 'prod/mtls', 'prod/mtls']);
  });

  it('serves bytes as Base64 SecretBinary, and versions by id or stage', async () => {
    const v1 = emulator.putSecret('bin', new Uint8Array([0, 1, 254, 255]));
    const v2 = emulator.putSecret('bin', 'second');
    const byId = await send(emulator, 'GetSecretValue', { SecretId: 'bin', VersionId: v1.id });
    expect(byId.json).toMatchObject({ SecretBinary: 'AAH+/w==', VersionStages: [AWSPREVIOUS] });
    const byStage = await send(emulator, 'GetSecretValue', { SecretId: 'bin', VersionStage: AWSCURRENT });
    expect(byStage.json).toMatchObject({ VersionId: v2.id, SecretString: 'second' });
    const both = await send(emulator, 'GetSecretValue', {
      SecretId: 'bin',
      VersionId: v1.id,
      VersionStage: AWSCURRENT,
    });
    expect([both.status, both.type]).toEqual([400, 'ResourceNotFoundException']);
  });

  it('describes the version ids carrying stages, which change on rotation', async () => {
    const v1 = emulator.putSecret('s', 'one');
    expect((await send(emulator, 'DescribeSecret', { SecretId: 's' })).json.VersionIdsToStages).toEqual({
      [v1.id]: [AWSCURRENT],
    });
    const v2 = emulator.putSecret('s', 'two');
    const described = await send(emulator, 'DescribeSecret', { SecretId: 's' });
    expect(described.json).toMatchObject({
      Name: 's',
      VersionIdsToStages: { [v1.id]: [AWSPREVIOUS], [v2.id]: [AWSCURRENT] },
    });
    expect(typeof described.json.LastChangedDate).toBe('number');
  });

  it('stores with PutSecretValue: staged under AWSPENDING, idempotent per token, promoted with UpdateSecretVersionStage', async () => {
    const live = emulator.putSecret('s', 'live');
    const token = '11111111-2222-3333-4444-555555555555';
    const staged = await send(emulator, 'PutSecretValue', {
      SecretId: 's',
      SecretString: 'next',
      ClientRequestToken: token,
      VersionStages: [AWSPENDING],
    });
    expect(staged.json).toMatchObject({ VersionId: token, VersionStages: [AWSPENDING] });
    expect(emulator.secrets.get('s')?.value).toBe('live');

    const retried = await send(emulator, 'PutSecretValue', {
      SecretId: 's',
      SecretString: 'next',
      ClientRequestToken: token,
      VersionStages: [AWSPENDING],
    });
    expect(retried.json.VersionId).toBe(token);
    const conflict = await send(emulator, 'PutSecretValue', {
      SecretId: 's',
      SecretString: 'other',
      ClientRequestToken: token,
    });
    expect(conflict.type).toBe('ResourceExistsException');

    const unsafe = await send(emulator, 'UpdateSecretVersionStage', {
      SecretId: 's',
      VersionStage: AWSCURRENT,
      MoveToVersionId: token,
    });
    expect(unsafe.type).toBe('InvalidParameterException');
    const promoted = await send(emulator, 'UpdateSecretVersionStage', {
      SecretId: 's',
      VersionStage: AWSCURRENT,
      MoveToVersionId: token,
      RemoveFromVersionId: live.id,
    });
    expect(promoted.status).toBe(200);
    expect(emulator.secrets.get('s')?.value).toBe('next');
    expect(emulator.secrets.get('s', { label: AWSPREVIOUS })?.id).toBe(live.id);

    const plain = await send(emulator, 'PutSecretValue', { SecretId: 's', SecretBinary: 'AQID' });
    expect(plain.json.VersionStages).toEqual([AWSCURRENT]);
    expect(emulator.secrets.get('s')?.value).toEqual(new Uint8Array([1, 2, 3]));
  });

  it('creates secrets once and refuses writes to a secret that does not exist', async () => {
    const created = await send(emulator, 'CreateSecret', { Name: 'new', SecretString: 'v' });
    expect(created.json).toMatchObject({ Name: 'new', ARN: emulator.arnOf('new') });
    expect((await send(emulator, 'CreateSecret', { Name: 'new' })).type).toBe('ResourceExistsException');
    expect((await send(emulator, 'PutSecretValue', { SecretId: 'nope', SecretString: 'v' })).type).toBe(
      'ResourceNotFoundException',
    );
  });

  it('answers in AWS error shapes: unknown secret, unsigned request, unknown key, unknown operation', async () => {
    const missing = await send(emulator, 'GetSecretValue', { SecretId: 'nope' });
    expect(missing).toMatchObject({ status: 400, type: 'ResourceNotFoundException' });
    expect(missing.json).toMatchObject({ __type: 'ResourceNotFoundException', Message: expect.any(String) });
    expect((await send(emulator, 'GetSecretValue', { SecretId: 'nope' }, null)).type).toBe(
      'MissingAuthenticationTokenException',
    );
    expect((await send(emulator, 'RotateSecret', { SecretId: 'nope' })).type).toBe(
      'UnknownOperationException',
    );

    const strict = await startAwsSecretsManagerEmulator({ accessKeyId: 'AKIDGOOD' });
    try {
      strict.putSecret('s', 'v');
      expect((await send(strict, 'GetSecretValue', { SecretId: 's' })).type).toBe(
        'UnrecognizedClientException',
      );
    } finally {
      await strict.close();
    }
  });

  it('turns injected faults into the errors AWS sends for them', async () => {
    emulator.putSecret('s', 'value-of-some-length');
    emulator.fail('notFound');
    emulator.fail('denied');
    emulator.fail('throttled');
    emulator.fail('serverError');
    emulator.fail({ kind: 'error', code: 'DecryptionFailure' });
    const seen: Array<[number, string | null]> = [];
    for (let i = 0; i < 5; i++) {
      const r = await send(emulator, 'GetSecretValue', { SecretId: 's' });
      seen.push([r.status, r.type]);
    }
    expect(seen).toEqual([
      [400, 'ResourceNotFoundException'],
      [400, 'AccessDeniedException'],
      [400, 'ThrottlingException'],
      [500, 'InternalServiceError'],
      [400, 'DecryptionFailure'],
    ]);
  });

  it('serves a damaged SecretString under a corrupt fault, and the intact one afterwards', async () => {
    const pem = `-----BEGIN CERTIFICATE-----\n${'MIIBszCCAVmgAwIBAgIU'.repeat(4)}\n-----END CERTIFICATE-----\n`;
    emulator.putSecret('s', pem);
    emulator.fail({ kind: 'corrupt', operation: 'GetSecretValue' });
    const damaged = (await send(emulator, 'GetSecretValue', { SecretId: 's' })).json.SecretString as string;
    expect(damaged).toHaveLength(pem.length);
    expect(damaged).toContain('#');
    expect((await send(emulator, 'GetSecretValue', { SecretId: 's' })).json.SecretString).toBe(pem);
  });

  it('serves the replaced version to a read of AWSCURRENT under a stale fault, as a lagging replica does', async () => {
    const v1 = emulator.putSecret('s', 'one');
    const v2 = emulator.putSecret('s', 'two');
    emulator.fail({ kind: 'stale', times: 2 });
    const lagging = await send(emulator, 'GetSecretValue', { SecretId: 's', VersionStage: AWSCURRENT });
    expect(lagging.json).toMatchObject({
      VersionId: v1.id,
      SecretString: 'one',
      VersionStages: [AWSCURRENT],
    });
    // A version asked for by id, or a stage other than AWSCURRENT, cannot lag: the fault waits.
    const byId = await send(emulator, 'GetSecretValue', { SecretId: 's', VersionId: v2.id });
    expect(byId.json).toMatchObject({ VersionId: v2.id, SecretString: 'two' });
    const previous = await send(emulator, 'GetSecretValue', { SecretId: 's', VersionStage: AWSPREVIOUS });
    expect(previous.json.VersionId).toBe(v1.id);
    expect((await send(emulator, 'DescribeSecret', { SecretId: 's' })).status).toBe(200);
    expect((await send(emulator, 'GetSecretValue', { SecretId: 's' })).json.VersionId).toBe(v1.id);
    expect((await send(emulator, 'GetSecretValue', { SecretId: 's' })).json.VersionId).toBe(v2.id);
    expect(emulator.log.calls().map((c) => c.fault)).toEqual([
      'stale',
      undefined,
      undefined,
      undefined,
      'stale',
      undefined,
    ]);
  });

  it('keeps a corrupt or stale fault for the next call that returns a value, whatever comes first', async () => {
    emulator.putSecret('s', 'one');
    const corrupt = emulator.fail('corrupt');
    const stale = emulator.fail('stale');
    const described = await send(emulator, 'DescribeSecret', { SecretId: 's' });
    expect(described.status).toBe(200);
    expect(described.json.Name).toBe('s');
    expect([corrupt.remaining, stale.remaining]).toEqual([1, 1]);

    const damaged = await send(emulator, 'GetSecretValue', { SecretId: 's' });
    expect(damaged.json.SecretString).toBe(corruptValue('one'));
    // Only one version: nothing to lag behind, so the stale fault is still waiting.
    expect((await send(emulator, 'GetSecretValue', { SecretId: 's' })).json.SecretString).toBe('one');
    expect(stale.remaining).toBe(1);
    const v2 = emulator.putSecret('s', 'two');
    expect((await send(emulator, 'GetSecretValue', { SecretId: 's' })).json.SecretString).toBe('one');
    expect((await send(emulator, 'GetSecretValue', { SecretId: 's' })).json.VersionId).toBe(v2.id);
    expect(emulator.log.calls().map((c) => [c.operation, c.fault])).toEqual([
      ['DescribeSecret', undefined],
      ['GetSecretValue', 'corrupt'],
      ['GetSecretValue', undefined],
      ['GetSecretValue', 'stale'],
      ['GetSecretValue', undefined],
    ]);
    // Faults every call can show still apply to the first matching call.
    emulator.fail('throttled');
    expect((await send(emulator, 'DescribeSecret', { SecretId: 's' })).type).toBe('ThrottlingException');
  });
});
