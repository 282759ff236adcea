// End to end: a resolver reading AWS Secrets Manager (the real SDK against the loopback emulator)
// hands out an agent that makes real mTLS requests, follows a rotation done in the store, and with
// DescribeSecret probes fetches the secret value only when its version changed.
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { awsSecretsManagerSource } from '@mtlskit/aws';
import {
  createTlsResolver,
  type Finding,
  MtlsError,
  type RefreshFailedEvent,
  type RotatedEvent,
  type TlsResolver,
} from '@mtlskit/core';
import { type AwsSecretsManagerEmulator, startAwsSecretsManagerEmulator } from '@mtlskit/testkit';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { until, useMtlsFixture } from '../support/e2e.js';

const CREDENTIALS = { accessKeyId: 'AKIDE2ETEST', secretAccessKey: 'e2e-secret-access-key' };
const SECRET = 'prod/payments/mtls';

const mtls = useMtlsFixture();
const { bundle, presented } = mtls;
let emulator: AwsSecretsManagerEmulator;
let resolver: TlsResolver | undefined;

function source(extra: { onWarning?: (finding: Finding) => void; endpoint?: string } = {}) {
  return awsSecretsManagerSource({
    secretId: SECRET,
    endpoint: emulator.url,
    region: 'eu-west-1',
    credentials: CREDENTIALS,
    maxAttempts: 1,
    timeoutMs: 2_000,
    ...extra,
  });
}

/**
 * A loopback HTTP proxy in front of the emulator that can hold back one answer: the request reaches
 * the emulator and is answered there (the secret is read), and the answer waits until released.
 */
