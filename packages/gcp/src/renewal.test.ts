// The renewal capabilities of the Google source (storePending, loadPending, promote, rollback) with
// the real client over both transports against the emulator: the alias `current` a source reading
// latest follows, the annotations mtlskit-pending / mtlskit-previous, the etag check-and-set, what is
// refused before any call, and errors.
import { MtlsError } from '@mtlskit/core';
import { type IssuedCert, leakCheck, TestCA } from '@mtlskit/testkit';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { askedOf, type GcpHarness, startGcpHarness, TRANSPORTS } from './__tests__/harness.js';
import type { GcpSecretManagerSource, SecretManagerClientLike } from './source.js';

let alice: IssuedCert;
let bob: IssuedCert;
beforeAll(async () => {
  const ca = await TestCA.create();
  alice = await ca.issueClient({ commonName: 'alice' });
  bob = await ca.issueClient({ commonName: 'bob' });
});

const SECRET = 'projects/mtlskit-test/secrets/renew';
const bundleOf = (c: IssuedCert) => JSON.stringify({ cert: c.certPem, key: c.keyPem });
const text = (material: { bundle?: unknown }) => Buffer.from(material.bundle as Uint8Array).toString();

async function rejection(promise: Promise<unknown>): Promise<MtlsError> {
  try {
    await promise;
  } catch (err) {
    if (!MtlsError.is(err)) throw err;
    return err;
  }
  throw new Error('expected a rejection');
}

