// The renewal capabilities of the Vault KV source (storePending, loadPending, promote, rollback) over
// the real node-vault client against the emulator: which custom_metadata marks move, that load() and
// version() follow `mtlskit-current` (and what each costs in Vault calls), what is refused, races
// found by reading the marks back, and errors that leak neither keys nor the token.
import { loadCredentials, MtlsError } from '@mtlskit/core';
import { type IssuedCert, leakCheck, TestCA } from '@mtlskit/testkit';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ROOT_TOKEN, sleep, startVaultHarness, until, type VaultHarness } from './__tests__/harness.js';

let alice: IssuedCert;
let bob: IssuedCert;
let carol: IssuedCert;
let vault: VaultHarness;

beforeAll(async () => {
  const ca = await TestCA.create();
  alice = await ca.issueClient({ commonName: 'alice' });
  bob = await ca.issueClient({ commonName: 'bob' });
  carol = await ca.issueClient({ commonName: 'carol' });
});
beforeEach(async () => {
  vault = await startVaultHarness({ mounts: [{ path: 'secret' }, { path: 'kv1', version: 1 }] });
});
afterEach(() => vault.close());

const fields = (cert: IssuedCert) => ({ cert: cert.certPem, key: cert.keyPem });
const fingerprint = async (material: Parameters<typeof loadCredentials>[0]) =>
  (await loadCredentials(material)).fingerprint256;
const marks = (path: string) => vault.emulator.customMetadata(path);

async function rejection(promise: Promise<unknown>): Promise<MtlsError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!MtlsError.is(err)) throw new Error(`expected an MtlsError, got ${String(err)}`);
  leakCheck([alice.keyPem, bob.keyPem, carol.keyPem, ROOT_TOKEN]).check(err, 'the error');
  return err;
}