async function startHoldingProxy(target: string) {
  let armed: { operation: string; reached: () => void; released: Promise<void> } | undefined;
  const server = createServer((req, res) => {
    const upstream = request(
      `${target}${req.url ?? '/'}`,
      { method: req.method, headers: req.headers },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.on('end', async () => {
          const hold = armed;
          if (hold !== undefined && req.headers['x-amz-target'] === `secretsmanager.${hold.operation}`) {
            armed = undefined;
            hold.reached();
            await hold.released;
          }
          res.writeHead(answer.statusCode ?? 502, answer.headers).end(Buffer.concat(chunks));
        });
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    /** Holds the answer of the next call of `operation`; `reached` resolves once it was answered upstream. */
    holdNext(operation: string) {
      let release = () => {};
      let reached = () => {};
      const wasReached = new Promise<void>((resolve) => {
        reached = resolve;
      });
      armed = { operation, reached, released: new Promise<void>((resolve) => (release = resolve)) };
      return { reached: wasReached, release };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Waits for `n` more calls of `operation` than the emulator has logged so far. */
async function moreCalls(operation: string, n: number, what: string): Promise<void> {
  const since = emulator.log.count({ operation });
  await until(() => emulator.log.count({ operation }) >= since + n, what);
}

/** A resolver over `src` probing every 40 ms, and the fingerprints its `rotated` events report. */
function pollingResolver(src = source()): { r: TlsResolver; rotated: string[] } {
  const r = createTlsResolver({ source: src, refreshIntervalMs: 40, jitter: 0 });
  resolver = r;
  const rotated: string[] = [];
  r.on('rotated', (e) => rotated.push(e.fingerprint256));
  return { r, rotated };
}

/** Makes bob's version current over alice's; returns alice's version id, to roll back to. */
function rotateToBob(): string | undefined {
  const v1 = emulator.secrets.get(SECRET, { label: 'AWSCURRENT' });
  emulator.putSecret(SECRET, bundle(mtls.bob));
  return v1?.id;
}

beforeEach(async () => {
  emulator = await startAwsSecretsManagerEmulator({ region: 'eu-west-1' });
  emulator.putSecret(SECRET, bundle(mtls.alice));
});
afterEach(async () => {
  vi.unstubAllEnvs();
  await resolver?.close();
  resolver = undefined;
  await emulator.close();
});

describe('a resolver over AWS Secrets Manager', () => {
  it('loads the credential from Secrets Manager and makes a real mTLS request with it', async () => {
    resolver = createTlsResolver({ source: source() });
    expect(await presented(resolver)).toBe(mtls.alice.fingerprint256);
    expect(mtls.server.requests.at(-1)?.authorized).toBe(true);
    expect(emulator.log.operations()).toEqual(['GetSecretValue']);
    expect(emulator.log.calls().every((c) => c.remoteAddress === '127.0.0.1')).toBe(true);
  });

  it('works from a reference string, with credentials from the SDK’s own chain', async () => {
    vi.stubEnv('AWS_ACCESS_KEY_ID', CREDENTIALS.accessKeyId);
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', CREDENTIALS.secretAccessKey);
    vi.stubEnv('AWS_CONFIG_FILE', '/nonexistent/mtlskit-aws-config');
    vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', '/nonexistent/mtlskit-aws-credentials');
    resolver = createTlsResolver({
      source: `aws-sm://prod/payments/mtls?region=eu-west-1&endpoint=${emulator.url}&maxAttempts=1`,
    });
    expect(await presented(resolver)).toBe(mtls.alice.fingerprint256);
    expect(String(emulator.log.last()?.headers.authorization)).toContain(
      `Credential=${CREDENTIALS.accessKeyId}/`,
    );
  });

  it('presents the new certificate on the next connection after the secret is rotated', async () => {
    resolver = createTlsResolver({ source: source() });
    const rotated: RotatedEvent[] = [];
    resolver.on('rotated', (e) => rotated.push(e));
    expect(await presented(resolver)).toBe(mtls.alice.fingerprint256);

    emulator.putSecret(SECRET, bundle(mtls.bob));
    await resolver.refresh();

    expect(rotated).toEqual([
      expect.objectContaining({
        previousFingerprint256: mtls.alice.fingerprint256,
        fingerprint256: mtls.bob.fingerprint256,
      }),
    ]);
    expect(await presented(resolver)).toBe(mtls.bob.fingerprint256);
    const [before, after] = mtls.server.requests.slice(-2);
    expect(after?.connectionId).not.toBe(before?.connectionId);
    expect(after?.sessionReused).toBe(false);
  });

  it('probes with DescribeSecret and reads the secret value only when its version changed', async () => {
    resolver = createTlsResolver({ source: source(), refreshIntervalMs: 40, jitter: 0 });
    expect(await presented(resolver)).toBe(mtls.alice.fingerprint256);

    await until(() => emulator.log.count({ operation: 'DescribeSecret' }) >= 4, 'four probes');
    expect(emulator.log.count({ operation: 'GetSecretValue' })).toBe(1);

    const rotated = new Promise<RotatedEvent>((resolve) => resolver?.once('rotated', resolve));
    const probesBefore = emulator.log.count({ operation: 'DescribeSecret' });
    emulator.putSecret(SECRET, bundle(mtls.bob));
    expect((await rotated).fingerprint256).toBe(mtls.bob.fingerprint256);
    expect(emulator.log.count({ operation: 'GetSecretValue' })).toBe(2);
    expect(emulator.log.count({ operation: 'DescribeSecret' })).toBeGreaterThan(probesBefore);
    expect(await presented(resolver)).toBe(mtls.bob.fingerprint256);

    await moreCalls('DescribeSecret', 3, 'three more probes');
    expect(emulator.log.count({ operation: 'GetSecretValue' })).toBe(2);
  });

  it('still follows a rotation when the IAM policy denies DescribeSecret, with one warning', async () => {
    emulator.fail({ kind: 'denied', operation: 'DescribeSecret', times: Number.POSITIVE_INFINITY });
    const warnings: Finding[] = [];
    resolver = createTlsResolver({
      source: source({ onWarning: (f) => warnings.push(f) }),
      refreshIntervalMs: 40,
      jitter: 0,
    });
    const failures: RefreshFailedEvent[] = [];
    resolver.on('refreshFailed', (e) => failures.push(e));
    expect(await presented(resolver)).toBe(mtls.alice.fingerprint256);

    const rotated = new Promise<RotatedEvent>((resolve) => resolver?.once('rotated', resolve));
    emulator.putSecret(SECRET, bundle(mtls.bob));
    expect((await rotated).fingerprint256).toBe(mtls.bob.fingerprint256);
    expect(await presented(resolver)).toBe(mtls.bob.fingerprint256);
    expect(failures).toEqual([]);
    // Refused once, then never asked again; every probe since is one read of the stage.
    expect(emulator.log.count({ operation: 'DescribeSecret' })).toBe(1);
    expect(emulator.log.calls({ operation: 'GetSecretValue' }).map((c) => c.body)).not.toContainEqual(
      expect.objectContaining({ VersionId: expect.anything() }),
    );
    expect(warnings.map((w) => w.code)).toEqual(['AWS_DESCRIBE_SECRET_DENIED']);
  });

  it('with DescribeSecret denied, refresh() called while a probe that read the old value is finishing returns the rotated credential', async () => {
    emulator.fail({ kind: 'denied', operation: 'DescribeSecret', times: Number.POSITIVE_INFINITY });
    const proxy = await startHoldingProxy(emulator.url);
    try {
      resolver = createTlsResolver({
        source: source({ endpoint: proxy.url, onWarning: () => {} }),
        refreshIntervalMs: 100,
        jitter: 0,
      });
      expect(await presented(resolver)).toBe(mtls.alice.fingerprint256);

      // The next GetSecretValue is a probe's (nothing changed, so nothing is loaded): it reads alice,
      // and its answer is held while the operator rotates and asks for a refresh.
      const held = proxy.holdNext('GetSecretValue');
      await held.reached;
      emulator.putSecret(SECRET, bundle(mtls.bob));
      const refreshed = resolver.refresh();
      held.release();
      expect((await refreshed).fingerprint256).toBe(mtls.bob.fingerprint256);
      expect(await presented(resolver)).toBe(mtls.bob.fingerprint256);
    } finally {
      await resolver?.close();
      resolver = undefined;
      await proxy.close();
    }
  });

  it('with DescribeSecret denied, does not switch back to the old certificate when one probe meets a lagging replica', async () => {
    emulator.fail({ kind: 'denied', operation: 'DescribeSecret', times: Number.POSITIVE_INFINITY });
    const { r, rotated } = pollingResolver(source({ onWarning: () => {} }));
    expect(await presented(r)).toBe(mtls.alice.fingerprint256);

    emulator.putSecret(SECRET, bundle(mtls.bob));
    await until(() => rotated.length > 0, 'the rotation');
    // One probe's read of AWSCURRENT is served alice's version by a replica behind the rotation.
    emulator.fail({ kind: 'stale', operation: 'GetSecretValue' });
    await until(() => emulator.log.calls().some((c) => c.fault === 'stale'), 'the lagging read');
    await moreCalls('GetSecretValue', 3, 'three more probes');

    expect(rotated).toEqual([mtls.bob.fingerprint256]);
    // Not announced, so not loaded either: every read since the start was a read of the stage.
    expect(emulator.log.calls({ operation: 'GetSecretValue' }).map((c) => c.body)).not.toContainEqual(
      expect.objectContaining({ VersionId: expect.anything() }),
    );
    expect(await presented(r)).toBe(mtls.bob.fingerprint256);
  });

  it('rotates even when the read after the probe is served by a replica that has not seen the rotation', async () => {
    resolver = createTlsResolver({ source: source(), refreshIntervalMs: 40, jitter: 0 });
    expect(await presented(resolver)).toBe(mtls.alice.fingerprint256);

    // The resolver files what it loads under the version its probe announced: had it kept the old
    // value served here, no later probe would differ and it would stay on alice for good.
    emulator.fail({ kind: 'stale', operation: 'GetSecretValue' });
    const v2 = emulator.putSecret(SECRET, bundle(mtls.bob));
    await until(() => resolver?.health().fingerprint256 === mtls.bob.fingerprint256, 'the rotation');
    expect(emulator.log.calls({ operation: 'GetSecretValue' }).map((c) => [c.fault, c.body])).toEqual([
      [undefined, { SecretId: SECRET, VersionStage: 'AWSCURRENT' }],
      ['stale', { SecretId: SECRET, VersionStage: 'AWSCURRENT' }],
      [undefined, { SecretId: SECRET, VersionId: v2.id }],
    ]);
    expect(await presented(resolver)).toBe(mtls.bob.fingerprint256);
  });

  it('rolls back exactly once to a version the process never read, and stays there', async () => {
    const v1 = rotateToBob();
    // The process starts while bob's version is current: alice's is never read.
    const { r, rotated } = pollingResolver();
    expect(await presented(r)).toBe(mtls.bob.fingerprint256);

    // The operator moves AWSCURRENT back (update-secret-version-stage).
    emulator.secrets.moveLabel(SECRET, 'AWSCURRENT', { to: v1 });
    await until(() => rotated.length > 0, 'the rollback');
    await moreCalls('DescribeSecret', 5, 'five more probes');
    expect(rotated).toEqual([mtls.alice.fingerprint256]);
    expect(await presented(r)).toBe(mtls.alice.fingerprint256);
  });

  it('after a rollback, does not alternate while every read of AWSCURRENT meets a replica still on the replaced version', async () => {
    const v1 = rotateToBob();
    const { r, rotated } = pollingResolver();
    expect(await presented(r)).toBe(mtls.bob.fingerprint256);

    emulator.secrets.moveLabel(SECRET, 'AWSCURRENT', { to: v1 });
    emulator.fail({ kind: 'stale', operation: 'GetSecretValue', times: Number.POSITIVE_INFINITY });
    await until(() => rotated.length > 0, 'the rollback');
    await moreCalls('DescribeSecret', 5, 'five more probes');
    expect(rotated).toEqual([mtls.alice.fingerprint256]);
    expect(emulator.log.calls().some((c) => c.fault === 'stale')).toBe(true);
    expect(await presented(r)).toBe(mtls.alice.fingerprint256);
  });

  it('with DescribeSecret denied, after a rollback a probe that meets a replica still on the replaced version does not switch back', async () => {
    const v1 = rotateToBob();
    emulator.fail({ kind: 'denied', operation: 'DescribeSecret', times: Number.POSITIVE_INFINITY });
    const { r, rotated } = pollingResolver(source({ onWarning: () => {} }));
    expect(await presented(r)).toBe(mtls.bob.fingerprint256);

    emulator.secrets.moveLabel(SECRET, 'AWSCURRENT', { to: v1 });
    await until(() => rotated.length > 0, 'the rollback');
    // One probe's read of AWSCURRENT is served bob's version, newer by date, by a lagging replica.
    emulator.fail({ kind: 'stale', operation: 'GetSecretValue' });
    await until(() => emulator.log.calls().some((c) => c.fault === 'stale'), 'the lagging read');
    await moreCalls('GetSecretValue', 3, 'three more probes');
    expect(rotated).toEqual([mtls.alice.fingerprint256]);
    expect(await presented(r)).toBe(mtls.alice.fingerprint256);
  });

  it('with DescribeSecret denied, a rotation picked up by refresh() is not undone by a replica still on the old version', async () => {
    emulator.fail({ kind: 'denied', operation: 'DescribeSecret', times: Number.POSITIVE_INFINITY });
    const { r, rotated } = pollingResolver(source({ onWarning: () => {} }));
    expect(await presented(r)).toBe(mtls.alice.fingerprint256);

    // The operator writes bob and asks for him at once: no probe steers that load.
    emulator.putSecret(SECRET, bundle(mtls.bob));
    expect((await r.refresh()).fingerprint256).toBe(mtls.bob.fingerprint256);
    // The next probe's read and the load it starts both meet a replica still on alice's version.
    emulator.fail({ kind: 'stale', operation: 'GetSecretValue', times: 2 });
    await until(
      () => emulator.log.calls().filter((c) => c.fault === 'stale').length === 2,
      'the two lagging reads',
    );
    await moreCalls('GetSecretValue', 3, 'three more probes');
    expect(rotated).toEqual([mtls.bob.fingerprint256]);
    expect(await presented(r)).toBe(mtls.bob.fingerprint256);
  });

  it.each([
    ['read before', true],
    ['never read', false],
  ])(
    'a rollback (to a version %s) picked up by refresh() stays: the next probes confirm it without switching back',
    async (_, readBefore) => {
      const v1 = emulator.secrets.get(SECRET, { label: 'AWSCURRENT' });
      if (!readBefore) emulator.putSecret(SECRET, bundle(mtls.bob));
      const { r, rotated } = pollingResolver();
      if (readBefore) {
        expect(await presented(r)).toBe(mtls.alice.fingerprint256);
        emulator.putSecret(SECRET, bundle(mtls.bob));
        expect((await r.refresh()).fingerprint256).toBe(mtls.bob.fingerprint256);
      } else {
        expect(await presented(r)).toBe(mtls.bob.fingerprint256);
      }

      emulator.secrets.moveLabel(SECRET, 'AWSCURRENT', { to: v1?.id });
      expect((await r.refresh()).fingerprint256).toBe(mtls.alice.fingerprint256);
      await moreCalls('DescribeSecret', 4, 'four more probes');
      expect(rotated).toEqual(
        readBefore ? [mtls.bob.fingerprint256, mtls.alice.fingerprint256] : [mtls.alice.fingerprint256],
      );
      expect(await presented(r)).toBe(mtls.alice.fingerprint256);
    },
  );

  it('keeps serving the last good credential while Secrets Manager throttles, then recovers', async () => {
    resolver = createTlsResolver({ source: source(), backoff: { initialMs: 20, maxMs: 50 } });
    expect(await presented(resolver)).toBe(mtls.alice.fingerprint256);

    const failures: RefreshFailedEvent[] = [];
    resolver.on('refreshFailed', (e) => failures.push(e));
    const throttle = emulator.fail({
      kind: 'throttled',
      operation: 'GetSecretValue',
      times: Number.POSITIVE_INFINITY,
    });
    emulator.putSecret(SECRET, bundle(mtls.bob));
    await resolver.refresh().catch(() => undefined);

    await until(() => failures.length > 0, 'a refreshFailed event');
    expect(failures[0]?.error).toBeInstanceOf(MtlsError);
    expect(failures[0]?.error.code).toBe('THROTTLED');
    expect(failures[0]?.stale).toBe(true);
    expect(await presented(resolver)).toBe(mtls.alice.fingerprint256);

    throttle.clear();
    await until(
      () => resolver?.health().fingerprint256 === mtls.bob.fingerprint256,
      'recovery after the throttling ends',
    );
    expect(await presented(resolver)).toBe(mtls.bob.fingerprint256);
  });
});
