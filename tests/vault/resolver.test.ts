// End to end: a resolver reading Vault KV (the real node-vault client against the loopback emulator)
// hands out an agent that makes real mTLS requests, follows a rotation written to Vault, probes with
// KV v2 metadata so the secret is read only when its version changed, and keeps working while its
// AppRole token expires under it: the source logs in again before the token ends, without one failed
// request.
import {
  createTlsResolver,
  type RefreshFailedEvent,
  type RotatedEvent,
  type TlsResolver,
} from '@mtlskit/core';
import { startVaultEmulator, type VaultEmulator } from '@mtlskit/testkit';
import { type VaultAuth, vaultSource } from '@mtlskit/vault';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { until, useMtlsFixture } from '../support/e2e.js';

const PATH = 'secret/payments/mtls';
const SECRET_ID = 'e2e-secret-id-4f9a1c';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const mtls = useMtlsFixture();
const { fields, presented } = mtls;
let emulator: VaultEmulator;
let resolver: TlsResolver | undefined;

function source(auth: VaultAuth = { method: 'token', token: emulator.rootToken, renew: false }) {
  return vaultSource({ path: PATH, endpoint: emulator.url, auth, timeoutMs: 2_000 });
}

beforeEach(async () => {
  emulator = await startVaultEmulator();
  emulator.putSecret(PATH, fields(mtls.alice));
});
afterEach(async () => {
  await resolver?.close();
  resolver = undefined;
  await emulator.close();
});

describe('a resolver over Vault KV', () => {
  it('loads the credential from Vault and makes a real mTLS request with it', async () => {
    resolver = createTlsResolver({ source: source() });
    expect(await presented(resolver)).toBe(mtls.alice.fingerprint256);
    expect(mtls.server.requests.at(-1)?.authorized).toBe(true);
    expect(emulator.log.operations()).toEqual(['DetectMount', 'ReadSecret']);
  });

  it('presents the new certificate on the next connection after a new version is written', async () => {
    resolver = createTlsResolver({ source: source() });
    const rotated: RotatedEvent[] = [];
    resolver.on('rotated', (e) => rotated.push(e));
    expect(await presented(resolver)).toBe(mtls.alice.fingerprint256);

    emulator.putSecret(PATH, fields(mtls.bob));
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

  it('probes KV v2 metadata and reads the secret only when its version changed', async () => {
    resolver = createTlsResolver({ source: source(), refreshIntervalMs: 40, jitter: 0 });
    expect(await presented(resolver)).toBe(mtls.alice.fingerprint256);
    await until(() => emulator.log.count({ operation: 'ReadMetadata' }) >= 4, 'four probes');
    expect(emulator.log.count({ operation: 'ReadSecret' })).toBe(1);

    const rotated = new Promise<RotatedEvent>((resolve) => resolver?.once('rotated', resolve));
    emulator.putSecret(PATH, fields(mtls.bob));
    expect((await rotated).fingerprint256).toBe(mtls.bob.fingerprint256);
    expect(emulator.log.count({ operation: 'ReadSecret' })).toBe(2);
    expect(await presented(resolver)).toBe(mtls.bob.fingerprint256);
  });

  it('keeps refreshing while its AppRole token reaches its max TTL: new logins, no failed request', async () => {
    const { roleId } = emulator.addAppRole('payments', {
      secretIds: [SECRET_ID],
      tokenTtl: 2,
      tokenMaxTtl: 3,
    });
    resolver = createTlsResolver({
      source: source({ method: 'approle', roleId, secretId: SECRET_ID }),
      refreshIntervalMs: 100,
      jitter: 0,
    });
    const failures: RefreshFailedEvent[] = [];
    resolver.on('refreshFailed', (e) => failures.push(e));
    expect(await presented(resolver)).toBe(mtls.alice.fingerprint256);

    // Three token lifetimes of continuous probes and mTLS requests, and a rotation on the way.
    const requests = mtls.flow(resolver, { workers: 1, path: '/whoami', pauseMs: 50 });
    await sleep(3_500);
    emulator.putSecret(PATH, fields(mtls.bob));
    await sleep(3_500);
    await requests.stop();
    expect(await presented(resolver)).toBe(mtls.bob.fingerprint256);

    const logins = emulator.log.count({ operation: 'AppRoleLogin' });
    expect(logins).toBeGreaterThanOrEqual(3);
    const tokens = new Set(
      emulator.log.calls({ operation: 'ReadMetadata' }).map((c) => c.headers['x-vault-token']),
    );
    expect(tokens.size).toBeGreaterThanOrEqual(3);
    // Not one call Vault refused, not one refresh failed, every mTLS request answered.
    expect(emulator.log.calls().filter((c) => c.status !== 200)).toEqual([]);
    expect(failures).toEqual([]);
    expect(requests.failures).toEqual([]);
    expect(requests.sent).toBeGreaterThan(30);
  });

  it('a token that dies early (revoked) is replaced by one login, and the refresh does not fail', async () => {
    const { roleId } = emulator.addAppRole('payments', { secretIds: [SECRET_ID], tokenTtl: 600 });
    resolver = createTlsResolver({
      source: source({ method: 'approle', roleId, secretId: SECRET_ID }),
      refreshIntervalMs: 60_000,
      jitter: 0,
    });
    const failures: RefreshFailedEvent[] = [];
    resolver.on('refreshFailed', (e) => failures.push(e));
    expect(await presented(resolver)).toBe(mtls.alice.fingerprint256);
    emulator.revokeToken(String(emulator.log.last({ operation: 'ReadSecret' })?.headers['x-vault-token']));
    emulator.putSecret(PATH, fields(mtls.bob));
    await resolver.refresh();
    expect(await presented(resolver)).toBe(mtls.bob.fingerprint256);
    expect(emulator.log.count({ operation: 'AppRoleLogin' })).toBe(2);
    expect(failures).toEqual([]);
  });
});
