// The renewal capabilities of the Key Vault source (storePending, loadPending, promote, rollback) with
// the real SecretClient against the emulator: where the pending version lives (the companion secret
// NAME-mtlskit-pending, since Key Vault refuses every read of a disabled version), what promote and
// rollback write and tag, what load()/version() cost throughout, every refusal, and no leaks.
import { MtlsError } from '@mtlskit/core';
import { type IssuedCert, leakCheck, TestCA } from '@mtlskit/testkit';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type AzureHarness, startAzureHarness, TEST_TOKEN } from './__tests__/harness.js';
import { PENDING_SUFFIX, TAG_COPY_OF, TAG_PENDING_OF, TAG_PREVIOUS, TAG_PROMOTED_TO } from './source.js';

let kv: AzureHarness;
let alice: IssuedCert;
let bob: IssuedCert;
beforeAll(async () => {
  const ca = await TestCA.create();
  alice = await ca.issueClient({ commonName: 'alice' });
  bob = await ca.issueClient({ commonName: 'bob' });
});
beforeEach(async () => {
  kv = await startAzureHarness();
});
afterEach(async () => {
  await kv.close();
});

const bundleOf = (c: IssuedCert) => JSON.stringify({ cert: c.certPem, key: c.keyPem });
const pendingOf = (name: string) => `${name}${PENDING_SUFFIX}`;
const latest = (name: string) => kv.emulator.secrets.latest(name);
/** The operations the emulator saw since the last call, without the SDK's first challenge. */
function calls(): string[] {
  const ops = kv.emulator.log.operations().filter((o) => o !== 'Challenge');
  kv.emulator.log.clear();
  return ops;
}

async function failure(promise: Promise<unknown>): Promise<MtlsError> {
  const err = await promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
  leakCheck([TEST_TOKEN, alice.keyPem, bob.keyPem]).check(err, 'the error');
  expect(err).toBeInstanceOf(MtlsError);
  return err as MtlsError;
}

