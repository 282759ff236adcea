// awsSecretsManagerSource with the real AWS SDK, over loopback, against the testkit's emulator.
// The harness fails any test whose connections leave loopback.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { type Finding, loadCredentials, MtlsError } from '@mtlskit/core';
import { AWSPENDING, type IssuedCert, leakCheck, TestCA, trackConnections } from '@mtlskit/testkit';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { type AwsHarness, startAwsHarness, TEST_CREDENTIALS, TEST_REGION } from './__tests__/harness.js';
import { awsSecretsManagerSource } from './source.js';

let ca: TestCA;
let alice: IssuedCert;
let bob: IssuedCert;
let aws: AwsHarness;

const bundleOf = (cert: IssuedCert) => JSON.stringify({ cert: cert.certPem, key: cert.keyPem });

/** Removes every credential the SDK's chain could find before the metadata service. */
function withoutConfiguredCredentials(): void {
  for (const name of [
    'AWS_ACCESS_KEY_ID',
    'AWS_SECRET_ACCESS_KEY',
    'AWS_SESSION_TOKEN',
    'AWS_PROFILE',
    'AWS_ROLE_ARN',
    'AWS_WEB_IDENTITY_TOKEN_FILE',
    'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
    'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  ]) {
    vi.stubEnv(name, undefined);
  }
  vi.stubEnv('AWS_CONFIG_FILE', '/nonexistent/mtlskit-aws-config');
  vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', '/nonexistent/mtlskit-aws-credentials');
}

/** A loopback stand-in for the EC2 instance metadata service (IMDSv2) handing out a role's credentials. */
async function startInstanceMetadata(role: { accessKeyId: string; role: string }) {
  const requests: string[] = [];
  const base = '/latest/meta-data/iam/security-credentials/';
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    if (req.method === 'PUT' && req.url === '/latest/api/token') return res.end('imds-session');
    if (req.headers['x-aws-ec2-metadata-token'] !== 'imds-session') return res.writeHead(401).end();
    if (req.url === base) return res.end(role.role);
    if (req.url !== base + role.role) return res.writeHead(404).end();
    const expiration = new Date(Date.now() + 3_600_000).toISOString();
    const body = {
      Code: 'Success',
      AccessKeyId: role.accessKeyId,
      SecretAccessKey: 'role-secret',
      Token: 'role-session',
      Expiration: expiration,
    };
    return res.end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

beforeAll(async () => {
  ca = await TestCA.create();
  alice = await ca.issueClient({ commonName: 'alice' });
  bob = await ca.issueClient({ commonName: 'bob' });
});
beforeEach(async () => {
  aws = await startAwsHarness();
});
afterEach(async () => {
  vi.unstubAllEnvs();
  await aws.close();
});

describe('loading a secret that holds the whole credential', () => {
  it('reads a JSON bundle by name, reports its VersionId, and core makes credentials of it', async () => {
    const stored = aws.emulator.putSecret('prod/mtls', bundleOf(alice));
    const source = aws.source({ secretId: 'prod/mtls' });

    const material = await source.load();
    expect(material).toMatchObject({ bundle: bundleOf(alice), version: stored.id });
    expect(material.fetchedAt).toBeInstanceOf(Date);
    const credentials = await loadCredentials(source);
    expect(credentials.fingerprint256).toBe(alice.fingerprint256);
    expect(credentials.sourceId).toBe('aws-sm://prod/mtls?region=eu-west-1');
    expect(source.kind).toBe('static');
    expect(aws.emulator.log.last()).toMatchObject({
      operation: 'GetSecretValue',
      body: { SecretId: 'prod/mtls', VersionStage: 'AWSCURRENT' },
      remoteAddress: '127.0.0.1',
    });
  });

  it('reads a secret named by its full ARN, taking the region from the ARN', async () => {
    aws.emulator.putSecret('team/payments/mtls', bundleOf(alice));
    const arn = aws.emulator.arnOf('team/payments/mtls');
    vi.stubEnv('AWS_REGION', undefined);
    vi.stubEnv('AWS_CONFIG_FILE', '/nonexistent/mtlskit-aws-config');
    const source = aws.source({ secretId: arn, region: undefined });
    expect((await loadCredentials(source)).fingerprint256).toBe(alice.fingerprint256);
    expect(String(aws.emulator.log.last()?.headers.authorization)).toContain(
      `/${TEST_REGION}/secretsmanager/`,
    );
  });

  it('reads one PEM holding key and certificate, and a PKCS#12 in SecretBinary with its passphrase in another secret', async () => {
    aws.emulator.putSecret('pem', `${alice.keyPem}${alice.certPem}`);
    expect((await loadCredentials(aws.source({ secretId: 'pem' }))).fingerprint256).toBe(
      alice.fingerprint256,
    );

    aws.emulator.putSecret('p12', new Uint8Array(await bob.pkcs12('pfx-passphrase-42')));
    aws.emulator.putSecret('p12-pass', 'pfx-passphrase-42');
    const source = aws.source({ secretId: 'p12', secrets: { passphrase: 'p12-pass' } });
    const material = await source.load();
    expect(material.bundle).toBeInstanceOf(Uint8Array);
    expect(material.passphrase).toBe('pfx-passphrase-42');
    expect((await loadCredentials(material)).fingerprint256).toBe(bob.fingerprint256);
  });

  it('reads another staging label, or a fixed version without probing', async () => {
    const live = aws.emulator.putSecret('s', bundleOf(alice));
    const pending = aws.emulator.putSecret('s', bundleOf(bob), { stages: [AWSPENDING] });

    const staged = aws.source({ secretId: 's', versionStage: AWSPENDING });
    expect(await staged.version()).toBe(pending.id);
    expect((await loadCredentials(staged)).fingerprint256).toBe(bob.fingerprint256);

    aws.emulator.log.clear();
    const fixed = aws.source({ secretId: 's', versionId: live.id });
    expect(await fixed.version()).toBe(live.id);
    expect((await fixed.load()).version).toBe(live.id);
    expect(aws.emulator.log.operations()).toEqual(['GetSecretValue']);
    expect(aws.emulator.log.last()?.body).toEqual({ SecretId: 's', VersionId: live.id });
  });
});

/** With DescribeSecret refused for good (`describeDenied`), the probes read the value instead. */
interface GuardSetup {
  describeDenied?: boolean;
}

function guardedSource({ describeDenied = false }: GuardSetup) {
  if (!describeDenied) return aws.source({ secretId: 's' });
  aws.emulator.fail({ kind: 'denied', operation: 'DescribeSecret', times: Number.POSITIVE_INFINITY });
  return aws.source({ secretId: 's', onWarning: () => {} });
}

/** Alice's version, then bob's as AWSCURRENT, and a source whose first load got bob's: alice's is never read. */
async function startedOnBob(setup: GuardSetup = {}) {
  const v1 = aws.emulator.putSecret('s', bundleOf(alice));
  const v2 = aws.emulator.putSecret('s', bundleOf(bob));
  const source = guardedSource(setup);
  expect((await source.load()).version).toBe(v2.id);
  return { v1, v2, source };
}

/** A source that loaded alice's version, then announced and loaded bob's, written after it. */
async function rotatedToBob(setup: GuardSetup = {}) {
  const v1 = aws.emulator.putSecret('s', bundleOf(alice));
  const source = guardedSource(setup);
  await source.load();
  const v2 = aws.emulator.putSecret('s', bundleOf(bob));
  expect(await source.version()).toBe(v2.id);
  expect((await source.load()).version).toBe(v2.id);
  return { v1, v2, source };
}

describe('version() and rotation', () => {
  it('probes with DescribeSecret only, and changes exactly when a new version becomes current', async () => {
    const v1 = aws.emulator.putSecret('s', bundleOf(alice));
    const source = aws.source({ secretId: 's' });
    expect(await source.version()).toBe(v1.id);
    expect(await source.version()).toBe(v1.id);
    aws.emulator.putSecret('s', bundleOf(bob), { stages: [AWSPENDING] });
    expect(await source.version()).toBe(v1.id);
    const v3 = aws.emulator.putSecret('s', bundleOf(bob));
    expect(await source.version()).toBe(v3.id);
    expect(aws.emulator.log.operations()).toEqual([
      'DescribeSecret',
      'DescribeSecret',
      'DescribeSecret',
      'DescribeSecret',
    ]);
  });

  it('loads the version the probe announced when a lagging replica still serves the one it replaced', async () => {
    aws.emulator.putSecret('s', bundleOf(alice));
    const source = aws.source({ secretId: 's' });
    await source.load();
    const v2 = aws.emulator.putSecret('s', bundleOf(bob));
    expect(await source.version()).toBe(v2.id);
    aws.emulator.fail({ kind: 'stale', operation: 'GetSecretValue' });
    aws.emulator.log.clear();

    const material = await source.load();
    expect(material.version).toBe(v2.id);
    expect((await loadCredentials(material)).fingerprint256).toBe(bob.fingerprint256);
    expect(aws.emulator.log.calls().map((c) => c.body)).toEqual([
      { SecretId: 's', VersionStage: 'AWSCURRENT' },
      { SecretId: 's', VersionId: v2.id },
    ]);
  });

  it('also when the replica is two rotations behind, serving a version the probe no longer lists', async () => {
    const v1 = aws.emulator.putSecret('s', bundleOf(alice));
    aws.emulator.putSecret('s', bundleOf(alice));
    const v3 = aws.emulator.putSecret('s', bundleOf(bob));
    const source = aws.source({ secretId: 's' });
    expect(await source.version()).toBe(v3.id);
    // v1 is deprecated (no label, absent from DescribeSecret); a replica that missed two rotations
    // still has AWSCURRENT on it.
    aws.emulator.secrets.moveLabel('s', 'AWSCURRENT', { to: v1.id });

    const material = await source.load();
    expect(material.version).toBe(v3.id);
    expect((await loadCredentials(material)).fingerprint256).toBe(bob.fingerprint256);
  });

  it('loads a version written after the probe, which the creation dates show to be newer than the announced one', async () => {
    const v1 = aws.emulator.putSecret('s', bundleOf(alice));
    const source = aws.source({ secretId: 's' });
    expect(await source.version()).toBe(v1.id);
    const v2 = aws.emulator.putSecret('s', bundleOf(bob));
    expect((await source.load()).version).toBe(v2.id);
    expect(aws.emulator.log.calls({ operation: 'GetSecretValue' }).map((c) => c.body)).toEqual([
      { SecretId: 's', VersionStage: 'AWSCURRENT' },
      { SecretId: 's', VersionId: v1.id },
    ]);
  });

  it('lets a probe steer only the load started right after it: a later load takes the stage as served', async () => {
    aws.emulator.putSecret('s', bundleOf(alice));
    const source = aws.source({ secretId: 's' });
    await source.version();
    await new Promise((resolve) => setImmediate(resolve));
    // Rotated between a probe that found nothing new and a forced refresh: the refresh sees it.
    const v2 = aws.emulator.putSecret('s', bundleOf(bob));
    expect((await source.load()).version).toBe(v2.id);

    // A load consumes the probe: the one after it reads the stage once, even from a lagging replica.
    await source.version();
    await source.load();
    aws.emulator.fail({ kind: 'stale', operation: 'GetSecretValue' });
    aws.emulator.log.clear();
    expect((await source.load()).bundle).toBe(bundleOf(alice));
    expect(aws.emulator.log.count()).toBe(1);
  });

  it('probes by reading the value when DescribeSecret is denied, warns once, and still follows rotations', async () => {
    const v1 = aws.emulator.putSecret('s', bundleOf(alice));
    aws.emulator.fail({ kind: 'denied', operation: 'DescribeSecret', times: Number.POSITIVE_INFINITY });
    const warnings: Finding[] = [];
    const source = aws.source({ secretId: 's', onWarning: (f) => warnings.push(f) });

    expect(await source.version()).toBe(v1.id);
    // The load reads the stage again rather than reuse the probe's read (see the next test), and
    // gets the version announced: one read, no read by id.
    expect(await source.load()).toMatchObject({ version: v1.id, bundle: bundleOf(alice) });
    expect(aws.emulator.log.operations()).toEqual(['DescribeSecret', 'GetSecretValue', 'GetSecretValue']);

    // Later probes go straight to GetSecretValue, and still see a rotation.
    expect(await source.version()).toBe(v1.id);
    const v2 = aws.emulator.putSecret('s', bundleOf(bob));
    expect(await source.version()).toBe(v2.id);
    expect(await source.load()).toMatchObject({ version: v2.id, bundle: bundleOf(bob) });
    expect(aws.emulator.log.operations()).toEqual([
      'DescribeSecret',
      'GetSecretValue',
      'GetSecretValue',
      'GetSecretValue',
      'GetSecretValue',
      'GetSecretValue',
    ]);
    expect(aws.emulator.log.calls({ operation: 'GetSecretValue' }).map((c) => c.body)).not.toContainEqual(
      expect.objectContaining({ VersionId: expect.anything() }),
    );

    expect(warnings).toEqual([
      expect.objectContaining({ code: 'AWS_DESCRIBE_SECRET_DENIED', severity: 'warning' }),
    ]);
    expect(warnings[0]?.message).toMatch(/refused secretsmanager:DescribeSecret on secret "s"/);
    expect(warnings[0]?.fix).toMatch(/Allow secretsmanager:DescribeSecret .*and restart the process/);
    expect(warnings[0]?.field).toBeUndefined();
    leakCheck([alice.keyPem, bob.keyPem, TEST_CREDENTIALS.secretAccessKey]).check(warnings, 'the warning');
  });

  it('with DescribeSecret denied, a load started right after a probe reads again: a rotation since the probe is not missed', async () => {
    const v1 = aws.emulator.putSecret('s', bundleOf(alice));
    aws.emulator.fail({ kind: 'denied', operation: 'DescribeSecret', times: Number.POSITIVE_INFINITY });
    const source = aws.source({ secretId: 's', onWarning: () => {} });
    await source.load();

    // The probe read alice; the operator rotates; a forced refresh loads in the same turn.
    expect(await source.version()).toBe(v1.id);
    const v2 = aws.emulator.putSecret('s', bundleOf(bob));
    const material = await source.load();
    expect(material).toMatchObject({ version: v2.id, bundle: bundleOf(bob) });
    // By stage (bob), then the announced version by id: the creation dates show bob is newer.
    expect(
      aws.emulator.log
        .calls({ operation: 'GetSecretValue' })
        .map((c) => c.body)
        .slice(-2),
    ).toEqual([
      { SecretId: 's', VersionStage: 'AWSCURRENT' },
      { SecretId: 's', VersionId: v1.id },
    ]);
  });

  it('with DescribeSecret denied, a probe served by a replica behind a rotation announces the version it stands by; a rollback is announced when two probes in a row report it', async () => {
    const { v1, v2, source } = await rotatedToBob({ describeDenied: true });

    // One probe is served alice's version by a lagging replica: not announced.
    aws.emulator.fail({ kind: 'stale', operation: 'GetSecretValue' });
    expect(await source.version()).toBe(v2.id);
    expect(aws.emulator.log.last()).toMatchObject({ operation: 'GetSecretValue', fault: 'stale' });
    expect(await source.version()).toBe(v2.id);

    // The operator moves AWSCURRENT back to alice: the first probe holds it back, the second announces it.
    aws.emulator.secrets.moveLabel('s', 'AWSCURRENT', { to: v1.id });
    expect(await source.version()).toBe(v2.id);
    expect(await source.version()).toBe(v1.id);
    expect(await source.load()).toMatchObject({ version: v1.id, bundle: bundleOf(alice) });
    // From then on the rollback stands.
    expect(await source.version()).toBe(v1.id);
    expect(await source.version()).toBe(v1.id);
  });

  it('with DescribeSecret, a probe that reports an older version than one already read waits for a second probe too', async () => {
    const { v1, v2, source } = await rotatedToBob();

    // A DescribeSecret answered by a replica behind the rotation (AWSCURRENT still on alice's version).
    aws.emulator.secrets.moveLabel('s', 'AWSCURRENT', { to: v1.id });
    expect(await source.version()).toBe(v2.id);
    aws.emulator.secrets.moveLabel('s', 'AWSCURRENT', { to: v2.id });
    expect(await source.version()).toBe(v2.id);

    // A rollback: reported on two probes in a row, announced on the second.
    aws.emulator.secrets.moveLabel('s', 'AWSCURRENT', { to: v1.id });
    expect(await source.version()).toBe(v2.id);
    expect(await source.version()).toBe(v1.id);
    expect(await source.load()).toMatchObject({ version: v1.id, bundle: bundleOf(alice) });
    // A version never read (its creation date unknown) is announced at once.
    const v3 = aws.emulator.putSecret('s', bundleOf(bob));
    expect(await source.version()).toBe(v3.id);
  });

  it('announces a rollback to a version it never read on the first probe, and stays on it', async () => {
    // The process starts while bob's version is current: alice's version is never read.
    const { v1, source } = await startedOnBob();

    // The operator moves AWSCURRENT back to alice's version (update-secret-version-stage).
    aws.emulator.secrets.moveLabel('s', 'AWSCURRENT', { to: v1.id });
    expect(await source.version()).toBe(v1.id);
    expect(await source.load()).toMatchObject({ version: v1.id, bundle: bundleOf(alice) });
    // Its creation date is now known and older than bob's: the rollback still stands.
    for (let i = 0; i < 3; i++) expect(await source.version()).toBe(v1.id);
  });

  it('announces at once a promoted version created before the current one (an old AWSPENDING, clock skew), and stays on it', async () => {
    aws.emulator.putSecret('s', bundleOf(alice));
    const pending = aws.emulator.putSecret('s', bundleOf(bob), { stages: [AWSPENDING] });
    const v3 = aws.emulator.putSecret('s', bundleOf(alice));
    const source = aws.source({ secretId: 's' });
    expect((await source.load()).version).toBe(v3.id);

    aws.emulator.secrets.moveLabel('s', 'AWSCURRENT', { to: pending.id });
    expect(await source.version()).toBe(pending.id);
    expect(await source.load()).toMatchObject({ version: pending.id, bundle: bundleOf(bob) });
    for (let i = 0; i < 3; i++) expect(await source.version()).toBe(pending.id);
  });

  it('after a rollback, loads whose reads of the stage are all served the replaced version never take the source back', async () => {
    const { v1, source } = await startedOnBob();
    aws.emulator.secrets.moveLabel('s', 'AWSCURRENT', { to: v1.id });
    // Every read of AWSCURRENT from now on meets a replica that still has it on bob's version.
    aws.emulator.fail({ kind: 'stale', operation: 'GetSecretValue', times: Number.POSITIVE_INFINITY });

    // What a resolver does each tick when the probe differs from what it holds: probe, then load.
    for (let i = 0; i < 4; i++) {
      expect(await source.version()).toBe(v1.id);
      expect(await source.load()).toMatchObject({ version: v1.id, bundle: bundleOf(alice) });
    }
    expect(
      aws.emulator.log.calls({ operation: 'GetSecretValue' }).filter((c) => c.fault === 'stale'),
    ).toHaveLength(4);
  });

  it('stands by the version a load returned instead of the announced one: a first probe that lagged does not cost a switch', async () => {
    const { v1, v2, source } = await startedOnBob();

    // The first probe meets a replica one rotation behind: AWSCURRENT on alice's version, which this
    // process never read, and bob's not listed at all.
    aws.emulator.secrets.moveLabel('s', 'AWSCURRENT', { to: v1.id });
    aws.emulator.secrets.moveLabel('s', 'AWSPREVIOUS', { from: v2.id });
    expect(await source.version()).toBe(v1.id);
    // The replica catches up before the load: bob's version is newer by date, so it is loaded …
    aws.emulator.secrets.moveLabel('s', 'AWSCURRENT', { to: v2.id });
    expect((await source.load()).version).toBe(v2.id);
    // … and the next probes announce it, as what the resolver holds: no load, no switch.
    for (let i = 0; i < 3; i++) expect(await source.version()).toBe(v2.id);
  });

  it('counts overlapping probes as one: a step back that both report is still held until the next probe', async () => {
    const { v1, v2, source } = await rotatedToBob();

    // Two probes in flight at once (two resolvers sharing the source) meet the same lagging replica.
    aws.emulator.secrets.moveLabel('s', 'AWSCURRENT', { to: v1.id });
    expect(await Promise.all([source.version(), source.version()])).toEqual([v2.id, v2.id]);
    // The probe after them is the second observation: a rollback.
    expect(await source.version()).toBe(v1.id);
  });

  it('with DescribeSecret denied, after a rollback a probe served the replaced version does not go back', async () => {
    const { v1, v2, source } = await startedOnBob({ describeDenied: true });

    // A rollback to a version never read is announced at once, though the probe itself read its date.
    aws.emulator.secrets.moveLabel('s', 'AWSCURRENT', { to: v1.id });
    expect(await source.version()).toBe(v1.id);
    expect(await source.load()).toMatchObject({ version: v1.id, bundle: bundleOf(alice) });

    // Lagging probes, one at a time between good ones: the rollback stands.
    for (let i = 0; i < 3; i++) {
      aws.emulator.fail({ kind: 'stale', operation: 'GetSecretValue' });
      expect(await source.version()).toBe(v1.id);
      expect(aws.emulator.log.last()).toMatchObject({ operation: 'GetSecretValue', fault: 'stale' });
      expect(await source.version()).toBe(v1.id);
    }

    // A replica lagging on two probes in a row is taken for the operator going forward again (the
    // documented limit): one switch back, and the current version returns on the next two probes.
    aws.emulator.fail({ kind: 'stale', operation: 'GetSecretValue', times: 2 });
    expect(await source.version()).toBe(v1.id);
    expect(await source.version()).toBe(v2.id);
    expect(await source.version()).toBe(v2.id);
    expect(await source.version()).toBe(v1.id);
    expect(await source.version()).toBe(v1.id);
  });

  it('warns once per source: for one secret per field, and for concurrent probes', async () => {
    aws.emulator.putSecret('mtls/cert', alice.certPem);
    aws.emulator.putSecret('mtls/key', alice.keyPem);
    aws.emulator.putSecret('s', bundleOf(alice));
    aws.emulator.fail({ kind: 'denied', operation: 'DescribeSecret', times: Number.POSITIVE_INFINITY });

    const perField: Finding[] = [];
    const fields = aws.source({
      secrets: { cert: 'mtls/cert', key: 'mtls/key' },
      onWarning: (f) => perField.push(f),
    });
    await fields.version();
    await fields.version();
    expect(perField).toHaveLength(1);
    expect(perField[0]?.message).toMatch(/DescribeSecret on secrets "mtls\/cert", "mtls\/key"/);

    const concurrent: Finding[] = [];
    const bundled = aws.source({ secretId: 's', onWarning: (f) => concurrent.push(f) });
    await Promise.all([bundled.version(), bundled.version(), bundled.version()]);
    expect(concurrent).toHaveLength(1);
  });

  it('does not warn of a fallback that fails: with GetSecretValue refused too, it fails ACCESS_DENIED and asks DescribeSecret again next time', async () => {
    const v1 = aws.emulator.putSecret('s', bundleOf(alice));
    const describe = aws.emulator.fail({
      kind: 'denied',
      operation: 'DescribeSecret',
      times: Number.POSITIVE_INFINITY,
    });
    const read = aws.emulator.fail({
      kind: 'denied',
      operation: 'GetSecretValue',
      times: Number.POSITIVE_INFINITY,
    });
    const warnings: Finding[] = [];
    const source = aws.source({ secretId: 's', onWarning: (f) => warnings.push(f) });

    const err = await source.version().catch((e: unknown) => e);
    expect(MtlsError.is(err, 'ACCESS_DENIED')).toBe(true);
    expect((err as MtlsError).message).toMatch(/secretsmanager:GetSecretValue/);
    expect(warnings).toEqual([]);

    // The operator allows both: DescribeSecret is asked again and the probe reads no value.
    describe.clear();
    read.clear();
    aws.emulator.log.clear();
    expect(await source.version()).toBe(v1.id);
    expect(aws.emulator.log.operations()).toEqual(['DescribeSecret']);
    expect(warnings).toEqual([]);
  });

  it('does not fall back when the credentials themselves are refused', async () => {
    aws.emulator.putSecret('s', bundleOf(alice));
    aws.emulator.fail({ kind: 'error', code: 'UnrecognizedClientException', operation: 'DescribeSecret' });
    const warnings: Finding[] = [];
    const err = await aws
      .source({ secretId: 's', onWarning: (f) => warnings.push(f) })
      .version()
      .catch((e: unknown) => e);
    expect(MtlsError.is(err, 'ACCESS_DENIED')).toBe(true);
    expect((err as MtlsError).message).toMatch(/secretsmanager:DescribeSecret/);
    expect(aws.emulator.log.operations()).toEqual(['DescribeSecret']);
    expect(warnings).toEqual([]);
  });

  it('reports a retryable SOURCE_UNAVAILABLE when the announced version cannot be read yet', async () => {
    aws.emulator.putSecret('s', bundleOf(alice));
    const source = aws.source({ secretId: 's' });
    aws.emulator.putSecret('s', bundleOf(bob));
    await source.version();
    // The read by stage is served the old version; the read of the announced one is refused.
    aws.emulator.fail({ kind: 'stale', operation: 'GetSecretValue' });
    aws.emulator.fail({ kind: 'notFound', operation: 'GetSecretValue' });
    const err = await source.load().catch((e: unknown) => e);
    expect(MtlsError.is(err, 'SOURCE_UNAVAILABLE')).toBe(true);
    expect((err as MtlsError).retryable).toBe(true);
    expect((err as MtlsError).message).toMatch(/cannot be read yet/);
  });
});

describe('one secret per field', () => {
  it('reads every field, reports one version naming each field’s version, and core pairs them', async () => {
    const c = aws.emulator.putSecret('mtls/cert', alice.certPem);
    const k = aws.emulator.putSecret('mtls/key', alice.keyPem);
    const source = aws.source({ secrets: { cert: 'mtls/cert', key: 'mtls/key' } });
    const material = await source.load();
    expect(material).toMatchObject({
      cert: alice.certPem,
      key: alice.keyPem,
      version: `cert:${c.id},key:${k.id}`,
    });
    expect(await source.version()).toBe(`cert:${c.id},key:${k.id}`);
    expect((await loadCredentials(material)).fingerprint256).toBe(alice.fingerprint256);
    expect(source.id).toBe('aws-sm://?cert=mtls/cert&key=mtls/key&region=eu-west-1');
  });

  it('reads again when it caught a rotation halfway (new certificate, old key), and returns the matching pair', async () => {
    aws.emulator.putSecret('mtls/cert', alice.certPem);
    aws.emulator.putSecret('mtls/key', alice.keyPem);
    aws.emulator.putSecret('mtls/cert', bob.certPem);
    aws.emulator.putSecret('mtls/key', bob.keyPem);
    // The first read of the key is served by a replica that has not seen its rotation yet.
    aws.emulator.fail({ kind: 'stale', operation: 'GetSecretValue', secret: 'mtls/key' });
    const source = aws.source({ secrets: { cert: 'mtls/cert', key: 'mtls/key' } });

    const material = await source.load();
    expect((await loadCredentials(material)).fingerprint256).toBe(bob.fingerprint256);
    expect(aws.emulator.log.count({ operation: 'GetSecretValue', secret: 'mtls/cert' })).toBe(2);
    expect(aws.emulator.log.count({ operation: 'GetSecretValue', secret: 'mtls/key' })).toBe(2);
  });

  it('never pairs fields of two versions, even when the probe announced a rotation caught halfway', async () => {
    aws.emulator.putSecret('mtls/cert', alice.certPem);
    const k1 = aws.emulator.putSecret('mtls/key', alice.keyPem);
    const c2 = aws.emulator.putSecret('mtls/cert', bob.certPem);
    const source = aws.source({ secrets: { cert: 'mtls/cert', key: 'mtls/key' } });
    expect(await source.version()).toBe(`cert:${c2.id},key:${k1.id}`);
    const k2 = aws.emulator.putSecret('mtls/key', bob.keyPem);
    // The key's rotation has finished, but the first read is served by a replica that missed it.
    aws.emulator.fail({ kind: 'stale', operation: 'GetSecretValue', secret: 'mtls/key' });

    // What was announced and read first (bob's certificate, alice's key) does not match: the
    // second read goes by stage, not by the announced ids, and finds the finished rotation.
    const material = await source.load();
    expect(material.version).toBe(`cert:${c2.id},key:${k2.id}`);
    expect((await loadCredentials(material)).fingerprint256).toBe(bob.fingerprint256);
    for (const secret of ['mtls/cert', 'mtls/key']) {
      const byStage = { SecretId: secret, VersionStage: 'AWSCURRENT' };
      expect(aws.emulator.log.calls({ operation: 'GetSecretValue', secret }).map((c) => c.body)).toEqual([
        byStage,
        byStage,
      ]);
    }
  });

  it('reads again when a passphrase kept in its own secret does not open the key yet', async () => {
    aws.emulator.putSecret(
      'enc',
      JSON.stringify({ cert: alice.certPem, key: alice.encryptedPkcs8Pem('first-pass') }),
    );
    aws.emulator.putSecret('enc/pass', 'first-pass');
    aws.emulator.putSecret(
      'enc',
      JSON.stringify({ cert: bob.certPem, key: bob.encryptedPkcs8Pem('second-pass') }),
    );
    aws.emulator.putSecret('enc/pass', 'second-pass');
    aws.emulator.fail({ kind: 'stale', operation: 'GetSecretValue', secret: 'enc/pass' });
    const source = aws.source({ secretId: 'enc', secrets: { passphrase: 'enc/pass' } });

    expect((await loadCredentials(source)).fingerprint256).toBe(bob.fingerprint256);
    expect(aws.emulator.log.count({ operation: 'GetSecretValue', secret: 'enc/pass' })).toBe(2);

    aws.emulator.putSecret('enc/pass', 'not-the-passphrase');
    const err = await source.load().catch((e: unknown) => e);
    expect(MtlsError.is(err, 'WRONG_PASSPHRASE')).toBe(true);
    expect((err as MtlsError).message).toMatch(/read twice.*store the passphrase that opens the key/);
    leakCheck(['second-pass', 'not-the-passphrase']).check(err, 'WRONG_PASSPHRASE error');
  });

  it('fails with KEY_MISMATCH after the second read when the fields really do not belong together', async () => {
    aws.emulator.putSecret('mtls/cert', alice.certPem);
    aws.emulator.putSecret('mtls/key', bob.keyPem);
    const source = aws.source({ secrets: { cert: 'mtls/cert', key: 'mtls/key' } });
    const err = await source.load().catch((e: unknown) => e);
    expect(MtlsError.is(err, 'KEY_MISMATCH')).toBe(true);
    expect((err as MtlsError).message).toMatch(/read twice/);
    expect(aws.emulator.log.count({ operation: 'GetSecretValue' })).toBe(4);
    leakCheck([alice.keyPem, bob.keyPem]).check(err, 'KEY_MISMATCH error');
  });
});

describe('store()', () => {
  it('writes fields as a JSON bundle that loads back, as the new current version', async () => {
    aws.emulator.putSecret('s', bundleOf(alice));
    const source = aws.source({ secretId: 's' });
    const { version } = await source.store({ cert: bob.certPem, key: bob.keyPem });
    // The SDK's idempotency token becomes the version id: an SDK retry cannot write twice.
    expect(aws.emulator.log.last()?.body).toMatchObject({ ClientRequestToken: version });
    expect(await source.version()).toBe(version);
    expect((await loadCredentials(source)).fingerprint256).toBe(bob.fingerprint256);
    expect(JSON.parse(aws.emulator.secrets.get('s')?.value as string)).toEqual({
      cert: bob.certPem,
      key: bob.keyPem,
    });
  });

  it('stages a renewal under a label without changing what loads, and writes bytes as SecretBinary', async () => {
    const live = aws.emulator.putSecret('s', bundleOf(alice));
    const source = aws.source({ secretId: 's' });
    const pfx = new Uint8Array(await bob.pkcs12('renewal-pass'));
    const { version } = await source.store({ bundle: pfx }, { stage: AWSPENDING });
    expect(await source.version()).toBe(live.id);
    expect(aws.emulator.log.last({ operation: 'PutSecretValue' })?.body).toMatchObject({
      SecretId: 's',
      VersionStages: [AWSPENDING],
      SecretBinary: Buffer.from(pfx).toString('base64'),
    });
    expect(aws.emulator.secrets.get('s', { label: AWSPENDING })).toMatchObject({ id: version, value: pfx });
  });

  it('writes each field to its own secret, and refuses a field it has no secret for', async () => {
    aws.emulator.putSecret('c', alice.certPem);
    aws.emulator.putSecret('k', alice.keyPem);
    const source = aws.source({ secrets: { cert: 'c', key: 'k' } });
    await source.store({ cert: bob.certPem, key: bob.keyPem });
    expect((await loadCredentials(source)).fingerprint256).toBe(bob.fingerprint256);

    const err = await source
      .store({ cert: bob.certPem, key: bob.keyPem, passphrase: 'x' })
      .catch((e: unknown) => e);
    expect(MtlsError.is(err, 'INVALID_OPTION')).toBe(true);
    expect((err as MtlsError).message).toMatch(/no secret for passphrase/);
  });

  it('writes nothing when a required field is missing from the material', async () => {
    aws.emulator.putSecret('c', alice.certPem);
    aws.emulator.putSecret('k', alice.keyPem);
    const source = aws.source({ secrets: { cert: 'c', key: 'k' } });
    const err = await source.store({ cert: bob.certPem }).catch((e: unknown) => e);
    expect(MtlsError.is(err, 'MISSING_FIELD')).toBe(true);
    expect((err as MtlsError).field).toBe('key');
    expect(aws.emulator.log.count({ operation: 'PutSecretValue' })).toBe(0);
  });

  it('refuses, writing nothing, to store into a fixed versionId or several CA certificates into one secret', async () => {
    aws.emulator.putSecret('s', bundleOf(alice));
    const fixed = aws.source({ secretId: 's', versionId: 'v1' });
    const pinned = await fixed.store({ bundle: bundleOf(bob) }).catch((e: unknown) => e);
    expect(MtlsError.is(pinned, 'INVALID_OPTION')).toBe(true);
    expect((pinned as MtlsError).message).toMatch(/reads the fixed version v1: drop versionId/);

    const withCa = aws.source({ secretId: 's', secrets: { ca: 'ca' } });
    const several = await withCa
      .store({ cert: bob.certPem, key: bob.keyPem, ca: [alice.caPem, bob.caPem] })
      .catch((e: unknown) => e);
    expect(MtlsError.is(several, 'INVALID_OPTION')).toBe(true);
    expect(several).toMatchObject({ field: 'ca' });
    expect((several as MtlsError).message).toMatch(/the ca secret "ca" holds one value: join the CA/);
    expect(aws.emulator.log.count({ operation: 'PutSecretValue' })).toBe(0);
  });

  it('maps a failed write like a failed read', async () => {
    const source = aws.source({ secretId: 'absent' });
    const err = await source.store({ cert: bob.certPem, key: bob.keyPem }).catch((e: unknown) => e);
    expect(MtlsError.is(err, 'SOURCE_NOT_FOUND')).toBe(true);
    expect((err as MtlsError).message).toContain('"absent"');
    leakCheck([bob.keyPem]).check(err, 'store error');
  });
});

describe('errors', () => {
  const cases = [
    { fault: { kind: 'notFound' }, code: 'SOURCE_NOT_FOUND', retryable: false },
    { fault: { kind: 'denied' }, code: 'ACCESS_DENIED', retryable: false },
    {
      fault: { kind: 'error', code: 'UnrecognizedClientException' },
      code: 'ACCESS_DENIED',
      retryable: false,
    },
    { fault: { kind: 'throttled' }, code: 'THROTTLED', retryable: true },
    { fault: { kind: 'serverError' }, code: 'SOURCE_UNAVAILABLE', retryable: true },
    { fault: { kind: 'serverError', status: 503 }, code: 'SOURCE_UNAVAILABLE', retryable: true },
    { fault: { kind: 'error', code: 'DecryptionFailure' }, code: 'INTEGRITY_FAILED', retryable: false },
    {
      fault: {
        kind: 'error',
        code: 'InvalidRequestException',
        message: "You can't perform this operation on the secret because it was marked for deletion.",
      },
      code: 'SOURCE_NOT_FOUND',
      retryable: false,
    },
    { fault: { kind: 'error', code: 'ValidationException' }, code: 'INVALID_REFERENCE', retryable: false },
    { fault: { kind: 'reset' }, code: 'SOURCE_UNAVAILABLE', retryable: true },
    { fault: { kind: 'malformed' }, code: 'SOURCE_UNAVAILABLE', retryable: true },
  ] as const;

  for (const { fault, code, retryable } of cases) {
    const label =
      'code' in fault ? fault.code : 'status' in fault ? `${fault.kind} ${fault.status}` : fault.kind;
    it(`maps ${label} to ${code}, naming the secret, with a redacted cause`, async () => {
      aws.emulator.putSecret('prod/mtls', bundleOf(alice));
      aws.emulator.fail(fault);
      const source = aws.source({ secretId: 'prod/mtls' });
      const err = await source.load().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MtlsError);
      const e = err as MtlsError;
      expect(e.code).toBe(code);
      expect(e.retryable).toBe(retryable);
      expect(e.sourceId).toBe(source.id);
      expect(e.message).toContain('"prod/mtls"');
      expect(e.cause).toBeInstanceOf(Error);
      expect(Object.keys(e.cause as object)).not.toContain('$response');
      leakCheck([alice.keyPem, TEST_CREDENTIALS.secretAccessKey]).check(e, `${label} error`);
      expect(aws.emulator.log.count()).toBe(1);
    });
  }

  it('maps an unknown access key to ACCESS_DENIED', async () => {
    const strict = await startAwsHarness({ accessKeyId: 'AKIDSOMEONEELSE' });
    try {
      strict.emulator.putSecret('s', bundleOf(alice));
      const err = await strict
        .source({ secretId: 's' })
        .version()
        .catch((e: unknown) => e);
      expect(MtlsError.is(err, 'ACCESS_DENIED')).toBe(true);
      expect((err as MtlsError).message).toMatch(
        /UnrecognizedClientException.*secretsmanager:DescribeSecret/,
      );
    } finally {
      await strict.close();
    }
  });

  it('reports a secret without the probed stage as SOURCE_NOT_FOUND', async () => {
    aws.emulator.putSecret('s', bundleOf(alice));
    const err = await aws
      .source({ secretId: 's', versionStage: AWSPENDING })
      .version()
      .catch((e: unknown) => e);
    expect(MtlsError.is(err, 'SOURCE_NOT_FOUND')).toBe(true);
    expect((err as MtlsError).message).toMatch(/no version labelled AWSPENDING/);
  });

  it('reports a version without SecretString or SecretBinary as MISSING_FIELD', async () => {
    // The emulator refuses to store such a version; a client answering like AWS would for one does not.
    const client = { send: async () => ({ VersionId: 'v1' }) } as unknown as SecretsManagerClient;
    const err = await awsSecretsManagerSource({ secretId: 's', client })
      .load()
      .catch((e: unknown) => e);
    expect(MtlsError.is(err, 'MISSING_FIELD')).toBe(true);
    expect((err as MtlsError).message).toMatch(
      /secret "s" has no SecretString or SecretBinary in version v1/,
    );
  });

  it('passes a corrupt value through for core to reject with DECODE_FAILED', async () => {
    aws.emulator.putSecret('s', bundleOf(alice));
    aws.emulator.fail('corrupt');
    const err = await loadCredentials(aws.source({ secretId: 's' })).catch((e: unknown) => e);
    // Secrets Manager has no checksum on the wire: the SDK call succeeds, core's decoder refuses.
    expect(aws.emulator.log.last()).toMatchObject({ fault: 'corrupt', status: 200 });
    expect(MtlsError.is(err, 'DECODE_FAILED')).toBe(true);
    leakCheck([alice.keyPem]).check(err, 'decode error');
  });

  it('gives up after timeoutMs when the service does not answer, with its own client or an injected one', async () => {
    aws.emulator.putSecret('s', bundleOf(alice));
    const injected = new SecretsManagerClient({
      endpoint: aws.emulator.url,
      region: TEST_REGION,
      credentials: TEST_CREDENTIALS,
    });
    try {
      for (const source of [
        aws.source({ secretId: 's', timeoutMs: 150 }),
        awsSecretsManagerSource({ secretId: 's', client: injected, timeoutMs: 150 }),
      ]) {
        aws.emulator.fail('slow');
        const started = performance.now();
        const err = await source.load().catch((e: unknown) => e);
        expect(performance.now() - started).toBeLessThan(1_500);
        expect(MtlsError.is(err, 'SOURCE_UNAVAILABLE')).toBe(true);
        expect((err as MtlsError).retryable).toBe(true);
        expect((err as MtlsError).message).toMatch(/within 150 ms/);
      }
      // A call abandoned at the deadline is not retried, not even by the injected client's 3 attempts.
      expect(aws.emulator.log.count()).toBe(2);
    } finally {
      injected.destroy();
    }
  });

  it('says which region setting is missing when there is none anywhere', async () => {
    vi.stubEnv('AWS_REGION', undefined);
    vi.stubEnv('AWS_DEFAULT_REGION', undefined);
    vi.stubEnv('AWS_PROFILE', undefined);
    vi.stubEnv('AWS_CONFIG_FILE', '/nonexistent/mtlskit-aws-config');
    const err = await aws
      .source({ secretId: 's', region: undefined })
      .load()
      .catch((e: unknown) => e);
    expect(MtlsError.is(err, 'INVALID_REFERENCE')).toBe(true);
    expect((err as MtlsError).message).toMatch(/region/);
    expect(aws.emulator.log.count()).toBe(0);
  });
});

describe('retries, abort and lifecycle', () => {
  it('lets the SDK retry a failing call once by default and no more', async () => {
    aws.emulator.putSecret('s', bundleOf(alice));
    aws.emulator.fail({ kind: 'serverError', times: Number.POSITIVE_INFINITY });
    const err = await aws
      .source({ secretId: 's', maxAttempts: undefined })
      .load()
      .catch((e: unknown) => e);
    expect(MtlsError.is(err, 'SOURCE_UNAVAILABLE')).toBe(true);
    expect(aws.emulator.log.count()).toBe(2);
  });

  it('takes AWS_MAX_ATTEMPTS from the environment when no maxAttempts is given, and the option beats it', async () => {
    aws.emulator.putSecret('s', bundleOf(alice));
    aws.emulator.fail({ kind: 'serverError', times: Number.POSITIVE_INFINITY });
    vi.stubEnv('AWS_MAX_ATTEMPTS', '3');
    const fromEnv = await aws
      .source({ secretId: 's', maxAttempts: undefined })
      .load()
      .catch((e: unknown) => e);
    expect(MtlsError.is(fromEnv, 'SOURCE_UNAVAILABLE')).toBe(true);
    expect(aws.emulator.log.count()).toBe(3);

    aws.emulator.log.clear();
    const explicit = await aws
      .source({ secretId: 's', maxAttempts: 1 })
      .load()
      .catch((e: unknown) => e);
    expect(MtlsError.is(explicit, 'SOURCE_UNAVAILABLE')).toBe(true);
    expect(aws.emulator.log.count()).toBe(1);
  });

  it('refuses an AWS_MAX_ATTEMPTS that is not a whole number, naming it, unless maxAttempts is given', () => {
    vi.stubEnv('AWS_MAX_ATTEMPTS', 'lots');
    let thrown: unknown;
    try {
      aws.source({ secretId: 's', maxAttempts: undefined });
    } catch (err) {
      thrown = err;
    }
    expect(MtlsError.is(thrown, 'INVALID_OPTION')).toBe(true);
    expect((thrown as MtlsError).message).toMatch(/AWS_MAX_ATTEMPTS=lots .*whole number/);
    expect(() => aws.source({ secretId: 's', maxAttempts: 2 })).not.toThrow();
  });

  it('rejects with the signal’s reason when aborted mid-call, promptly', async () => {
    aws.emulator.putSecret('s', bundleOf(alice));
    aws.emulator.fail('slow');
    const controller = new AbortController();
    const reason = new Error('caller gave up');
    setTimeout(() => controller.abort(reason), 50);
    const started = performance.now();
    const err = await aws
      .source({ secretId: 's' })
      .load({ signal: controller.signal })
      .catch((e: unknown) => e);
    expect(err).toBe(reason);
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('sends nothing when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    const source = aws.source({ secretId: 's' });
    await expect(source.load({ signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' });
    await expect(source.version({ signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' });
    expect(aws.emulator.log.count()).toBe(0);
  });

  it('refuses calls after close(), and leaves an injected client usable', async () => {
    aws.emulator.putSecret('s', bundleOf(alice));
    const client = new SecretsManagerClient({
      endpoint: aws.emulator.url,
      region: TEST_REGION,
      credentials: TEST_CREDENTIALS,
      maxAttempts: 1,
    });
    try {
      const source = awsSecretsManagerSource({ secretId: 's', client });
      await source.load();
      await source.close();
      await source.close();
      await expect(source.load()).rejects.toMatchObject({ code: 'CLOSED' });
      await expect(awsSecretsManagerSource({ secretId: 's', client }).load()).resolves.toMatchObject({
        bundle: bundleOf(alice),
      });
    } finally {
      client.destroy();
    }
  });
});

describe('the SDK’s own configuration chain', () => {
  it('uses AWS_REGION, AWS_ENDPOINT_URL_SECRETS_MANAGER and the environment’s credentials when no option is given', async () => {
    const strict = await startAwsHarness({ accessKeyId: 'AKIDFROMTHEENV' });
    try {
      strict.emulator.putSecret('s', bundleOf(alice));
      vi.stubEnv('AWS_REGION', 'ap-southeast-2');
      vi.stubEnv('AWS_ENDPOINT_URL_SECRETS_MANAGER', strict.emulator.url);
      vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIDFROMTHEENV');
      vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'secret-from-the-env');
      vi.stubEnv('AWS_CONFIG_FILE', '/nonexistent/mtlskit-aws-config');
      vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', '/nonexistent/mtlskit-aws-credentials');
      const source = awsSecretsManagerSource({ secretId: 's', maxAttempts: 1, timeoutMs: 2_000 });
      try {
        expect((await source.load()).bundle).toBe(bundleOf(alice));
        expect(String(strict.emulator.log.last()?.headers.authorization)).toContain(
          '/ap-southeast-2/secretsmanager/',
        );
      } finally {
        await source.close();
      }
    } finally {
      await strict.close();
    }
  });

  it('lets explicit options override the environment', async () => {
    const strict = await startAwsHarness({ accessKeyId: TEST_CREDENTIALS.accessKeyId });
    try {
      strict.emulator.putSecret('s', bundleOf(alice));
      vi.stubEnv('AWS_ENDPOINT_URL_SECRETS_MANAGER', 'http://127.0.0.1:9');
      vi.stubEnv('AWS_REGION', 'us-west-2');
      vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIDFROMTHEENV');
      vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'secret-from-the-env');
      const source = strict.source({ secretId: 's' }); // explicit endpoint, region and credentials
      expect((await source.load()).bundle).toBe(bundleOf(alice));
      const authorization = String(strict.emulator.log.last()?.headers.authorization);
      expect(authorization).toContain(`Credential=${TEST_CREDENTIALS.accessKeyId}/`);
      expect(authorization).toContain(`/${TEST_REGION}/secretsmanager/`);
      expect(authorization).not.toContain('AKIDFROMTHEENV');
    } finally {
      await strict.close();
    }
  });

  it('takes an instance role’s credentials from the metadata service when nothing else is configured', async () => {
    const strict = await startAwsHarness({ accessKeyId: 'AKIDINSTANCEROLE' });
    const imds = await startInstanceMetadata({ accessKeyId: 'AKIDINSTANCEROLE', role: 'mtlskit-role' });
    withoutConfiguredCredentials();
    // The SDK's own switch for the metadata service, pointed at a loopback stand-in instead of 169.254.169.254.
    vi.stubEnv('AWS_EC2_METADATA_DISABLED', undefined);
    vi.stubEnv('AWS_EC2_METADATA_SERVICE_ENDPOINT', imds.url);
    const probe = trackConnections();
    try {
      strict.emulator.putSecret('s', bundleOf(alice));
      const source = strict.source({ secretId: 's', credentials: undefined });
      expect((await source.load()).bundle).toBe(bundleOf(alice));
      expect(imds.requests).toEqual([
        'PUT /latest/api/token',
        'GET /latest/meta-data/iam/security-credentials/',
        'GET /latest/meta-data/iam/security-credentials/mtlskit-role',
      ]);
      // The tracker the harnesses rely on does see the SDK's metadata traffic: in every other test,
      // with the metadata service disabled, it records none.
      expect(probe.connections.map((c) => c.port)).toContain(imds.port);
    } finally {
      probe.stop();
      await imds.close();
      await strict.close();
    }
  });

  it('fails with ACCESS_DENIED, without probing any metadata service, when no credentials exist', async () => {
    withoutConfiguredCredentials();
    vi.stubEnv('AWS_EC2_METADATA_DISABLED', 'true');
    const probe = trackConnections();
    try {
      const err = await aws
        .source({ secretId: 's', credentials: undefined })
        .load()
        .catch((e: unknown) => e);
      expect(MtlsError.is(err, 'ACCESS_DENIED')).toBe(true);
      expect((err as MtlsError).message).toMatch(/no AWS credentials were found/);
      expect(probe.connections).toEqual([]);
      expect(aws.emulator.log.count()).toBe(0);
    } finally {
      probe.stop();
    }
  });
});

describe('options', () => {
  it.each([
    [{}, /no secret given/],
    [{ secretId: '' }, /secretId is empty/],
    [{ secretId: 's', secrets: { cert: 'c' } }, /conflicts/],
    [{ secrets: { cert: 'c' } }, /both cert and key/],
    [{ secrets: { cert: 'c', key: 'k' }, versionId: 'v' }, /versionId applies to one secret/],
    [{ secrets: { cert: 'c', key: 'k', tls: 'x' } as never }, /unknown field tls/],
    [{ secretId: 's', timeoutMs: 0 }, /timeoutMs must be a positive number/],
    [{ secretId: 's', maxAttempts: 0 }, /maxAttempts must be a whole number/],
  ])('refuses %j with INVALID_OPTION', (options, message) => {
    let thrown: unknown;
    try {
      awsSecretsManagerSource({ region: TEST_REGION, credentials: TEST_CREDENTIALS, ...options });
    } catch (err) {
      thrown = err;
    }
    expect(MtlsError.is(thrown, 'INVALID_OPTION')).toBe(true);
    expect((thrown as MtlsError).message).toMatch(message);
  });
});
