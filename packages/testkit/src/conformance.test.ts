import { type CredentialMaterial, type CredentialSource, MtlsError } from '@mtlskit/core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type CheckContext,
  prepareConformance,
  runSourceConformance,
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
  versionAlwaysNew?: boolean;
  staleReads?: boolean;
  holdsMaterialInPublicField?: boolean;
  storeReportsOtherVersion?: boolean;
  watchIsSilent?: boolean;
  idCarriesKey?: boolean;
}

function memoryVault(initial: CredentialMaterial, flaws: Flaws = {}): SourceHarness {
  const versions: CredentialMaterial[] = [initial];
  let present = true;
  let denied = false;
  let stalled = false;
  const listeners = new Set<() => void>();
  const id = flaws.idCarriesKey ? `mem://vault/${String(initial.key)}` : 'mem://vault/mtls';
  let cached: CredentialMaterial | undefined;

  const abortable = (signal: AbortSignal | undefined) => {
    if (!flaws.ignoresAbort) signal?.throwIfAborted();
  };
  const current = (): { material: CredentialMaterial; version: string } => {
    if (!present) {
      if (flaws.plainErrorWhenAbsent) throw new Error('no such secret');
      throw new MtlsError('SOURCE_NOT_FOUND', 'Secret mtls does not exist in the memory vault.', {
        sourceId: id,
      });
    }
    if (denied) throw new MtlsError('ACCESS_DENIED', 'The memory vault refused the read.', { sourceId: id });
    return { material: versions[versions.length - 1]!, version: String(versions.length) };
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

  const source: CredentialSource & { material?: CredentialMaterial } = {
    id,
    kind: 'static',
    async load(ctx) {
      abortable(ctx?.signal);
      await stall(ctx?.signal);
      if (flaws.staleReads && cached) return cached;
      const { material, version } = current();
      cached = { ...material, version, fetchedAt: new Date() };
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
      await write(material);
      return { version: flaws.storeReportsOtherVersion ? 'v-unrelated' : String(versions.length) };
    },
    watch(onChange) {
      listeners.add(onChange);
      return () => listeners.delete(onChange);
    },
  };
  return {
    source,
    write,
    secrets: [],
    async remove() {
      present = false;
    },
    async makeUnreadable() {
      denied = true;
      return { code: 'ACCESS_DENIED' };
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

  it.each<[keyof typeof sourceChecks, Flaws, RegExp]>([
    ['abortBefore', { ignoresAbort: true }, /load\(\) with an aborted signal/],
    ['abortDuring', { ignoresAbort: true }, /did not reject within 200 ms/],
    ['absent', { plainErrorWhenAbsent: true }, /expected an MtlsError/],
    ['versionStable', { versionAlwaysNew: true }, /expected/],
    ['followsWrites', { staleReads: true }, /expected/],
    ['noLeaks', { holdsMaterialInPublicField: true }, /secret #0 leaked in the source after a load/],
    ['storeRoundTrips', { storeReportsOtherVersion: true }, /expected/],
    ['watchReportsChanges', { watchIsSilent: true }, /did not report a change within 300 ms/],
    ['identity', { idCarriesKey: true }, /leaked in the source id/],
  ])('%s fails for a source with %o', async (check, flaws, message) => {
    await expect(run(check, flaws)).rejects.toThrow(message);
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
