// The conformance suite every CredentialSource runs (built-in and vault adapters alike): what a
// source must do whatever its backend — load what the core decodes, version ids that change exactly
// when the content does, store() round trips, AbortSignal, coded errors for absent and unreadable
// credentials, and no secret in any error or in the source's own inspect/JSON output.
// `runSourceConformance` registers vitest blocks; each check is also exported for direct use.
import {
  type CredentialMaterial,
  type CredentialSource,
  loadCredentials,
  MtlsError,
  type MtlsErrorCode,
} from '@mtlskit/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { type IssuedCert, TestCA } from './ca.js';
import type { TestKeyType } from './keys.js';
import { leakCheck } from './leak.js';

export type {
  InvalidReferenceForm,
  ReferenceFormOptions,
  ValidReferenceForm,
} from './reference-forms.js';
export { referenceFormTests } from './reference-forms.js';

/** What the factory is given: a fresh test CA and a credential it issued, which the harness must hold. */
export interface ConformanceContext {
  ca: TestCA;
  /** The credential the store must hold when the factory returns. */
  credential: IssuedCert;
  /** The same as material: `{ cert: fullChainPem, key: keyPem, ca: caPem }`. Store it as your source stores credentials. */
  material: CredentialMaterial;
}

/** What a source's test provides so the suite can drive the store behind it. */
export interface SourceHarness {
  source: CredentialSource;
  /** Replaces the stored credential with `material` (fields as in {@link ConformanceContext.material}). */
  write?(material: CredentialMaterial): Promise<void>;
  /** Makes the credential absent: a deleted secret, unset variables, removed files. */
  remove?(): Promise<void>;
  /**
   * Makes the credential unreadable (access denied). Returns the code load() must then reject with,
   * or `{ skip }` with the reason it cannot here. `restore`, when given, is called as soon as that
   * load has failed: for what must not outlast it, e.g. a test process running as root that acts as
   * an unprivileged user (its effective uid) while it loads, since root reads a file whatever its mode.
   */
  makeUnreadable?(): Promise<
    { code: MtlsErrorCode; restore?: () => void | Promise<void> } | { skip: string }
  >;
  /**
   * Makes the next reads lag one write behind, as a replica that has not caught up with a rotation
   * (version() already announces the new version). Returns a function that restores.
   */
  makeLagging?(): Promise<() => void | Promise<void>>;
  /** Makes loads hang until aborted (an emulator that stops answering). Returns a function that restores. */
  makeSlow?(): Promise<() => void | Promise<void>>;
  /**
   * True when writing identical content keeps the version id (content-addressed: env, files). Vaults
   * that make a new version on every write leave it false.
   */
  versionFollowsContent?: boolean;
  /** Extra secrets (passphrases, tokens) that must never appear in errors or inspect/JSON output. */
  secrets?: Array<string | Uint8Array>;
  /** Releases what the harness started. The suite calls `source.close()` itself. */
  close?(): Promise<void>;
}

export interface ConformanceOptions {
  /** Key type of the credentials issued for the suite (default `ec-p256`). */
  keyType?: TestKeyType;
  /** How long watch() may take to report a change (default 5000 ms). */
  watchTimeoutMs?: number;
  /** How promptly an abort during a slow load must reject (default 2000 ms). */
  abortTimeoutMs?: number;
}

/** Everything a check needs: the harness and the two credentials of the suite. */
export interface CheckContext extends ConformanceContext {
  harness: SourceHarness;
  /** A second credential from the same CA, for "the content changed". */
  other: IssuedCert;
  otherMaterial: CredentialMaterial;
  options: Required<ConformanceOptions>;
}

/** A check either passes, throws (an assertion failed), or says why it does not apply. */
export type CheckResult = undefined | { skip: string };

function materialOf(cert: IssuedCert): CredentialMaterial {
  return { cert: cert.fullChainPem, key: cert.keyPem, ca: cert.caPem };
}

function secretsOf(ctx: CheckContext): Array<string | Uint8Array> {
  return [ctx.credential.keyPem, ctx.other.keyPem, ...(ctx.harness.secrets ?? [])];
}

async function fingerprintOf(source: CredentialSource): Promise<string> {
  return (await loadCredentials(await source.load({}))).fingerprint256;
}

async function rejection(promise: Promise<unknown>, what: string): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error(`${what}: expected a rejection, but the call resolved`);
}

