// End to end: a resolver reading Google Secret Manager (the real client, over gRPC and over the REST
// fallback, against the loopback emulator) hands out an agent that makes real mTLS requests, follows a
// rotation done in the store, reads the payload only when GetSecretVersion reports a new version, and
// keeps the last good credential through a damaged read or a disabled newest version.
import {
  createTlsResolver,
  type RefreshFailedEvent,
  type RotatedEvent,
  type TlsResolver,
} from '@mtlskit/core';
import { type GcpClientOptions, gcpSecretManagerSource } from '@mtlskit/gcp';
import { type GcpSecretManagerEmulator, startGcpSecretManagerEmulator } from '@mtlskit/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { until, useMtlsFixture } from '../support/e2e.js';

const NAME = 'projects/mtlskit-test/secrets/payments-mtls';

/** The emulator's calls as `OPERATION VERSION` (the version segment asked for), either transport. */
const asked = () =>
  emulator.log.calls().map((c) => {
    const name = (c.body as { name?: unknown } | undefined)?.name;
    return `${c.operation} ${/\/versions\/([^/:?]+)/.exec(typeof name === 'string' ? name : c.path)?.[1]}`;
  });

const mtls = useMtlsFixture();
const { bundle, presented } = mtls;
let emulator: GcpSecretManagerEmulator;
let resolver: TlsResolver | undefined;

describe.each(['grpc', 'rest'] as const)('a resolver over Google Secret Manager (%s)', (transport) => {
  function source() {
    const clientOptions = emulator.clientOptions(transport) as GcpClientOptions;
    return gcpSecretManagerSource({ name: NAME, transport, clientOptions, timeoutMs: 2_000 });
  }

  function pollingResolver(): TlsResolver {
    resolver = createTlsResolver({ source: source(), refreshIntervalMs: 40, jitter: 0 });
    return resolver;
  }

  beforeEach(async () => {
    emulator = await startGcpSecretManagerEmulator();
    emulator.putSecret(NAME, bundle(mtls.alice));
  });
  afterEach(async () => {
    await resolver?.close();
    resolver = undefined;
    await emulator.close();
  });

  it('loads the credential and makes a real mTLS request with it', async () => {
    resolver = createTlsResolver({ source: source() });
    expect(await presented(resolver)).toBe(mtls.alice.fingerprint256);
    expect(mtls.server.requests.at(-1)?.authorized).toBe(true);
    // latest, then whether the secret has the alias `current` of a staged renewal to follow instead.
    expect(asked()).toEqual(['AccessSecretVersion latest', 'AccessSecretVersion current']);
  });

  it('probes with GetSecretVersion, reads the payload only on a new version, and presents it on new connections', async () => {
    const r = pollingResolver();
    expect(await presented(r)).toBe(mtls.alice.fingerprint256);
    await until(() => emulator.log.count({ operation: 'GetSecretVersion' }) >= 4, 'four probes');
    expect(emulator.log.count({ operation: 'AccessSecretVersion' })).toBe(2);
    // A version already checked costs one metadata read per probe.
    expect(new Set(asked().filter((a) => a.startsWith('GetSecretVersion')))).toEqual(
      new Set(['GetSecretVersion latest']),
    );

    const rotated = new Promise<RotatedEvent>((resolve) => r.once('rotated', resolve));
    emulator.putSecret(NAME, bundle(mtls.bob));
    const event = await rotated;
    expect(event).toMatchObject({
      previousFingerprint256: mtls.alice.fingerprint256,
      fingerprint256: mtls.bob.fingerprint256,
    });
    // The new version: one more probe call (no alias?), then one read.
    expect(asked().join(', ')).toContain(
      'GetSecretVersion latest, GetSecretVersion current, AccessSecretVersion latest',
    );
    expect(emulator.log.count({ operation: 'AccessSecretVersion' })).toBe(3);
    expect(await presented(r)).toBe(mtls.bob.fingerprint256);
    const [before, after] = mtls.server.requests.slice(-2);
    expect(after?.sessionReused).toBe(false);
    expect(after?.connectionId).not.toBe(before?.connectionId);
  });

  it('keeps the last good credential through a damaged read, then rotates once a read is intact', async () => {
    const r = pollingResolver();
    const failures: RefreshFailedEvent[] = [];
    r.on('refreshFailed', (e) => failures.push(e));
    expect(await presented(r)).toBe(mtls.alice.fingerprint256);

    emulator.fail({ kind: 'corrupt', times: 1 });
    const rotated = new Promise<RotatedEvent>((resolve) => r.once('rotated', resolve));
    emulator.putSecret(NAME, bundle(mtls.bob));
    await until(() => failures.length > 0, 'the damaged read to fail');
    expect(failures[0]?.error).toMatchObject({ code: 'INTEGRITY_FAILED' });
    expect(await presented(r)).toBe(mtls.alice.fingerprint256);
    expect((await rotated).fingerprint256).toBe(mtls.bob.fingerprint256);
    expect(await presented(r)).toBe(mtls.bob.fingerprint256);
  });

  it('keeps serving when the newest version is disabled, and picks up the next one', async () => {
    const r = pollingResolver();
    const failures: RefreshFailedEvent[] = [];
    r.on('refreshFailed', (e) => failures.push(e));
    expect(await presented(r)).toBe(mtls.alice.fingerprint256);

    emulator.putSecret(NAME, bundle(mtls.bob), { state: 'DISABLED' });
    await until(() => failures.length > 0, 'a refresh to fail on the disabled version');
    expect(failures[0]?.error).toMatchObject({ code: 'SOURCE_NOT_FOUND' });
    expect(failures[0]?.error.message).toMatch(/version 2 of .* is DISABLED/);
    expect(await presented(r)).toBe(mtls.alice.fingerprint256);

    const rotated = new Promise<RotatedEvent>((resolve) => r.once('rotated', resolve));
    emulator.setState(NAME, 2, 'ENABLED');
    expect((await rotated).fingerprint256).toBe(mtls.bob.fingerprint256);
    expect(await presented(r)).toBe(mtls.bob.fingerprint256);
  });
});