describe('Vault KV staged renewal', () => {
  it('stores a pending version beside the current one, which load() and version() keep reading', async () => {
    vault.emulator.putSecret('secret/r1', { ...fields(alice), note: 'kept' });
    const source = vault.source({ path: 'secret/r1', kv: 2 });
    expect(await source.version()).toBe('1');

    const { version } = await source.storePending({ key: bob.keyPem });
    expect(version).toBe('2');
    expect(marks('secret/r1')).toEqual({ 'mtlskit-current': '1', 'mtlskit-pending': '2' });
    // The pending version holds the new key alone (and the secret's other fields).
    const stored = vault.emulator.secrets.describe('secret/r1')!.versions[1]!;
    expect(JSON.parse(String(stored.value))).toEqual({ key: bob.keyPem, note: 'kept' });
    expect(await source.version()).toBe('1');
    const current = await source.load();
    expect(current.version).toBe('1');
    expect(await fingerprint(current)).toBe(alice.fingerprint256);

    const pending = await source.loadPending();
    expect(pending).toMatchObject({ version: '2', key: bob.keyPem });
    expect(pending.cert).toBeUndefined();

    // complete: key and certificate, as a new pending version; the current one is untouched.
    const completed = await source.storePending(fields(bob));
    expect(completed.version).toBe('3');
    expect(marks('secret/r1')).toEqual({ 'mtlskit-current': '1', 'mtlskit-pending': '3' });
    expect(await fingerprint(await source.loadPending())).toBe(bob.fingerprint256);
    expect((await source.load()).version).toBe('1');
    leakCheck([alice.keyPem, bob.keyPem, ROOT_TOKEN]).check(source, 'the source');
  });

  it('costs one data read per load for a secret never renewed, and once the current version is known', async () => {
    vault.emulator.putSecret('secret/r2', fields(alice));
    const reader = vault.source({ path: 'secret/r2', kv: 2 });
    await reader.load();
    await reader.load();
    await reader.version();
    expect(vault.emulator.log.operations()).toEqual(['ReadSecret', 'ReadSecret', 'ReadMetadata']);
    expect(vault.emulator.log.calls().map((c) => c.path)).toEqual([
      '/v1/secret/data/r2',
      '/v1/secret/data/r2',
      '/v1/secret/metadata/r2',
    ]);

    const renewer = vault.source({ path: 'secret/r2', kv: 2 });
    await renewer.storePending(fields(bob));
    vault.emulator.log.clear();
    // The latest version is the pending one: the first load reads it, sees the mark, reads version 1.
    expect((await reader.load()).version).toBe('1');
    expect(vault.emulator.log.calls().map((c) => c.path)).toEqual([
      '/v1/secret/data/r2',
      '/v1/secret/data/r2?version=1',
    ]);
    vault.emulator.log.clear();
    // From then on, the marked version is asked for directly: one call again.
    expect(await fingerprint(await reader.load())).toBe(alice.fingerprint256);
    expect(vault.emulator.log.calls().map((c) => c.path)).toEqual(['/v1/secret/data/r2?version=1']);

    await renewer.promote('2');
    vault.emulator.log.clear();
    // The mark moved: the hinted read shows it, and the marked version is read (two calls, once).
    expect(await fingerprint(await reader.load())).toBe(bob.fingerprint256);
    expect(await reader.version()).toBe('2');
    expect((await reader.load()).version).toBe('2');
    expect(vault.emulator.log.calls().map((c) => c.path)).toEqual([
      '/v1/secret/data/r2?version=1',
      '/v1/secret/data/r2?version=2',
      '/v1/secret/metadata/r2',
      '/v1/secret/data/r2?version=2',
    ]);
  });

  it('spends the documented Vault calls on each renewal step', async () => {
    vault.emulator.putSecret('secret/calls', fields(alice));
    const source = vault.source({ path: 'secret/calls', kv: 2 });
    const step = async (run: () => Promise<unknown>) => {
      vault.emulator.log.clear();
      await run();
      return vault.emulator.log.operations();
    };
    const marking = ['WriteMetadata', 'ReadMetadata'];
    // The first start also marks the current version before writing the pending one.
    expect(await step(() => source.storePending({ key: bob.keyPem }))).toEqual([
      'ReadMetadata',
      'ReadSecret',
      ...marking,
      'WriteSecret',
      'ReadMetadata',
      ...marking,
    ]);
    expect(await step(() => source.storePending(fields(bob)))).toEqual([
      'ReadMetadata',
      'ReadSecret',
      'WriteSecret',
      'ReadMetadata',
      ...marking,
    ]);
    expect(await step(() => source.loadPending())).toEqual(['ReadMetadata', 'ReadSecret']);
    expect(await step(() => source.promote('3'))).toEqual(['ReadMetadata', ...marking]);
    expect(await step(() => source.rollback())).toEqual(['ReadMetadata', ...marking]);
  });

  it('promotes exactly the pending version asked for, and rolls back (twice: back and forth)', async () => {
    vault.emulator.putSecret('secret/r3', fields(alice));
    const source = vault.source({ path: 'secret/r3', kv: 2 });
    const { version } = await source.storePending(fields(bob));
    const writes = () => vault.emulator.log.count({ operation: 'WriteMetadata' });
    const before = writes();
    const stale = await rejection(source.promote('7'));
    expect(stale.code).toBe('SOURCE_NOT_FOUND');
    expect(stale.message).toMatch(`version ${version} pending, not 7 (another renewal replaced it)`);
    expect(writes()).toBe(before);

    expect(await source.promote(version)).toEqual({ current: '2', previous: '1' });
    expect(marks('secret/r3')).toEqual({ 'mtlskit-current': '2', 'mtlskit-previous': '1' });
    expect(await source.version()).toBe('2');
    expect(await fingerprint(await source.load())).toBe(bob.fingerprint256);
    const none = await rejection(source.loadPending());
    expect(none.code).toBe('SOURCE_NOT_FOUND');
    expect(none.message).toMatch(/no pending version \(custom_metadata mtlskit-pending\).*renew start/);
    expect((await rejection(source.promote(version))).message).toMatch(/no pending version/);

    expect(await source.rollback()).toEqual({ current: '1', previous: '2' });
    expect(marks('secret/r3')).toEqual({ 'mtlskit-current': '1', 'mtlskit-previous': '2' });
    expect(await source.version()).toBe('1');
    expect(await fingerprint(await source.load())).toBe(alice.fingerprint256);
    expect(await source.rollback()).toEqual({ current: '2', previous: '1' });
    expect(await fingerprint(await source.load())).toBe(bob.fingerprint256);
  });

  it('keeps custom_metadata that is not its own, and store() moves the current mark once renewed', async () => {
    vault.emulator.putSecret('secret/r4', fields(alice));
    vault.emulator.setCustomMetadata('secret/r4', { owner: 'payments' });
    const source = vault.source({ path: 'secret/r4', kv: 2 });
    await source.storePending(fields(bob));
    await source.promote('2');
    expect(marks('secret/r4')).toEqual({
      owner: 'payments',
      'mtlskit-current': '2',
      'mtlskit-previous': '1',
    });
    await source.rollback();
    // store() writes a new version and makes it current, with check-and-set against the version loaded.
    const loaded = await source.load();
    expect(loaded.version).toBe('1');
    expect(await source.store(fields(carol), { cas: loaded.version })).toEqual({ version: '3' });
    expect(marks('secret/r4')).toEqual({
      owner: 'payments',
      'mtlskit-current': '3',
      'mtlskit-previous': '1',
    });
    expect(await fingerprint(await source.load())).toBe(carol.fingerprint256);
    const stale = await rejection(source.store(fields(alice), { cas: 1 }));
    expect(stale.code).toBe('SOURCE_UNAVAILABLE');
    expect(stale.retryable).toBe(false);
    expect(stale.message).toMatch(/current version is 3, not 1 given for check-and-set/);

    // A version written by another tool (vault kv put) is not current until the mark names it.
    vault.emulator.putSecret('secret/r4', fields(bob));
    expect(await source.version()).toBe('3');
    expect(await fingerprint(await source.load())).toBe(carol.fingerprint256);
  });

  it('refuses promote without a pending version, rollback without a previous one, and a renewal of nothing', async () => {
    vault.emulator.putSecret('secret/r5', fields(alice));
    const source = vault.source({ path: 'secret/r5', kv: 2 });
    const promote = await rejection(source.promote('2'));
    expect(promote.code).toBe('SOURCE_NOT_FOUND');
    expect(promote.message).toMatch(/no pending version \(custom_metadata mtlskit-pending\), so version 2/);
    const rollback = await rejection(source.rollback());
    expect(rollback.code).toBe('SOURCE_NOT_FOUND');
    expect(rollback.message).toMatch(
      /no previous version \(custom_metadata mtlskit-previous\).*renew promote/,
    );
    expect((await rejection(source.loadPending())).code).toBe('SOURCE_NOT_FOUND');
    expect(vault.emulator.log.count({ operation: 'WriteMetadata' })).toBe(0);

    const absent = vault.source({ path: 'secret/none', kv: 2 });
    const nothing = await rejection(absent.storePending({ key: bob.keyPem }));
    expect(nothing.code).toBe('SOURCE_NOT_FOUND');
    expect(nothing.message).toMatch(/does not exist in Vault — store the current credential first/);
    expect(vault.emulator.secrets.has('secret/none')).toBe(false);
  });

  it('refuses a pending or previous version that was deleted', async () => {
    vault.emulator.putSecret('secret/r6', fields(alice));
    const source = vault.source({ path: 'secret/r6', kv: 2 });
    await source.storePending(fields(bob));
    vault.emulator.deleteSecret('secret/r6', { versions: [2] });
    expect((await rejection(source.loadPending())).message).toMatch(/pending version 2 deleted.*renew start/);
    expect((await rejection(source.promote('2'))).message).toMatch(/pending version 2 deleted/);
    // Readers are not disturbed: the current version is still version 1.
    expect(await fingerprint(await source.load())).toBe(alice.fingerprint256);

    await source.storePending(fields(bob));
    await source.promote('3');
    vault.emulator.deleteSecret('secret/r6', { versions: [1] });
    const back = await rejection(source.rollback());
    expect(back.code).toBe('SOURCE_NOT_FOUND');
    expect(back.message).toMatch(
      /previous version 1 deleted or destroyed — undelete it \(vault kv undelete -versions=1 secret\/r6\)/,
    );
    expect(marks('secret/r6')).toMatchObject({ 'mtlskit-current': '3' });
  });

  it.each([
    [
      { path: 'secret/r7', kv: 2 as const, version: 1 },
      /not the fixed version 1: use the reference without version=/,
    ],
    [{ path: 'kv1/r7', kv: 1 as const }, /needs a KV v2 mount: "kv1" is KV v1/],
  ])('refuses renewal of %j before any call (INVALID_OPTION)', async (options, message) => {
    const source = vault.source(options);
    for (const step of [
      () => source.storePending({ key: alice.keyPem }),
      () => source.loadPending(),
      () => source.promote('2'),
      () => source.rollback(),
    ]) {
      const err = await rejection(step());
      expect(err.code).toBe('INVALID_OPTION');
      expect(err.message).toMatch(message);
    }
    expect(vault.emulator.log.operations()).toEqual([]);
  });

  it('refuses a mark that is not a version number (DECODE_FAILED)', async () => {
    vault.emulator.putSecret('secret/r8', fields(alice));
    vault.emulator.setCustomMetadata('secret/r8', { 'mtlskit-current': 'latest' });
    const source = vault.source({ path: 'secret/r8', kv: 2 });
    for (const step of [() => source.load(), () => source.version(), () => source.rollback()]) {
      const err = await rejection(step());
      expect(err.code).toBe('DECODE_FAILED');
      expect(err.message).toMatch(
        /custom_metadata "mtlskit-current" of vault:\/\/secret\/r8\?kv=2 is "latest", not a version number/,
      );
    }
  });

  it('works with the documented policies: the renewer writes the marks, applications only read', async () => {
    vault.emulator.putSecret('secret/r9', fields(alice));
    const renewerToken = vault.emulator.createToken({
      policy: {
        'secret/data/r9': ['create', 'update', 'read'],
        'secret/metadata/r9': ['read', 'update'],
      },
    });
    const appToken = vault.emulator.createToken({
      policy: { 'secret/data/r9': ['read'], 'secret/metadata/r9': ['read'] },
    });
    const as = (token: string) =>
      vault.source({ path: 'secret/r9', kv: 2, auth: { method: 'token', token, renew: false } });
    const renewer = as(renewerToken);
    const app = as(appToken);
    const { version } = await renewer.storePending(fields(bob));
    expect((await app.load()).version).toBe('1');
    await renewer.promote(version);
    expect(await app.version()).toBe('2');
    expect(await fingerprint(await app.load())).toBe(bob.fingerprint256);
    // The application's token cannot move the marks.
    const denied = await rejection(app.rollback());
    expect(denied.code).toBe('ACCESS_DENIED');
    expect(denied.message).toMatch(/custom_metadata/);
    leakCheck([appToken, renewerToken]).check(denied, 'the denied rollback');
    expect(marks('secret/r9')).toEqual({ 'mtlskit-current': '2', 'mtlskit-previous': '1' });
  });

  it('stores nothing when the marks cannot be written (ACCESS_DENIED before the data write)', async () => {
    vault.emulator.putSecret('secret/r10', fields(alice));
    const token = vault.emulator.createToken({
      policy: { 'secret/data/r10': ['create', 'update', 'read'], 'secret/metadata/r10': ['read'] },
    });
    const source = vault.source({
      path: 'secret/r10',
      kv: 2,
      auth: { method: 'token', token, renew: false },
    });
    const err = await rejection(source.storePending({ key: bob.keyPem }));
    expect(err.code).toBe('ACCESS_DENIED');
    expect(vault.emulator.secrets.describe('secret/r10')!.versions).toHaveLength(1);
    expect(marks('secret/r10')).toBeNull();
  });

  it('finds a change of the marks made while a step ran, by reading them back', async () => {
    vault.emulator.putSecret('secret/r11', fields(alice));
    const source = vault.source({ path: 'secret/r11', kv: 2 });
    await source.storePending(fields(bob));
    // The read-back of promote's write is held while another process moves the marks.
    vault.emulator.fail({ kind: 'slow', operation: 'ReadMetadata', after: 1, delayMs: 300 });
    const promoting = rejection(source.promote('2'));
    await until(
      () => vault.emulator.log.count({ operation: 'WriteMetadata' }) >= 3,
      'promote wrote the marks',
    );
    vault.emulator.setCustomMetadata('secret/r11', { 'mtlskit-current': '1', 'mtlskit-pending': '9' });
    const err = await promoting;
    expect(err.code).toBe('SOURCE_UNAVAILABLE');
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(
      /promoting version 2 of vault:\/\/secret\/r11\?kv=2 raced with another change: the marks read back are mtlskit-current=1, mtlskit-pending=9, not the mtlskit-current=2, mtlskit-previous=1 just written .*run this step again/,
    );

    // A data write between storePending's read and its write fails check-and-set: reported as a race too.
    vault.emulator.setCustomMetadata('secret/r11', { 'mtlskit-current': '1' });
    vault.emulator.fail({ kind: 'slow', operation: 'ReadSecret', delayMs: 1_000 });
    const storing = rejection(source.storePending({ key: carol.keyPem }));
    await sleep(300); // storePending read the metadata, and waits for the current version's data
    vault.emulator.putSecret('secret/r11', fields(carol));
    const raced = await storing;
    expect(raced.message).toMatch(/raced with another change: a new version was written since version 2/);
    expect(marks('secret/r11')).toEqual({ 'mtlskit-current': '1' });
  });

  it('takes its first mark back when another writer wrote a version meanwhile, so that version stays current', async () => {
    vault.emulator.putSecret('secret/r12', fields(alice));
    const source = vault.source({ path: 'secret/r12', kv: 2 });
    vault.emulator.fail({ kind: 'slow', operation: 'ReadSecret', delayMs: 1_000 });
    const storing = rejection(source.storePending({ key: bob.keyPem }));
    await sleep(300);
    vault.emulator.putSecret('secret/r12', fields(carol)); // e.g. `vault kv put` from another process
    const raced = await storing;
    expect(raced.message).toMatch(
      /a new version was written since version 1, so mtlskit-current was removed again/,
    );
    expect(marks('secret/r12')).toEqual({});
    expect(vault.emulator.secrets.describe('secret/r12')!.versions).toHaveLength(2);
    expect(await fingerprint(await source.load())).toBe(carol.fingerprint256);
  });

  it('refuses to start on a Vault without custom_metadata (before 1.9) before writing anything', async () => {
    const old = await startVaultHarness({ withoutCustomMetadata: true });
    try {
      old.emulator.putSecret('secret/legacy', fields(alice));
      const source = old.source({ path: 'secret/legacy', kv: 2 });
      const err = await rejection(source.storePending({ key: bob.keyPem }));
      expect(err.code).toBe('INVALID_OPTION');
      expect(err.message).toMatch(/which this Vault does not return: it needs Vault 1.9 or later/);
      expect(old.emulator.log.operations()).toEqual(['ReadMetadata']);
      expect(await fingerprint(await source.load())).toBe(alice.fingerprint256);
    } finally {
      await old.close();
    }
  });
});
