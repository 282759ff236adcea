import { type CredentialMaterial, type CredentialSource, MtlsError } from '@mtlskit/core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type CheckContext,
  prepareConformance,
  runSourceConformance,
  type SourceCheckName,
  type SourceHarness,
  sourceChecks,
} from './conformance.js';

/**
 * A vault in memory with every capability a source can have: a new version id per write (like AWS
 * or Vault KV v2), store(), watch() pushing on each write, access control, and a "stalled" mode in
 * which reads hang until aborted. Its flaws can be switched on to prove each check catches them.
 */
interface Flaws {
  ignoresAbort?: boolean;
  plainErrorWhenAbsent?: boolean;
  /** The "not found" error carries the last version (a vendor response body). */
  absentErrorCarriesKey?: boolean;
  /** Access denied is reported as "not found". */
  deniedReadsAsAbsent?: boolean;
  /** load() serves this instead of what is stored. */
  servesInstead?: CredentialMaterial;
  versionAlwaysNew?: boolean;
  versionNeverChanges?: boolean;
  /** load() reports a version that version() does not. */
  loadVersionDisagrees?: boolean;
  /** The harness claims content-addressed versions, but each write makes a new one. */
  claimsContentVersions?: boolean;
  staleReads?: boolean;
  /** While lagging, load() labels the old content with the newest version (what version() says). */
  lagsUnderNewVersion?: boolean;
  holdsMaterialInPublicField?: boolean;
  storeReportsOtherVersion?: boolean;
  storeDropsTheWrite?: boolean;
  watchIsSilent?: boolean;
  watchKeepsCallingAfterStop?: boolean;
  idCarriesKey?: boolean;
}