function expectCoded(err: unknown, code: MtlsErrorCode, ctx: CheckContext, where: string): void {
  // Checked for secrets first: the assertions below print the message.
  leakCheck(secretsOf(ctx)).check(err, where);
  expect(MtlsError.is(err), `${where}: expected an MtlsError, got ${String(err)}`).toBe(true);
  const e = err as MtlsError;
  expect(e.code, `${where}: ${e.message}`).toBe(code);
  expect(e.sourceId, `${where}: sourceId`).toBe(ctx.harness.source.id);
  expect(e.message.length, `${where}: the message says what is wrong`).toBeGreaterThan(10);
}

function isAbort(err: unknown, signal: AbortSignal): boolean {
  return err === signal.reason || (err instanceof Error && err.name === 'AbortError');
}

/** The checks of the suite, by name. Each can be called on its own (adapter authors, the suite's own tests). */
export const sourceChecks = {
  /** `id` is a non-empty, secret-free string and `kind` is `static`, `issuing` or absent. */
  async identity(ctx: CheckContext): Promise<CheckResult> {
    const { source } = ctx.harness;
    expect(typeof source.id).toBe('string');
    expect(source.id.length).toBeGreaterThan(0);
    expect([undefined, 'static', 'issuing']).toContain(source.kind);
    leakCheck(secretsOf(ctx)).checkText(source.id, 'the source id');
    return undefined;
  },

  /** load() returns material that core decodes to the stored credential. */
  async loadDecodes(ctx: CheckContext): Promise<CheckResult> {
    const material = await ctx.harness.source.load({});
    const credentials = await loadCredentials(material);
    if (ctx.harness.source.kind !== 'issuing') {
      expect(credentials.fingerprint256, 'load() decodes to the stored credential').toBe(
        ctx.credential.fingerprint256,
      );
    }
    if (material.fetchedAt !== undefined) expect(material.fetchedAt).toBeInstanceOf(Date);
    if (material.version !== undefined) expect(typeof material.version).toBe('string');
    return undefined;
  },

  /** version() is stable while nothing changes, and agrees with the version load() reports. */
  async versionStable(ctx: CheckContext): Promise<CheckResult> {
    const { source } = ctx.harness;
    if (!source.version) return { skip: 'the source offers no version()' };
    const first = await source.version({});
    expect(typeof first).toBe('string');
    expect(first.length).toBeGreaterThan(0);
    expect(await source.version({}), 'version() again, nothing changed').toBe(first);
    const loaded = await source.load({});
    if (loaded.version !== undefined) expect(loaded.version, 'the version load() reports').toBe(first);
    expect(await source.version({}), 'version() after a load, nothing changed').toBe(first);
    return undefined;
  },

  /** After a write, load() returns the new credential and version() has changed. */
  async followsWrites(ctx: CheckContext): Promise<CheckResult> {
    const { source, write } = ctx.harness;
    if (!write) return { skip: 'the harness cannot write' };
    // Loaded first, so a source that caches what it read is caught serving the old content.
    expect(await fingerprintOf(source)).toBe(ctx.credential.fingerprint256);
    const before = source.version ? await source.version({}) : undefined;
    await write(ctx.otherMaterial);
    expect(await fingerprintOf(source), 'load() after the content changed').toBe(ctx.other.fingerprint256);
    if (!source.version) return undefined;
    const after = await source.version({});
    expect(after, 'version() after the content changed').not.toBe(before);
    if (ctx.harness.versionFollowsContent) {
      await write(ctx.otherMaterial);
      expect(await source.version({}), 'version() after writing the same content again').toBe(after);
      await write(ctx.material);
      const back = await source.version({});
      expect(back, 'version() after changing the content back').not.toBe(after);
      expect(back, 'version() of the original content').toBe(before);
    }
    return undefined;
  },

  /**
   * While the store lags its own version() (a replica behind a rotation), load() either returns the
   * announced content, or old content under a version that is not the announced one: a resolver that
   * files old content under the new version would never load again.
   */
  async versionNamesContent(ctx: CheckContext): Promise<CheckResult> {
    const { source, write, makeLagging } = ctx.harness;
    if (!source.version) return { skip: 'the source offers no version()' };
    if (!write || !makeLagging) return { skip: 'the harness cannot make the store lag' };
    await write(ctx.otherMaterial);
    const announced = await source.version({});
    const restore = await makeLagging();
    try {
      const loaded = await source.load({});
      const fingerprint = (await loadCredentials(loaded)).fingerprint256;
      if (fingerprint === ctx.other.fingerprint256) {
        if (loaded.version !== undefined) {
          expect(loaded.version, 'the version of the announced content').toBe(announced);
        }
      } else {
        expect(fingerprint, 'a lagging load serves the old or the new credential').toBe(
          ctx.credential.fingerprint256,
        );
        expect(loaded.version, 'old content served by a lagging store, under the announced version').not.toBe(
          announced,
        );
      }
    } finally {
      await restore();
    }
    return undefined;
  },

  /** store() writes a new version that load() and version() then return. */
  async storeRoundTrips(ctx: CheckContext): Promise<CheckResult> {
    const { source } = ctx.harness;
    if (!source.store) return { skip: 'the source offers no store()' };
    const result = await source.store(ctx.otherMaterial);
    expect(typeof result.version).toBe('string');
    expect(result.version.length).toBeGreaterThan(0);
    const loaded = await source.load({});
    expect((await loadCredentials(loaded)).fingerprint256, 'load() after store()').toBe(
      ctx.other.fingerprint256,
    );
    if (loaded.version !== undefined) {
      expect(loaded.version, 'the version load() reports after store()').toBe(result.version);
    }
    if (source.version) expect(await source.version({}), 'version() after store()').toBe(result.version);
    return undefined;
  },

  /** An already-aborted signal rejects load(), version() and store() with the abort. */
  async abortBefore(ctx: CheckContext): Promise<CheckResult> {
    const { source } = ctx.harness;
    const controller = new AbortController();
    controller.abort();
    const signal = controller.signal;
    const calls: Array<[string, () => Promise<unknown>]> = [['load()', () => source.load({ signal })]];
    if (source.version) calls.push(['version()', () => source.version!({ signal })]);
    if (source.store) calls.push(['store()', () => source.store!(ctx.otherMaterial, { signal })]);
    for (const [name, call] of calls) {
      const what = `${name} with an aborted signal`;
      expect(isAbort(await rejection(call(), what), signal), `${what} rejects with the abort`).toBe(true);
    }
    return undefined;
  },

  /** An abort during a slow load rejects promptly. */
  async abortDuring(ctx: CheckContext): Promise<CheckResult> {
    const { harness } = ctx;
    if (!harness.makeSlow) return { skip: 'the harness cannot make loads slow' };
    const restore = await harness.makeSlow();
    try {
      const controller = new AbortController();
      const started = Date.now();
      const pending = rejection(harness.source.load({ signal: controller.signal }), 'a slow load() aborted');
      setTimeout(() => controller.abort(), 50).unref();
      const err = await Promise.race([
        pending,
        new Promise((_, reject) =>
          setTimeout(
            () =>
              reject(new Error(`load() did not reject within ${ctx.options.abortTimeoutMs} ms of the abort`)),
            ctx.options.abortTimeoutMs + 50,
          ).unref(),
        ),
      ]);
      expect(isAbort(err, controller.signal), `the abort's reason, got ${String(err)}`).toBe(true);
      expect(Date.now() - started).toBeLessThan(ctx.options.abortTimeoutMs + 50);
    } finally {
      await restore();
    }
    return undefined;
  },

  /** An absent credential rejects with SOURCE_NOT_FOUND naming the source. */
  async absent(ctx: CheckContext): Promise<CheckResult> {
    const { source, remove } = ctx.harness;
    if (!remove) return { skip: 'the harness cannot make the credential absent' };
    await remove();
    const load = 'load() of an absent credential';
    expectCoded(await rejection(source.load({}), load), 'SOURCE_NOT_FOUND', ctx, load);
    if (source.version) {
      const version = 'version() of an absent credential';
      expectCoded(await rejection(source.version({}), version), 'SOURCE_NOT_FOUND', ctx, version);
    }
    return undefined;
  },

  /** An unreadable credential rejects with the code the harness declares. */
  async unreadable(ctx: CheckContext): Promise<CheckResult> {
    const { harness } = ctx;
    if (!harness.makeUnreadable) return { skip: 'the harness cannot make the credential unreadable' };
    const outcome = await harness.makeUnreadable();
    if ('skip' in outcome) return outcome;
    const what = 'load() of an unreadable credential';
    let err: unknown;
    try {
      err = await rejection(harness.source.load({}), what);
    } finally {
      await outcome.restore?.();
    }
    expectCoded(err, outcome.code, ctx, what);
    return undefined;
  },

  /** Neither the source nor what it is holding shows a secret through inspect, JSON or String(). */
  async noLeaks(ctx: CheckContext): Promise<CheckResult> {
    const { source } = ctx.harness;
    await source.load({});
    const check = leakCheck(secretsOf(ctx));
    check.check(source, 'the source after a load');
    if (ctx.harness.write) {
      await ctx.harness.write(ctx.otherMaterial);
      await source.load({});
      check.check(source, 'the source after a second load');
    }
    return undefined;
  },

  /** watch() reports a write, and nothing once stopped. */
  async watchReportsChanges(ctx: CheckContext): Promise<CheckResult> {
    const { source, write } = ctx.harness;
    if (!source.watch) return { skip: 'the source offers no watch()' };
    if (!write) return { skip: 'the harness cannot write' };
    await source.load({});
    let calls = 0;
    let notify: () => void = () => {};
    const called = new Promise<void>((resolve) => {
      notify = resolve;
    });
    const stop = source.watch(() => {
      calls++;
      notify();
    });
    try {
      await new Promise((r) => setTimeout(r, 50));
      await write(ctx.otherMaterial);
      await Promise.race([
        called,
        new Promise((_, reject) =>
          setTimeout(
            () =>
              reject(new Error(`watch() did not report a change within ${ctx.options.watchTimeoutMs} ms`)),
            ctx.options.watchTimeoutMs,
          ).unref(),
        ),
      ]);
    } finally {
      stop();
    }
    const seen = calls;
    await write(ctx.material);
    await new Promise((r) => setTimeout(r, 500));
    expect(calls, 'calls after stop()').toBe(seen);
    return undefined;
  },
} as const satisfies Record<string, (ctx: CheckContext) => Promise<CheckResult>>;