describe.each(TRANSPORTS)('Google staged renewal over %s', (transport) => {
  let gcp: GcpHarness;
  beforeEach(async () => {
    gcp = await startGcpHarness(transport);
  });
  afterEach(async () => {
    await gcp.close();
  });

  const meta = () => gcp.emulator.metadataOf(SECRET);
  /** A source as an application has it: reading latest. */
  const app = () => gcp.source({ name: SECRET });

  it('stores a pending version after giving the version in use the alias current, which sources reading latest then follow', async () => {
    gcp.emulator.putSecret(SECRET, bundleOf(alice));
    const running = app();
    expect(await running.version()).toBe('1');
    const renewer = app();
    gcp.emulator.log.clear();
    const { version } = await renewer.storePending({ cert: bob.certPem, key: bob.keyPem });
    expect(version).toBe('2');
    expect(gcp.emulator.log.operations()).toEqual([
      'GetSecret',
      'GetSecretVersion', // latest: the version applications use, which gets the alias
      'UpdateSecret',
      'AddSecretVersion',
      'GetSecret',
      'UpdateSecret',
    ]);
    expect(meta()).toMatchObject({
      versionAliases: { current: 1 },
      annotations: { 'mtlskit-pending': '2' },
    });
    // latest is the pending version now; the running source notices it is new and follows the alias.
    gcp.emulator.log.clear();
    expect(await running.version()).toBe('1');
    expect(askedOf(gcp.emulator)).toEqual(['GetSecretVersion latest', 'GetSecretVersion current']);
    gcp.emulator.log.clear();
    expect(await running.version()).toBe('1');
    expect((await running.load()).version).toBe('1');
    expect(askedOf(gcp.emulator)).toEqual(['GetSecretVersion current', 'AccessSecretVersion current']);
    // A source started now reads the alias too.
    const fresh = app();
    const loaded = await fresh.load();
    expect(loaded.version).toBe('1');
    expect(text(loaded)).toContain(alice.certPem.split('\n')[1]);

    const pending = await renewer.loadPending();
    expect(pending.version).toBe('2');
    expect(JSON.parse(text(pending))).toEqual({ cert: bob.certPem, key: bob.keyPem });
    // A second storePending replaces the mark: one pending version at a time; the alias stays.
    const again = await renewer.storePending({ key: bob.keyPem });
    expect(again.version).toBe('3');
    expect(meta()).toMatchObject({
      versionAliases: { current: 1 },
      annotations: { 'mtlskit-pending': '3' },
    });
    expect((await renewer.loadPending()).version).toBe('3');
    expect(await fresh.version()).toBe('1');
  });

  it('promotes exactly the pending version asked for, and rolls back to mtlskit-previous (twice: back and forth)', async () => {
    gcp.emulator.putSecret(SECRET, bundleOf(alice));
    const running = app();
    expect(await running.version()).toBe('1');
    const renewer = app();
    const { version } = await renewer.storePending({ cert: bob.certPem, key: bob.keyPem });
    gcp.emulator.log.clear();
    const stale = await rejection(renewer.promote('7'));
    expect(stale.code).toBe('SOURCE_NOT_FOUND');
    expect(stale.message).toMatch(`version ${version} pending, not 7 (another renewal replaced it)`);
    expect(gcp.emulator.log.operations()).toEqual(['GetSecret']);
    expect(meta().versionAliases).toEqual({ current: 1 });

    expect(await renewer.promote(version)).toEqual({ current: version, previous: '1' });
    expect(meta()).toMatchObject({
      versionAliases: { current: 2 },
      annotations: { 'mtlskit-previous': '1' },
    });
    expect(meta().annotations).not.toHaveProperty('mtlskit-pending');
    expect(await running.version()).toBe('2');
    expect(text(await running.load())).toContain(bob.certPem.split('\n')[1]);
    const none = await rejection(renewer.loadPending());
    expect(none.code).toBe('SOURCE_NOT_FOUND');
    expect(none.message).toMatch(/no pending version \(annotation mtlskit-pending\).*renew start/);

    expect(await renewer.rollback()).toEqual({ current: '1', previous: version });
    expect(meta()).toMatchObject({
      versionAliases: { current: 1 },
      annotations: { 'mtlskit-previous': version },
    });
    expect(await running.version()).toBe('1');
    expect(await renewer.rollback()).toEqual({ current: version, previous: '1' });
    expect(await running.version()).toBe('2');
  });

  it('refuses promote without a pending version and rollback without a previous one', async () => {
    gcp.emulator.putSecret(SECRET, bundleOf(alice));
    const source = app();
    const promote = await rejection(source.promote('1'));
    expect(promote.code).toBe('SOURCE_NOT_FOUND');
    expect(promote.message).toMatch(/no pending version \(annotation mtlskit-pending\), so version 1/);
    const rollback = await rejection(source.rollback());
    expect(rollback.code).toBe('SOURCE_NOT_FOUND');
    expect(rollback.message).toMatch(/no previous version \(annotation mtlskit-previous\).*renew promote/);
    expect(gcp.emulator.log.operations()).not.toContain('UpdateSecret');
    // An annotation that names no version is no pending version either.
    gcp.emulator.setMetadata(SECRET, { annotations: { 'mtlskit-pending': 'oops' } });
    const odd = await rejection(source.loadPending());
    expect(odd.code).toBe('SOURCE_NOT_FOUND');
    expect(odd.message).toMatch(/names no version/);
  });

  it('refuses renewal on a pinned version before any call (INVALID_OPTION)', async () => {
    gcp.emulator.putSecret(SECRET, bundleOf(alice));
    const source = gcp.source({ name: `${SECRET}/versions/1` });
    for (const step of [
      () => source.storePending({ key: alice.keyPem }),
      () => source.loadPending(),
      () => source.promote('1'),
      () => source.rollback(),
    ]) {
      const err = await rejection(step());
      expect(err.code).toBe('INVALID_OPTION');
      expect(err.message).toMatch(
        /not the fixed version 1: use gcp-sm:\/\/projects\/mtlskit-test\/secrets\/renew/,
      );
    }
    expect(gcp.emulator.log.count()).toBe(0);
  });

  it('refuses renewal with a client that cannot update secrets, before any request', async () => {
    gcp.emulator.putSecret(SECRET, bundleOf(alice));
    const real = gcp.client();
    const client: SecretManagerClientLike = {
      accessSecretVersion: real.accessSecretVersion.bind(real),
      getSecretVersion: real.getSecretVersion.bind(real),
      addSecretVersion: real.addSecretVersion.bind(real),
    };
    const source = gcp.source({ name: SECRET, client });
    const err = await rejection(source.storePending({ key: alice.keyPem }));
    expect(err.code).toBe('INVALID_OPTION');
    expect(err.message).toMatch(/needs a client with getSecret and updateSecret/);
    expect(gcp.emulator.log.count()).toBe(0);
    expect(meta().versionAliases).toEqual({});
  });

  it('renews a source reading another alias by moving that alias, and refuses while the alias is missing', async () => {
    gcp.emulator.putSecret(SECRET, bundleOf(alice));
    gcp.emulator.putSecret(SECRET, bundleOf(alice));
    const source = gcp.source({ name: `${SECRET}/versions/prod` });
    const missing = await rejection(source.storePending({ key: bob.keyPem }));
    expect(missing.code).toBe('SOURCE_NOT_FOUND');
    expect(missing.message).toMatch(/no alias prod, which .* reads.*--update-version-aliases=prod=VERSION/);
    expect(gcp.emulator.log.operations()).toEqual(['GetSecret']);

    gcp.emulator.setMetadata(SECRET, { versionAliases: { prod: 1 } });
    const { version } = await source.storePending({ cert: bob.certPem, key: bob.keyPem });
    expect(version).toBe('3');
    expect(await source.version()).toBe('1');
    expect(await source.promote(version)).toEqual({ current: '3', previous: '1' });
    expect(meta().versionAliases).toEqual({ prod: 3 });
    expect(await source.version()).toBe('3');
  });

  it('renews a regional secret the same way', async () => {
    const regional = 'projects/mtlskit-test/locations/europe-west1/secrets/renew';
    gcp.emulator.putSecret(regional, bundleOf(alice));
    const source = gcp.source({ name: regional });
    const { version } = await source.storePending({ cert: bob.certPem, key: bob.keyPem });
    expect(await source.promote(version)).toEqual({ current: '2', previous: '1' });
    expect(gcp.emulator.metadataOf(regional).versionAliases).toEqual({ current: 2 });
    expect(await gcp.source({ name: regional }).version()).toBe('2');
  });

  it('keeps the other aliases and annotations of the secret', async () => {
    gcp.emulator.putSecret(SECRET, bundleOf(alice));
    gcp.emulator.setMetadata(SECRET, {
      versionAliases: { first: 1 },
      annotations: { owner: 'payments-team' },
    });
    const source = app();
    const { version } = await source.storePending({ cert: bob.certPem, key: bob.keyPem });
    await source.promote(version);
    await source.rollback();
    expect(meta()).toMatchObject({
      versionAliases: { first: 1, current: 1 },
      annotations: { owner: 'payments-team', 'mtlskit-previous': version },
    });
  });

  /** A real client whose updateSecret first lets `meanwhile` change the secret (another writer). */
  function racingClient(meanwhile: (call: number) => void): SecretManagerClientLike {
    const real = gcp.client();
    let calls = 0;
    return {
      accessSecretVersion: real.accessSecretVersion.bind(real),
      getSecretVersion: real.getSecretVersion.bind(real),
      addSecretVersion: real.addSecretVersion.bind(real),
      getSecret: real.getSecret!.bind(real),
      updateSecret: (request, options) => {
        meanwhile(++calls);
        return real.updateSecret!(request, options);
      },
    };
  }

  it('writes under the etag: a change made meanwhile is read again, and promote re-checks the pending version', async () => {
    gcp.emulator.putSecret(SECRET, bundleOf(alice));
    const renewer = app();
    const { version } = await renewer.storePending({ cert: bob.certPem, key: bob.keyPem });

    // Someone adds an annotation between our read and our write: the write is refused, read again,
    // and done on what is there now (their annotation kept).
    const annotating = gcp.source({
      name: SECRET,
      client: racingClient((n) => {
        if (n === 1) gcp.emulator.setMetadata(SECRET, { annotations: { ...meta().annotations, team: 'x' } });
      }),
    });
    gcp.emulator.log.clear();
    expect(await annotating.promote(version)).toEqual({ current: version, previous: '1' });
    expect(gcp.emulator.log.operations()).toEqual(['GetSecret', 'UpdateSecret', 'GetSecret', 'UpdateSecret']);
    expect(meta().annotations).toEqual({ team: 'x', 'mtlskit-previous': '1' });
    await renewer.rollback();

    // Another `start` replaces the pending version between our check and our write: refused.
    const second = await renewer.storePending({ cert: bob.certPem, key: bob.keyPem });
    const replacing = gcp.source({
      name: SECRET,
      client: racingClient((n) => {
        if (n === 1)
          gcp.emulator.setMetadata(SECRET, {
            annotations: { ...meta().annotations, 'mtlskit-pending': '99' },
          });
      }),
    });
    const err = await rejection(replacing.promote(second.version));
    expect(err.code).toBe('SOURCE_NOT_FOUND');
    expect(err.message).toMatch(`version 99 pending, not ${second.version}`);
    expect(meta().versionAliases).toEqual({ current: 1 });

    // A secret that keeps changing: given up after three attempts, nothing changed.
    gcp.emulator.setMetadata(SECRET, { annotations: { 'mtlskit-pending': second.version } });
    const busy = gcp.source({
      name: SECRET,
      client: racingClient(() => gcp.emulator.setMetadata(SECRET, { annotations: meta().annotations })),
    });
    const lost = await rejection(busy.promote(second.version));
    expect(lost.code).toBe('SOURCE_UNAVAILABLE');
    expect(lost.message).toMatch(/lost 3 times to other changes of the secret .*nothing was changed/);
    expect(meta().versionAliases).toEqual({ current: 1 });
    expect(meta().annotations['mtlskit-pending']).toBe(second.version);
  });

  it('maps a refused UpdateSecret to ACCESS_DENIED naming what to grant, leaves the secret as it was, and leaks nothing', async () => {
    gcp.emulator.putSecret(SECRET, bundleOf(alice));
    const source = app();
    const { version } = await source.storePending({ cert: bob.certPem, key: bob.keyPem });
    gcp.emulator.fail({ kind: 'denied', operation: 'UpdateSecret' });
    const err = await rejection(source.promote(version));
    expect(err.code).toBe('ACCESS_DENIED');
    expect(err.message).toMatch(
      /UpdateSecret on projects\/mtlskit-test\/secrets\/renew.*secretmanager\.secrets\.update/,
    );
    expect(meta()).toMatchObject({
      versionAliases: { current: 1 },
      annotations: { 'mtlskit-pending': version },
    });
    leakCheck([alice.keyPem, bob.keyPem]).check(err, 'promote error');

    // A version added but not marked pending says so, and how to clean up.
    gcp.emulator.fail({ kind: 'denied', operation: 'UpdateSecret' });
    const unmarked = await rejection(source.storePending({ key: bob.keyPem }));
    expect(unmarked.code).toBe('ACCESS_DENIED');
    expect(unmarked.message).toMatch(
      /version 3 was added .* could not be marked pending .*versions destroy 3/,
    );
    expect(meta().annotations['mtlskit-pending']).toBe(version);
    leakCheck([alice.keyPem, bob.keyPem]).check(unmarked, 'storePending error');
  });

  it('refuses to start when the alias is gone and the newest version is an unfinished pending one', async () => {
    gcp.emulator.putSecret(SECRET, bundleOf(alice));
    const source = app();
    await source.storePending({ key: bob.keyPem });
    gcp.emulator.setMetadata(SECRET, { versionAliases: {} });
    const err = await rejection(source.storePending({ key: bob.keyPem }));
    expect(err.code).toBe('SOURCE_NOT_FOUND');
    expect(err.message).toMatch(/no alias current, and its newest version 2 is the pending version/);
  });

  it('takes INVALID_ARGUMENT for versions/current like NOT_FOUND: no alias to follow', async () => {
    gcp.emulator.putSecret(SECRET, bundleOf(alice));
    gcp.emulator.fail({
      kind: 'error',
      operation: 'GetSecretVersion',
      status: transport === 'grpc' ? 3 : 400,
      code: 'INVALID_ARGUMENT',
      message: 'Invalid resource field value in the request.',
      after: 1,
    });
    const source = app();
    expect(await source.version()).toBe('1');
    expect(askedOf(gcp.emulator)).toEqual(['GetSecretVersion latest', 'GetSecretVersion current']);
    expect(gcp.emulator.log.last()?.fault).toBe('error');
  });

  describe('a source reading latest', () => {
    let renewed: GcpSecretManagerSource;
    beforeEach(async () => {
      gcp.emulator.putSecret(SECRET, bundleOf(alice));
      renewed = app();
      const { version } = await renewed.storePending({ cert: bob.certPem, key: bob.keyPem });
      await renewed.promote(version);
    });

    it('moves the alias to what store() adds once the secret was renewed', async () => {
      const { version } = await renewed.store({ cert: alice.certPem, key: alice.keyPem });
      expect(version).toBe('3');
      expect(meta().versionAliases).toEqual({ current: 3 });
      expect(await app().version()).toBe('3');
    });

    it('adds as before when it may not see the alias (the alias stays where it was)', async () => {
      gcp.emulator.fail({ kind: 'denied', operation: 'GetSecretVersion' });
      gcp.emulator.fail({ kind: 'denied', operation: 'AccessSecretVersion' });
      gcp.emulator.log.clear();
      const { version } = await app().store({ cert: alice.certPem, key: alice.keyPem });
      expect(version).toBe('3');
      expect(gcp.emulator.log.operations()).toEqual([
        'GetSecretVersion',
        'AccessSecretVersion',
        'AddSecretVersion',
      ]);
      expect(meta().versionAliases).toEqual({ current: 2 });
    });

    it('goes back to latest when the alias is removed, notices an alias given by hand with the next version, and reports a disabled aliased version', async () => {
      const source = app();
      expect(await source.version()).toBe('2');
      gcp.emulator.setMetadata(SECRET, { versionAliases: {} });
      gcp.emulator.putSecret(SECRET, bundleOf(alice));
      expect(await source.version()).toBe('3');
      expect((await source.load()).version).toBe('3');

      // An alias given by hand to an older version is noticed with the next new version (a renewal
      // gives it to latest before adding one); a source started now reads it at once.
      gcp.emulator.setMetadata(SECRET, { versionAliases: { current: 2 } });
      expect(await source.version()).toBe('3');
      const fresh = app();
      expect(await fresh.version()).toBe('2');
      gcp.emulator.setState(SECRET, 2, 'DISABLED');
      const err = await rejection(fresh.version());
      expect(err.code).toBe('SOURCE_NOT_FOUND');
      expect(err.message).toMatch(/version 2 of .* is DISABLED/);
      expect((await rejection(fresh.load())).code).toBe('SOURCE_NOT_FOUND');
    });
  });
});