function memoryVault(initial: CredentialMaterial, flaws: Flaws = {}): SourceHarness {
  const versions: CredentialMaterial[] = [initial];
  let present = true;
  let denied = false;
  let stalled = false;
  let lagging = false;
  const listeners = new Set<() => void>();
  const id = flaws.idCarriesKey ? `mem://vault/${String(initial.key)}` : 'mem://vault/mtls';
  let cached: CredentialMaterial | undefined;

  const abortable = (signal: AbortSignal | undefined) => {
    if (!flaws.ignoresAbort) signal?.throwIfAborted();
  };
  const current = (): { material: CredentialMaterial; version: string } => {
    if (!present || (denied && flaws.deniedReadsAsAbsent)) {
      if (flaws.plainErrorWhenAbsent) throw new Error('no such secret');
      const err = new MtlsError('SOURCE_NOT_FOUND', 'Secret mtls does not exist in the memory vault.', {
        sourceId: id,
      });
      // MtlsError redacts its message; a vendor response body pinned on the error is what leaks.
      if (flaws.absentErrorCarriesKey) Object.assign(err, { responseBody: { lastVersion: versions.at(-1) } });
      throw err;
    }
    if (denied) throw new MtlsError('ACCESS_DENIED', 'The memory vault refused the read.', { sourceId: id });
    const version = flaws.versionNeverChanges ? '1' : String(versions.length);
    return { material: flaws.servesInstead ?? versions[versions.length - 1]!, version };
  };
  const stall = (signal: AbortSignal | undefined) =>
    new Promise<void>((resolve, reject) => {
      if (!stalled) return resolve();
      if (flaws.ignoresAbort) return; // never settles
      signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
  const write = async (material: CredentialMaterial) => {
    versions.push({ ...material });
    present = true;
    if (!flaws.watchIsSilent) for (const l of listeners) l();
  };
  const stopped = new Set<() => void>();

  const source: CredentialSource & { material?: CredentialMaterial } = {
    id,
    kind: 'static',
    async load(ctx) {
      abortable(ctx?.signal);
      await stall(ctx?.signal);
      if (flaws.staleReads && cached) return cached;
      const { material, version } = current();
      if (lagging && versions.length > 1) {
        // A replica one write behind: the previous content, under its own version unless flawed.
        const previous = versions[versions.length - 2]!;
        return { ...previous, version: flaws.lagsUnderNewVersion ? version : String(versions.length - 1) };
      }
      cached = {
        ...material,
        version: flaws.loadVersionDisagrees ? `v${version}` : version,
        fetchedAt: new Date(),
      };
      if (flaws.holdsMaterialInPublicField) source.material = cached;
      return cached;
    },
    async version(ctx) {
      abortable(ctx?.signal);
      const { version } = current();
      return flaws.versionAlwaysNew ? `${version}.${Math.random()}` : version;
    },
    async store(material, options) {
      abortable(options?.signal);
      if (!flaws.storeDropsTheWrite) await write(material);
      return { version: flaws.storeReportsOtherVersion ? 'v-unrelated' : String(versions.length) };
    },
    watch(onChange) {
      listeners.add(onChange);
      return () => {
        if (flaws.watchKeepsCallingAfterStop) stopped.add(onChange);
        else listeners.delete(onChange);
      };
    },
  };
  return {
    source,
    write,
    ...(flaws.claimsContentVersions && { versionFollowsContent: true }),
    secrets: [],
    async remove() {
      present = false;
    },
    async makeUnreadable() {
      denied = true;
      return { code: 'ACCESS_DENIED' };
    },
    async makeLagging() {
      lagging = true;
      return () => {
        lagging = false;
      };
    },
    async makeSlow() {
      stalled = true;
      return () => {
        stalled = false;
      };
    },
  };
}

// Every check applies to the memory vault: nothing is skipped.
runSourceConformance('memoryVault', async ({ material }) => memoryVault(material), { abortTimeoutMs: 500 });

describe('the conformance checks catch a broken source', () => {
  let base: Omit<CheckContext, 'harness'>;
  beforeAll(async () => {
    base = await prepareConformance({ watchTimeoutMs: 300, abortTimeoutMs: 200 });
  });
  const run = (check: keyof typeof sourceChecks, flaws: Flaws) =>
    sourceChecks[check]({ ...base, harness: memoryVault(base.material, flaws) });

  it('passes the same source without flaws (the baseline the cases below depart from)', async () => {
    for (const check of Object.keys(sourceChecks) as Array<keyof typeof sourceChecks>) {
      await expect(run(check, {}), check).resolves.toBeUndefined();
    }
  });

  // One flawed source per check at least: every check can fail, and fails for the reason it names.
  const flawed: Array<[SourceCheckName, (base: Omit<CheckContext, 'harness'>) => Flaws, RegExp]> = [
    ['identity', () => ({ idCarriesKey: true }), /leaked in the source id/],
    ['loadDecodes', (b) => ({ servesInstead: b.otherMaterial }), /load\(\) decodes to the stored credential/],
    ['versionStable', () => ({ versionAlwaysNew: true }), /version\(\) again, nothing changed/],
    ['versionStable', () => ({ loadVersionDisagrees: true }), /the version load\(\) reports/],
    ['followsWrites', () => ({ staleReads: true }), /load\(\) after the content changed/],
    ['followsWrites', () => ({ versionNeverChanges: true }), /version\(\) after the content changed/],
    [
      'followsWrites',
      () => ({ claimsContentVersions: true }),
      /version\(\) after writing the same content again/,
    ],
    [
      'storeRoundTrips',
      () => ({ storeReportsOtherVersion: true }),
      /the version load\(\) reports after store\(\)/,
    ],
    ['storeRoundTrips', () => ({ storeDropsTheWrite: true }), /load\(\) after store\(\)/],
    [
      'versionNamesContent',
      () => ({ lagsUnderNewVersion: true }),
      /old content served by a lagging store, under the announced version/,
    ],
    ['abortBefore', () => ({ ignoresAbort: true }), /load\(\) with an aborted signal/],
    ['abortDuring', () => ({ ignoresAbort: true }), /did not reject within 200 ms/],
    ['absent', () => ({ plainErrorWhenAbsent: true }), /expected an MtlsError/],
    [
      'absent',
      () => ({ absentErrorCarriesKey: true }),
      /secret #0 leaked in load\(\) of an absent credential/,
    ],
    [
      'unreadable',
      () => ({ deniedReadsAsAbsent: true }),
      /load\(\) of an unreadable credential: .*expected 'SOURCE_NOT_FOUND' to be 'ACCESS_DENIED'/,
    ],
    ['noLeaks', () => ({ holdsMaterialInPublicField: true }), /secret #0 leaked in the source after a load/],
    ['watchReportsChanges', () => ({ watchIsSilent: true }), /did not report a change within 300 ms/],
    ['watchReportsChanges', () => ({ watchKeepsCallingAfterStop: true }), /calls after stop\(\)/],
  ];

  it('has a flawed source that fails each check', () => {
    expect(new Set(flawed.map(([check]) => check))).toEqual(new Set(Object.keys(sourceChecks)));
  });

  it.each(flawed)('%s fails for a flawed source (%#)', async (check, flaws, message) => {
    await expect(run(check, flaws(base))).rejects.toThrow(message);
  });

  it('calls the restore makeUnreadable returns as soon as the load has failed, whatever the verdict', async () => {
    const events: string[] = [];
    const harness = memoryVault(base.material);
    const { source } = harness;
    const load = source.load.bind(source);
    source.load = async (ctx) => {
      events.push('load');
      return load(ctx);
    };
    const deny = harness.makeUnreadable!.bind(harness);
    const restore = () => {
      events.push('restore');
    };
    harness.makeUnreadable = async () => ({ ...(await deny()), restore });
    await expect(sourceChecks.unreadable({ ...base, harness })).resolves.toBeUndefined();
    expect(events).toEqual(['load', 'restore']);
    // A harness declaring the wrong code fails the check, and is restored all the same.
    harness.makeUnreadable = async () => ({ code: 'SOURCE_NOT_FOUND', restore });
    await expect(sourceChecks.unreadable({ ...base, harness })).rejects.toThrow(/to be 'SOURCE_NOT_FOUND'/);
    expect(events).toEqual(['load', 'restore', 'load', 'restore']);
  });

  it('skips, saying why, what a source does not offer', async () => {
    const bare = { id: 'bare', load: async () => base.material };
    const harness: SourceHarness = { source: bare };
    const ctx = { ...base, harness };
    expect(await sourceChecks.versionStable(ctx)).toEqual({ skip: 'the source offers no version()' });
    expect(await sourceChecks.storeRoundTrips(ctx)).toEqual({ skip: 'the source offers no store()' });
    expect(await sourceChecks.absent(ctx)).toEqual({ skip: 'the harness cannot make the credential absent' });
    expect(await sourceChecks.watchReportsChanges(ctx)).toEqual({ skip: 'the source offers no watch()' });
  });
});