export type SourceCheckName = keyof typeof sourceChecks;

const TITLES: Record<SourceCheckName, string> = {
  identity: 'has a non-empty, secret-free id and a valid kind',
  loadDecodes: 'load() returns material the core decodes to the stored credential',
  versionStable: 'version() is stable while nothing changes and agrees with load()',
  followsWrites: 'load() and version() follow a change of the stored content',
  versionNamesContent: "a lagging store's load() never labels old content with the announced version",
  storeRoundTrips: 'store() writes a version that load() and version() return',
  abortBefore: 'an already-aborted signal rejects with the abort',
  abortDuring: 'an abort during a slow load rejects promptly',
  absent: 'an absent credential rejects with SOURCE_NOT_FOUND',
  unreadable: 'an unreadable credential rejects with the declared code',
  noLeaks: 'shows no secret through inspect, JSON or String()',
  watchReportsChanges: 'watch() reports a change, and nothing after stop()',
};

/** Issues the suite's CA and two credentials: what {@link sourceChecks} need besides a harness. */
export async function prepareConformance(
  options: ConformanceOptions = {},
): Promise<Omit<CheckContext, 'harness'>> {
  const opts: Required<ConformanceOptions> = {
    keyType: options.keyType ?? 'ec-p256',
    watchTimeoutMs: options.watchTimeoutMs ?? 5000,
    abortTimeoutMs: options.abortTimeoutMs ?? 2000,
  };
  const ca = await TestCA.create();
  const credential = await ca.issueClient({ keyType: opts.keyType, commonName: 'conformance one' });
  const other = await ca.issueClient({ keyType: opts.keyType, commonName: 'conformance two' });
  return {
    ca,
    credential,
    material: materialOf(credential),
    other,
    otherMaterial: materialOf(other),
    options: opts,
  };
}

/**
 * Registers the conformance suite for one source as a vitest `describe` block. `factory` gets a
 * fresh test CA and a credential, and returns a harness over a store holding that credential; it
 * is called once per test, and the harness and source are closed afterwards.
 */
export function runSourceConformance(
  name: string,
  factory: (ctx: ConformanceContext) => Promise<SourceHarness>,
  options: ConformanceOptions = {},
): void {
  describe(`${name} conforms to the CredentialSource contract`, () => {
    let base: Omit<CheckContext, 'harness'>;
    beforeAll(async () => {
      base = await prepareConformance(options);
    });

    for (const check of Object.keys(sourceChecks) as SourceCheckName[]) {
      it(TITLES[check], async (t) => {
        const harness = await factory({ ca: base.ca, credential: base.credential, material: base.material });
        let result: CheckResult;
        try {
          result = await sourceChecks[check]({ ...base, harness });
        } finally {
          await harness.source.close?.();
          await harness.close?.();
        }
        if (result?.skip) t.skip(result.skip);
      });
    }
  });
}
