// The renewal capabilities of the AWS source (storePending, loadPending, promote, rollback) over the
// real SDK against the emulator: which labels move, what is refused before any call, and errors.
import { MtlsError } from '@mtlskit/core';
import { type IssuedCert, leakCheck, TestCA } from '@mtlskit/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type AwsHarness, startAwsHarness } from './__tests__/harness.js';

let aws: AwsHarness;
let alice: IssuedCert;
let bob: IssuedCert;
beforeAll(async () => {
  aws = await startAwsHarness();
  const ca = await TestCA.create();
  alice = await ca.issueClient({ commonName: 'alice' });
  bob = await ca.issueClient({ commonName: 'bob' });
});
afterAll(async () => {
  await aws?.close();
});
afterEach(() => {
  aws.emulator.faults.clear();
  aws.emulator.log.clear();
});

const bundleOf = (c: IssuedCert) => JSON.stringify({ cert: c.certPem, key: c.keyPem });
const holder = (name: string, label: string) => aws.emulator.secrets.get(name, { label })?.id;

describe('AWS staged renewal', () => {
  it('stores a pending version beside the current one, which load() and version() keep reading', async () => {
    const current = aws.emulator.putSecret('r1', bundleOf(alice)).id;
    const source = aws.source({ secretId: 'r1' });
    const before = await source.version();
    const { version } = await source.storePending({ cert: bob.certPem, key: bob.keyPem });
    expect(holder('r1', 'AWSPENDING')).toBe(version);
    expect(holder('r1', 'AWSCURRENT')).toBe(current);
    expect(await source.version()).toBe(before);
    expect((await source.load()).bundle).toContain(alice.certPem.split('\n')[1]);
    const pending = await source.loadPending();
    expect(pending.version).toBe(version);
    expect(JSON.parse(String(pending.bundle))).toEqual({ cert: bob.certPem, key: bob.keyPem });
    // A second storePending moves the label: one pending version at a time.
    const again = await source.storePending({ key: bob.keyPem });
    expect(holder('r1', 'AWSPENDING')).toBe(again.version);
    expect(aws.emulator.secrets.get('r1', { versionId: version })?.labels).toEqual([]);
  });

  it('promotes exactly the pending version asked for, and rolls back to AWSPREVIOUS (twice: back and forth)', async () => {
    const old = aws.emulator.putSecret('r2', bundleOf(alice)).id;
    const source = aws.source({ secretId: 'r2' });
    const { version } = await source.storePending({ cert: bob.certPem, key: bob.keyPem });
    const stale = await source.promote('another-version').catch((e: unknown) => e);
    expect(MtlsError.is(stale, 'SOURCE_NOT_FOUND')).toBe(true);
    expect((stale as MtlsError).message).toMatch(`version ${version} pending, not another-version`);
    expect(holder('r2', 'AWSCURRENT')).toBe(old);
    expect(aws.emulator.log.operations()).not.toContain('UpdateSecretVersionStage');

    expect(await source.promote(version)).toEqual({ current: version, previous: old });
    expect(holder('r2', 'AWSCURRENT')).toBe(version);
    expect(holder('r2', 'AWSPREVIOUS')).toBe(old);
    expect(holder('r2', 'AWSPENDING')).toBeUndefined();
    expect((await source.load()).version).toBe(version);
    const none = await source.loadPending().catch((e: unknown) => e);
    expect(MtlsError.is(none, 'SOURCE_NOT_FOUND')).toBe(true);
    expect((none as MtlsError).message).toMatch(/no pending version \(AWSPENDING\).*renew start/);

    expect(await source.rollback()).toEqual({ current: old, previous: version });
    expect(holder('r2', 'AWSCURRENT')).toBe(old);
    expect(holder('r2', 'AWSPREVIOUS')).toBe(version);
    expect(await source.rollback()).toEqual({ current: version, previous: old });
  });

  it('refuses promote without a pending version and rollback without a previous one', async () => {
    aws.emulator.putSecret('r3', bundleOf(alice));
    const source = aws.source({ secretId: 'r3' });
    const promote = await source.promote('v').catch((e: unknown) => e);
    expect(MtlsError.is(promote, 'SOURCE_NOT_FOUND')).toBe(true);
    expect((promote as MtlsError).message).toMatch(/no pending version/);
    const rollback = await source.rollback().catch((e: unknown) => e);
    expect(MtlsError.is(rollback, 'SOURCE_NOT_FOUND')).toBe(true);
    expect((rollback as MtlsError).message).toMatch(/no previous version \(AWSPREVIOUS\)/);
  });

  it.each([
    [{ secrets: { cert: 'f/cert', key: 'f/key' } }, /not one secret per field/],
    [{ secretId: 'r4', secrets: { ca: 'r4/ca' } }, /not one secret per field/],
    [{ secretId: 'r4', versionId: 'v1' }, /not the fixed version v1/],
    [{ secretId: 'r4', versionStage: 'AWSPENDING' }, /not the staging label AWSPENDING/],
  ])('refuses renewal on %j before any call (INVALID_OPTION)', async (options, message) => {
    const source = aws.source(options);
    for (const step of [
      () => source.storePending({ key: alice.keyPem }),
      () => source.loadPending(),
      () => source.promote('v'),
      () => source.rollback(),
    ]) {
      const err = await step().catch((e: unknown) => e);
      expect(MtlsError.is(err, 'INVALID_OPTION')).toBe(true);
      expect((err as MtlsError).message).toMatch(message);
    }
    expect(aws.emulator.log.operations()).toEqual([]);
  });

  it('maps a refused label move to ACCESS_DENIED, leaving the labels as they were, and leaks nothing', async () => {
    const old = aws.emulator.putSecret('r5', bundleOf(alice)).id;
    const source = aws.source({ secretId: 'r5' });
    const { version } = await source.storePending({ cert: bob.certPem, key: bob.keyPem });
    aws.emulator.fail({ kind: 'denied', operation: 'UpdateSecretVersionStage' });
    const err = await source.promote(version).catch((e: unknown) => e);
    expect(MtlsError.is(err, 'ACCESS_DENIED')).toBe(true);
    expect((err as MtlsError).message).toContain('"r5"');
    expect(holder('r5', 'AWSCURRENT')).toBe(old);
    expect(holder('r5', 'AWSPENDING')).toBe(version);
    leakCheck([alice.keyPem, bob.keyPem]).check(err, 'promote error');
  });
});