describe('Key Vault staged renewal', () => {
  it('stores the pending version in NAME-mtlskit-pending; load() and version() keep reading the secret, one call each', async () => {
    const current = kv.emulator.putSecret('r1', bundleOf(alice)).id;
    const source = kv.source({ name: 'r1' });
    expect(await source.version()).toBe(current);
    calls();

    const { version } = await source.storePending({ cert: bob.certPem, key: bob.keyPem });
    expect(calls()).toEqual(['SetSecret']);
    expect(latest(pendingOf('r1'))).toMatchObject({ id: version, enabled: true });
    expect(kv.emulator.tagsOf(pendingOf('r1'), version)).toEqual({ [TAG_PENDING_OF]: 'r1' });
    // The secret itself is untouched: one version, read as before at the same cost.
    expect(kv.emulator.secrets.describe('r1')?.versions.map((v) => v.id)).toEqual([current]);
    expect(await source.version()).toBe(current);
    expect((await source.load()).bundle).toBe(bundleOf(alice));
    expect(calls()).toEqual(['GetSecret', 'GetSecret']);

    const pending = await source.loadPending();
    expect(calls()).toEqual(['GetSecret']);
    expect(pending.version).toBe(version);
    expect(JSON.parse(String(pending.bundle))).toEqual({ cert: bob.certPem, key: bob.keyPem });
    // A second storePending replaces it: one pending version at a time (the newest).
    const again = await source.storePending({ key: bob.keyPem });
    expect((await source.loadPending()).version).toBe(again.version);
    expect(JSON.parse(String((await source.loadPending()).bundle))).toEqual({ key: bob.keyPem });
  });

  it('promotes exactly the pending version asked for, then rolls back and forth, load() following at one call', async () => {
    const old = kv.emulator.putSecret('r2', bundleOf(alice)).id;
    const source = kv.source({ name: 'r2' });
    const { version } = await source.storePending({ cert: bob.certPem, key: bob.keyPem });
    calls();

    const stale = await failure(source.promote('0'.repeat(32)));
    expect(stale.code).toBe('SOURCE_NOT_FOUND');
    expect(stale.message).toMatch(`version ${version} pending, not ${'0'.repeat(32)}`);
    expect(stale.message).toMatch(/mtlskit check --pending/);
    expect(calls()).toEqual(['GetSecret']);
    expect(latest('r2')?.id).toBe(old);

    const promoted = await source.promote(version);
    expect(calls()).toEqual(['GetSecret', 'GetSecret', 'SetSecret', 'UpdateSecret']);
    const now = latest('r2')!;
    expect(promoted).toEqual({ current: now.id, previous: old });
    expect(now.enabled).toBe(true);
    expect(JSON.parse(String(now.value))).toEqual({ cert: bob.certPem, key: bob.keyPem });
    expect(kv.emulator.tagsOf('r2', now.id)).toEqual({ [TAG_PREVIOUS]: old, [TAG_COPY_OF]: version });
    // The pending version is spent: disabled, and tagged with what it became.
    expect(kv.emulator.secrets.get(pendingOf('r2'), { versionId: version })?.enabled).toBe(false);
    expect(kv.emulator.tagsOf(pendingOf('r2'), version)).toEqual({
      [TAG_PENDING_OF]: 'r2',
      [TAG_PROMOTED_TO]: now.id,
    });
    const none = await failure(source.loadPending());
    expect(none.code).toBe('SOURCE_NOT_FOUND');
    expect(none.message).toMatch(
      /no pending version \(the last one, in "r2-mtlskit-pending", was promoted\).*renew start/,
    );
    const again = await failure(source.promote(version));
    expect(again.message).toMatch(`no pending version, so version ${version} cannot be promoted`);
    calls();
    expect((await source.load()).version).toBe(now.id);
    expect(await source.version()).toBe(now.id);
    expect(calls()).toEqual(['GetSecret', 'GetSecret']);

    const back = await source.rollback();
    expect(calls()).toEqual(['GetSecret', 'GetSecret', 'SetSecret']);
    const restored = latest('r2')!;
    expect(back).toEqual({ current: restored.id, previous: now.id });
    expect(restored.value).toBe(bundleOf(alice));
    expect(kv.emulator.tagsOf('r2', restored.id)).toEqual({ [TAG_PREVIOUS]: now.id, [TAG_COPY_OF]: old });
    expect((await source.load()).bundle).toBe(bundleOf(alice));
    // A second rollback returns to the promoted content, like AWS's AWSPREVIOUS swap.
    const forth = await source.rollback();
    expect(forth.previous).toBe(restored.id);
    expect(JSON.parse(String(latest('r2')!.value))).toEqual({ cert: bob.certPem, key: bob.keyPem });
    // Every version of the secret stayed enabled: any reader of the newest version gets the current one.
    expect(kv.emulator.secrets.describe('r2')?.versions.every((v) => v.enabled)).toBe(true);
  });

  it('refuses promote without a pending version and rollback without a previous one, writing nothing', async () => {
    kv.emulator.putSecret('r3', bundleOf(alice));
    const source = kv.source({ name: 'r3' });
    const promote = await failure(source.promote('a'.repeat(32)));
    expect(promote.code).toBe('SOURCE_NOT_FOUND');
    expect(promote.message).toMatch(/no pending version, so version a+ cannot be promoted/);
    const pending = await failure(source.loadPending());
    expect(pending.message).toMatch(
      /no pending version \(no secret "r3-mtlskit-pending"\) — start a renewal first/,
    );
    const rollback = await failure(source.rollback());
    expect(rollback.code).toBe('SOURCE_NOT_FOUND');
    expect(rollback.message).toMatch(/no previous version to return to .*mtlskit-previous.*renew promote/);
    // A previous version purged since: said so.
    kv.emulator.putSecret('r3', bundleOf(bob), { tags: { [TAG_PREVIOUS]: 'f'.repeat(32) } });
    const purged = await failure(source.rollback());
    expect(purged.code).toBe('SOURCE_NOT_FOUND');
    expect(purged.message).toMatch(/no version f+ to return to/);
    expect(kv.emulator.log.operations()).not.toContain('SetSecret');
    expect(kv.emulator.log.operations()).not.toContain('UpdateSecret');
  });

  it('renews a secret that does not exist yet (a first issue): promote creates it, with nothing to roll back to', async () => {
    const source = kv.source({ name: 'first' });
    const { version } = await source.storePending({ cert: bob.certPem, key: bob.keyPem });
    const promoted = await source.promote(version);
    expect(promoted).toEqual({ current: latest('first')!.id });
    expect((await source.load()).bundle).toBe(JSON.stringify({ cert: bob.certPem, key: bob.keyPem }));
    expect((await failure(source.rollback())).code).toBe('SOURCE_NOT_FOUND');
  });

  it.each([
    [{ name: 'r4', version: 'b'.repeat(32) }, /not the fixed version b+: drop the version/],
    [{ name: 'n'.repeat(112) }, /longer than Key Vault's 127 characters.*at most 111/],
  ])('refuses renewal on %j before any call (INVALID_OPTION)', async (options, message) => {
    const source = kv.source(options);
    for (const step of [
      () => source.storePending({ key: alice.keyPem }),
      () => source.loadPending(),
      () => source.promote('v'),
      () => source.rollback(),
    ]) {
      const err = await failure(step());
      expect(err.code).toBe('INVALID_OPTION');
      expect(err.message).toMatch(message);
    }
    expect(kv.emulator.log.count()).toBe(0);
  });

  it('refuses to renew the secret behind a Key Vault certificate, pointing to Key Vault’s own flow', async () => {
    await kv.emulator.importCertificate('kvcert', alice);
    const source = kv.source({ name: 'kvcert' });
    await source.load();
    const err = await failure(source.storePending({ key: bob.keyPem }));
    expect(err.code).toBe('INVALID_OPTION');
    expect(err.message).toMatch(
      /secret behind a Key Vault certificate.*az keyvault certificate pending merge/,
    );
    // Another source (no load before): the promotion refuses before writing.
    const other = kv.source({ name: 'kvcert' });
    const { version } = await other.storePending({ cert: bob.certPem, key: bob.keyPem });
    const promote = await failure(other.promote(version));
    expect(promote.code).toBe('INVALID_OPTION');
    expect(kv.emulator.secrets.describe('kvcert')?.versions).toHaveLength(1);
  });

  it('finishes a promotion cut short after its write, without writing again; denials are ACCESS_DENIED', async () => {
    const old = kv.emulator.putSecret('r5', bundleOf(alice)).id;
    const source = kv.source({ name: 'r5' });
    const { version } = await source.storePending({ cert: bob.certPem, key: bob.keyPem });
    kv.emulator.fail({ kind: 'denied', operation: 'UpdateSecret' });
    const err = await failure(source.promote(version));
    expect(err.code).toBe('ACCESS_DENIED');
    expect(err.message).toMatch(
      /not allowed to update secret "r5-mtlskit-pending".*Key Vault Secrets Officer/,
    );
    const written = latest('r5')!.id;
    expect(written).not.toBe(old);
    calls();
    expect(await source.promote(version)).toEqual({ current: written, previous: old });
    expect(calls()).toEqual(['GetSecret', 'GetSecret', 'UpdateSecret']);
    expect(kv.emulator.secrets.describe('r5')?.versions).toHaveLength(2);

    kv.emulator.fail({ kind: 'denied', operation: 'SetSecret' });
    const denied = await failure(source.storePending({ key: bob.keyPem }));
    expect(denied.code).toBe('ACCESS_DENIED');
    expect(denied.message).toMatch(/write secret "r5-mtlskit-pending"/);
    expect(String(denied)).not.toContain(TEST_TOKEN);
  });

  it('rejects with the caller’s abort reason, before or during a call', async () => {
    kv.emulator.putSecret('r7', bundleOf(alice));
    const source = kv.source({ name: 'r7' });
    const reason = new Error('stopped by the caller');
    for (const step of [
      (signal: AbortSignal) => source.storePending({ key: bob.keyPem }, { signal }),
      (signal: AbortSignal) => source.loadPending({ signal }),
      (signal: AbortSignal) => source.promote('v', { signal }),
      (signal: AbortSignal) => source.rollback({ signal }),
    ]) {
      await expect(step(AbortSignal.abort(reason))).rejects.toBe(reason);
    }
    kv.emulator.fail({ kind: 'slow', delayMs: 1_000, operation: 'GetSecret' });
    const controller = new AbortController();
    const pending = source.rollback({ signal: controller.signal });
    setTimeout(() => controller.abort(reason), 50);
    await expect(pending).rejects.toBe(reason);
    expect(kv.emulator.log.operations()).not.toContain('SetSecret');
  });

  it('refuses an injected client that cannot update properties, before changing anything it cannot finish', async () => {
    kv.emulator.putSecret('r6', bundleOf(alice));
    const client = kv.client();
    const source = kv.source({
      name: 'r6',
      client: { getSecret: client.getSecret.bind(client), setSecret: client.setSecret.bind(client) },
      credential: undefined,
    });
    const { version } = await source.storePending({ key: bob.keyPem });
    calls();
    const err = await failure(source.promote(version));
    expect(err.code).toBe('INVALID_OPTION');
    expect(err.message).toMatch(/cannot update secret properties/);
    expect(calls()).toEqual([]);
  });
});
