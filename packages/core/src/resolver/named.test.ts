// Named resolvers: the three config forms, laziness (nothing created, loaded or timed until a name is
// used), errors that name the credential or variable, close, and tlsResolversFromEnv reading only the
// environment it is given — for its own variables and for the sources' variables. Real certificates
// from the testkit CA; sources counted where laziness is the point. Concurrency and isolation over
// real mTLS are tested end to end in tests/named/.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type IssuedCert, leakCheck, TestCA } from '@mtlskit/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { MtlsError } from '../errors.js';
import { registerScheme, type SourceDeps } from '../references/registry.js';
import type { CredentialMaterial, CredentialSource, SourceKind } from '../types.js';
import { createTlsResolvers, tlsResolversFromEnv } from './named.js';

const INVALID_OPTION = 'INVALID_OPTION';

let ca: TestCA;
let alice: IssuedCert;
let bob: IssuedCert;
let dir: string;

beforeAll(async () => {
  ca = await TestCA.create();
  alice = await ca.issueClient({ commonName: 'alice' });
  bob = await ca.issueClient({ commonName: 'bob' });
  dir = mkdtempSync(join(tmpdir(), 'mtlskit-named-'));
  writeFileSync(join(dir, 'tls.crt'), bob.certPem);
  writeFileSync(join(dir, 'tls.key'), bob.keyPem, { mode: 0o600 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => vi.unstubAllEnvs());

/** A source that counts its loads and closes. */
class CountingSource implements CredentialSource {
  loads = 0;
  closes = 0;
  constructor(
    readonly id: string,
    readonly material: CredentialMaterial,
    readonly kind: SourceKind = 'static',
  ) {}
  async load(): Promise<CredentialMaterial> {
    this.loads++;
    return this.material;
  }
  async close(): Promise<void> {
    this.closes++;
  }
}

const materialOf = (cert: IssuedCert): CredentialMaterial => ({ cert: cert.certPem, key: cert.keyPem });

function thrown(fn: () => unknown): MtlsError {
  try {
    fn();
  } catch (err) {
    if (MtlsError.is(err)) return err;
    throw err;
  }
  throw new Error('expected an MtlsError');
}

describe('createTlsResolvers', () => {
  it('takes a reference, a source or full options per name, and get() returns each its own resolver', async () => {
    const source = new CountingSource('memory:alice', materialOf(alice));
    const set = createTlsResolvers({
      alice: source,
      bob: `file:${dir}`,
      carol: { source: new CountingSource('memory:carol', materialOf(alice)), refreshIntervalMs: 60_000 },
    });
    try {
      expect(set.names).toEqual(['alice', 'bob', 'carol']);
      expect((await set.get('alice').credentials()).fingerprint256).toBe(alice.fingerprint256);
      expect((await set.get('bob').credentials()).fingerprint256).toBe(bob.fingerprint256);
      expect(set.get('alice')).toBe(set.get('alice'));
      expect(set.get('alice')).not.toBe(set.get('carol'));
      expect(source.loads).toBe(1);
    } finally {
      await set.close();
    }
  });

  it('loads nothing and creates no resolver until a name is used; health() does not load', async () => {
    const sources = Array.from(
      { length: 50 },
      (_, i) => new CountingSource(`memory:${i}`, materialOf(alice)),
    );
    const set = createTlsResolvers(Object.fromEntries(sources.map((s, i) => [`tenant${i}`, s])));
    try {
      const health = set.health();
      expect(Object.keys(health)).toHaveLength(50);
      expect(health.tenant7).toEqual({ ready: false, stale: false, closed: false });
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(sources.reduce((n, s) => n + s.loads, 0)).toBe(0);

      await set.get('tenant7').credentials();
      expect(sources.map((s) => s.loads).filter((n) => n > 0)).toEqual([1]);
      expect(set.health().tenant7).toMatchObject({ ready: true, fingerprint256: alice.fingerprint256 });
      expect(set.health().tenant8?.ready).toBe(false);
    } finally {
      await set.close();
    }
  });

  it('a set of 10,000 references opens nothing and starts no timer', async () => {
    // Timers, file reads and sockets this process has pending (vitest's own pipes aside).
    const pending = () =>
      process.getActiveResourcesInfo().filter((r) => /Timeout|FSReq|FileHandle|TCP|TLS/.test(r)).length;
    const before = pending();
    const set = createTlsResolvers(
      Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`t${i}`, `file:${dir}/missing-${i}`])),
    );
    try {
      expect(set.names).toHaveLength(10_000);
      await new Promise((resolve) => setImmediate(resolve));
      expect(pending()).toBeLessThanOrEqual(before);
      expect(Object.values(set.health()).filter((h) => h.ready || h.lastError)).toEqual([]);
    } finally {
      await set.close();
    }
  });

  it('200 credentials in use wait on one timer between them, each refreshing on its own schedule', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const sources = Array.from(
      { length: 200 },
      (_, i) => new CountingSource(`memory:${i}`, materialOf(i % 2 ? alice : bob)),
    );
    const set = createTlsResolvers(Object.fromEntries(sources.map((s, i) => [`tenant${i}`, s])), {
      refreshIntervalMs: 60_000,
    });
    try {
      await Promise.all(set.names.map((name) => set.get(name).credentials()));
      expect(sources.every((s) => s.loads === 1)).toBe(true);
      // Each load's deadline is gone; what is left is the one wake-up of them all.
      expect(vi.getTimerCount()).toBe(1);
      // First refreshes are spread over the interval: after a tenth of it, some have refreshed.
      await vi.advanceTimersByTimeAsync(20_000);
      const early = sources.filter((s) => s.loads === 2).length;
      expect(early).toBeGreaterThan(0);
      expect(early).toBeLessThan(200);
      await vi.advanceTimersByTimeAsync(40_000);
      expect(sources.every((s) => s.loads >= 2)).toBe(true);
      expect(vi.getTimerCount()).toBe(1);
      await set.close();
      // Closed, nothing is left to wake: no timer either.
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      await set.close();
      vi.useRealTimers();
    }
  });

  it('get() with no argument is the "default" credential', async () => {
    const set = createTlsResolvers({ default: new CountingSource('memory:d', materialOf(bob)) });
    try {
      expect(set.get()).toBe(set.get('default'));
      expect((await set.get().credentials()).fingerprint256).toBe(bob.fingerprint256);
    } finally {
      await set.close();
    }
  });

  it('an unknown name is a coded error listing the known names', () => {
    const set = createTlsResolvers({ eu: 'env:', us: 'env:' });
    const err = thrown(() => set.get('uk'));
    expect(err.code).toBe(INVALID_OPTION);
    expect(err.message).toContain('no credential named "uk" (known: "eu", "us")');
    expect(thrown(() => set.get()).message).toContain('"default"');
    expect(set.has('eu')).toBe(true);
    expect(set.has('uk')).toBe(false);
    // Not found through the prototype either.
    expect(thrown(() => set.get('toString')).code).toBe(INVALID_OPTION);
  });

  it('checks every entry when the set is made, naming the credential', () => {
    expect(thrown(() => createTlsResolvers({ eu: 'env:', bad: 42 as unknown as string })).message).toMatch(
      /credential "bad" must be a reference string/,
    );
    const option = thrown(() => createTlsResolvers({ eu: { source: 'env:', refreshIntervalMs: -5 } }));
    expect(option.message).toMatch(/^credential "eu": options\.refreshIntervalMs must be a positive number/);
    const mode = thrown(() =>
      createTlsResolvers({ eu: { source: 'env:', mode: 'lazy' as unknown as 'on-access' } }),
    );
    expect(mode.message).toMatch(/credential "eu": options\.mode must be 'background' or 'on-access'/);
    expect(thrown(() => createTlsResolvers({ '': 'env:' })).code).toBe(INVALID_OPTION);
    expect(thrown(() => createTlsResolvers({ eu: ' ' })).message).toMatch(
      /^credential "eu" is an empty reference/,
    );
    expect(thrown(() => createTlsResolvers({ eu: { source: '' } })).code).toBe(INVALID_OPTION);
    expect(
      thrown(() => createTlsResolvers({ eu: { source: 42 } as unknown as { source: string } })).message,
    ).toMatch(/credential "eu" must be .*; got a source of type number$/);
    expect(thrown(() => createTlsResolvers(null as unknown as {})).code).toBe(INVALID_OPTION);
  });

  it('close() closes every resolver it created, is idempotent, and refuses new ones', async () => {
    const used = new CountingSource('memory:used', materialOf(alice));
    const set = createTlsResolvers({ used, unused: new CountingSource('memory:unused', materialOf(bob)) });
    const resolver = set.get('used');
    await resolver.credentials();
    const first = set.close();
    expect(set.close()).toBe(first);
    await first;
    expect(resolver.health().closed).toBe(true);
    await expect(resolver.credentials()).rejects.toMatchObject({ code: 'CLOSED' });
    expect(set.get('used')).toBe(resolver);
    expect(thrown(() => set.get('unused')).code).toBe('CLOSED');
    expect(set.health().unused).toEqual({ ready: false, stale: false, closed: true });
    // A source the application passed is the application's to close.
    expect(used.closes).toBe(0);
  });
});

/** A source whose loads wait until released, counting how many run at once. */
class GatedSource extends CountingSource {
  static running = 0;
  static most = 0;
  static gates: (() => void)[] = [];
  override async load(): Promise<CredentialMaterial> {
    GatedSource.running++;
    GatedSource.most = Math.max(GatedSource.most, GatedSource.running);
    try {
      await new Promise<void>((resolve) => GatedSource.gates.push(resolve));
      return await super.load();
    } finally {
      GatedSource.running--;
    }
  }
}

/** Lets the gated loads through, a batch at a time, until `done` settles. */
async function releaseUntil(done: Promise<unknown>): Promise<void> {
  let finished = false;
  done.then(
    () => {
      finished = true;
    },
    () => {
      finished = true;
    },
  );
  while (!finished) {
    for (const open of GatedSource.gates.splice(0)) open();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('createTlsResolvers: ready()', () => {
  it('loads and validates every credential, each once, and later uses load nothing more', async () => {
    const sources = Array.from(
      { length: 40 },
      (_, i) => new CountingSource(`memory:${i}`, materialOf(alice)),
    );
    const set = createTlsResolvers(Object.fromEntries(sources.map((s, i) => [`t${i}`, s])));
    try {
      await set.ready();
      expect(sources.map((s) => s.loads)).toEqual(new Array(40).fill(1));
      expect(Object.values(set.health()).every((h) => h.ready)).toBe(true);
      await set.get('t3').credentials();
      expect(sources[3]!.loads).toBe(1);
      // Ready again: nothing to load.
      await set.ready();
      expect(sources.reduce((n, s) => n + s.loads, 0)).toBe(40);
    } finally {
      await set.close();
    }
  });

  it('loads at most `concurrency` credentials at a time (16 by default)', async () => {
    for (const [concurrency, expected] of [
      [undefined, 16],
      [3, 3],
    ] as const) {
      GatedSource.most = 0;
      const sources = Array.from({ length: 50 }, (_, i) => new GatedSource(`memory:${i}`, materialOf(bob)));
      const set = createTlsResolvers(Object.fromEntries(sources.map((s, i) => [`t${i}`, s])));
      try {
        const ready = set.ready(concurrency === undefined ? undefined : { concurrency });
        await releaseUntil(ready);
        await ready;
        expect(GatedSource.most).toBe(expected);
        expect(sources.every((s) => s.loads === 1)).toBe(true);
      } finally {
        await set.close();
      }
    }
  });

  it('tries every credential, then rejects naming each that failed and its code, with no secret', async () => {
    const missing: CredentialSource = {
      id: 'memory:missing',
      load: async () => {
        throw new MtlsError('SOURCE_NOT_FOUND', 'secret "tenants/eu" does not exist; create it', {
          sourceId: 'memory:missing',
        });
      },
    };
    // Alice's certificate with Bob's key, and a passphrase nobody needs: KEY_MISMATCH.
    const mismatched = new CountingSource('memory:mismatched', {
      cert: alice.certPem,
      key: bob.keyPem,
      passphrase: 'hunter2-not-needed',
    });
    const good = Array.from({ length: 12 }, (_, i) => new CountingSource(`memory:${i}`, materialOf(alice)));
    const set = createTlsResolvers({
      a: good[0]!,
      eu: missing,
      b: good[1]!,
      mixed: mismatched,
      ...Object.fromEntries(good.slice(2).map((s, i) => [`t${i}`, s])),
    });
    try {
      const err = await set.ready({ concurrency: 2 }).then(
        () => {
          throw new Error('ready() resolved');
        },
        (e: unknown) => e,
      );
      expect(MtlsError.is(err)).toBe(true);
      const e = err as MtlsError;
      expect(e.code).toBe('SOURCE_NOT_FOUND');
      expect(e.retryable).toBe(false);
      expect(e.message).toMatch(
        /^2 of 14 credentials could not be loaded: "eu" \(SOURCE_NOT_FOUND\), "mixed" \(KEY_MISMATCH\)\. The first: credential "eu": secret "tenants\/eu" does not exist/,
      );
      // Every other credential was still tried, and is ready.
      expect(good.every((s) => s.loads === 1)).toBe(true);
      expect(mismatched.loads).toBe(1);
      const health = set.health();
      expect(health.mixed?.lastError?.code).toBe('KEY_MISMATCH');
      expect(Object.entries(health).filter(([, h]) => h.ready)).toHaveLength(12);
      leakCheck([bob.keyPem.split('\n')[3]!, bob.keyDer, 'hunter2-not-needed']).check(e, 'ready() error');
    } finally {
      await set.close();
    }
  });

  it('names the first ten failures and counts the rest', async () => {
    const broken = (i: number): CredentialSource => ({
      id: `memory:${i}`,
      load: async () => ({ cert: alice.certPem }),
    });
    const set = createTlsResolvers(
      Object.fromEntries(Array.from({ length: 25 }, (_, i) => [`t${i}`, broken(i)])),
    );
    try {
      const err = await set.ready().catch((e: MtlsError) => e);
      expect(err).toMatchObject({ code: 'MISSING_FIELD' });
      expect((err as MtlsError).message).toMatch(
        /^25 of 25 credentials could not be loaded: "t0" \(MISSING_FIELD\), .*"t9" \(MISSING_FIELD\) and 15 more\./,
      );
    } finally {
      await set.close();
    }
  });

  it('refuses a bad concurrency, and a closed set', async () => {
    const set = createTlsResolvers({ a: new CountingSource('memory:a', materialOf(alice)) });
    for (const concurrency of [0, -1, 1.5, Number.NaN]) {
      await expect(set.ready({ concurrency })).rejects.toMatchObject({ code: INVALID_OPTION });
    }
    await set.close();
    await expect(set.ready()).rejects.toMatchObject({ code: 'CLOSED' });
  });
});

describe('createTlsResolvers: shared options', () => {
  it('a bad shared option is reported once, as shared', () => {
    const config = { a: new CountingSource('memory:a', materialOf(alice)), b: { source: 'env:' } };
    const err = thrown(() => createTlsResolvers(config, { refreshIntervalMs: -1 }));
    expect(err.message).toMatch(/^shared options: options\.refreshIntervalMs/);
    expect(thrown(() => tlsResolversFromEnv({ MTLS_SOURCE: 'env:' }, { jitter: 2 })).message).toMatch(
      /^shared options: options\.jitter/,
    );
  });

  it('a name’s own option overrides the shared one', async () => {
    const set = createTlsResolvers(
      { a: { source: new CountingSource('memory:a', materialOf(alice)), mode: 'on-access' } },
      { mode: 'background' },
    );
    try {
      await new Promise((resolve) => setTimeout(resolve, 20));
      const resolver = set.get('a');
      await new Promise((resolve) => setTimeout(resolve, 20));
      // on-access: even once created, nothing is read until asked.
      expect(resolver.health().lastRefreshAt).toBeUndefined();
      await resolver.credentials();
      expect(resolver.health().ready).toBe(true);
    } finally {
      await set.close();
    }
  });
});

describe('tlsResolversFromEnv', () => {
  const envOf = (cert: IssuedCert, prefix = 'MTLS_') => ({
    [`${prefix}CERT`]: Buffer.from(cert.certPem).toString('base64'),
    [`${prefix}KEY`]: Buffer.from(cert.keyPem).toString('base64'),
  });

  it('maps MTLS_SOURCE to "default" and MTLS_SOURCE_<NAME> to its lower-case name', async () => {
    const set = tlsResolversFromEnv({
      MTLS_SOURCE: 'env:',
      MTLS_SOURCE_EU_WEST: 'env:?prefix=EU_',
      MTLS_SOURCE_TEST: `file:${dir}`,
      MTLS_SOURCE_FILE_UNRELATED: undefined,
      ...envOf(alice),
      ...envOf(bob, 'EU_'),
    });
    try {
      expect(set.names).toEqual(['default', 'eu_west', 'test']);
      expect((await set.get().credentials()).fingerprint256).toBe(alice.fingerprint256);
      expect((await set.get('eu_west').credentials()).fingerprint256).toBe(bob.fingerprint256);
      expect((await set.get('test').credentials()).fingerprint256).toBe(bob.fingerprint256);
    } finally {
      await set.close();
    }
  });

  it('reads only the environment given, never process.env, also for the variables env: reads', async () => {
    for (const [name, value] of Object.entries({ ...envOf(bob), MTLS_SOURCE_STRAY: 'env:' })) {
      vi.stubEnv(name, value);
    }
    const env: Record<string, string> = { MTLS_SOURCE_ONE: 'env:', ...envOf(alice) };
    const set = tlsResolversFromEnv(env);
    try {
      expect(set.names).toEqual(['one']);
      expect((await set.get('one').credentials()).fingerprint256).toBe(alice.fingerprint256);
      // The set, its resolver and their health hold the environment but never show it.
      const check = leakCheck([alice.keyPem, env.MTLS_KEY!]);
      check.check(set, 'the set');
      check.check(set.get('one'), 'the resolver');
      check.check(set.health(), 'health()');
    } finally {
      await set.close();
    }
  });

  it('defaults to process.env', async () => {
    for (const [name, value] of Object.entries({ MTLS_SOURCE_FROM_PROCESS: 'env:', ...envOf(bob) })) {
      vi.stubEnv(name, value);
    }
    const set = tlsResolversFromEnv();
    try {
      expect(set.names).toContain('from_process');
      expect((await set.get('from_process').credentials()).fingerprint256).toBe(bob.fingerprint256);
    } finally {
      await set.close();
    }
  });

  it('refuses an empty value, a bare prefix, two variables for one name, and an environment with none', () => {
    const empty = thrown(() => tlsResolversFromEnv({ MTLS_SOURCE_EU: 'env:', MTLS_SOURCE_US: '  ' }));
    expect(empty.code).toBe(INVALID_OPTION);
    expect(empty.message).toMatch(/^MTLS_SOURCE_US is set but empty/);
    expect(thrown(() => tlsResolversFromEnv({ MTLS_SOURCE_: 'env:' })).message).toMatch(
      /^MTLS_SOURCE_ names no credential/,
    );
    expect(
      thrown(() => tlsResolversFromEnv({ MTLS_SOURCE: 'env:', MTLS_SOURCE_DEFAULT: 'env:' })).message,
    ).toBe('MTLS_SOURCE and MTLS_SOURCE_DEFAULT both name the credential "default": keep one of them');
    expect(thrown(() => tlsResolversFromEnv({ MTLS_SOURCE_EU: 'env:', MTLS_SOURCE_eu: 'env:' })).code).toBe(
      INVALID_OPTION,
    );
    const none = thrown(() => tlsResolversFromEnv({ MTLS_CERT: 'x', PATH: '/usr/bin' }));
    expect(none.code).toBe('SOURCE_NOT_FOUND');
    expect(none.message).toMatch(/set MTLS_SOURCE .* or MTLS_SOURCE_<NAME>/);
  });

  it('an unknown name says which variable would add it', () => {
    const set = tlsResolversFromEnv({ MTLS_SOURCE_EU: 'env:' });
    expect(thrown(() => set.get('us_east')).message).toBe(
      'no credential named "us_east" (known: "eu"); set MTLS_SOURCE_US_EAST to add it',
    );
  });

  it('a malformed reference fails on first use, naming its variable, without echoing secrets', async () => {
    const secret = 'Sup3r-Secret-Passphrase-Value';
    const set = tlsResolversFromEnv({ MTLS_SOURCE_EU: `env:?bogus=1&passphrase=${secret}` });
    const check = leakCheck([secret]);
    try {
      const err = await set
        .get('eu')
        .credentials()
        .catch((e: unknown) => e);
      expect(MtlsError.is(err, 'INVALID_REFERENCE')).toBe(true);
      expect((err as MtlsError).message).toMatch(/^MTLS_SOURCE_EU: /);
      check.check(err, 'the error of a malformed MTLS_SOURCE_EU');
      check.check(set.health(), 'health()');
    } finally {
      await set.close();
    }
  });

  it('a credential pasted where a reference belongs is refused without being echoed', async () => {
    const env = {
      MTLS_SOURCE_EU: alice.keyPem,
      MTLS_SOURCE_US: Buffer.from(alice.keyPem).toString('base64'),
    };
    const set = tlsResolversFromEnv(env);
    const check = leakCheck([alice.keyPem]);
    try {
      for (const name of ['eu', 'us']) {
        const err = await set
          .get(name)
          .credentials()
          .catch((e: unknown) => e);
        expect(MtlsError.is(err, 'INVALID_REFERENCE'), String(err)).toBe(true);
        expect((err as MtlsError).message).toMatch(/^MTLS_SOURCE_(EU|US): /);
        check.check(err, `the error of MTLS_SOURCE_${name.toUpperCase()}`);
      }
      check.check(set.health(), 'health()');
    } finally {
      await set.close();
    }
  });

  it('hands the source its environment, forwards its watch(), and closes what it made', async () => {
    const made: Array<{ deps: SourceDeps; closes: number; unwatched: number; notify?: () => void }> = [];
    const unregister = registerScheme({
      scheme: 'namedtest',
      packageName: 'mtlskit-namedtest',
      options: {},
      create(_ref, deps) {
        const record: (typeof made)[number] = { deps, closes: 0, unwatched: 0 };
        made.push(record);
        return {
          id: 'namedtest://x',
          kind: 'static',
          async load() {
            return { ...materialOf(deps.env?.WHO === 'bob' ? bob : alice), version: deps.env?.WHO };
          },
          async version() {
            return String(deps.env?.WHO);
          },
          watch(onChange) {
            record.notify = onChange;
            return () => {
              record.unwatched++;
            };
          },
          async close() {
            record.closes++;
          },
        } satisfies CredentialSource;
      },
    });
    const env: Record<string, string> = { MTLS_SOURCE_X: 'namedtest://x', WHO: 'alice' };
    const set = tlsResolversFromEnv(env);
    try {
      const resolver = set.get('x');
      expect((await resolver.credentials()).fingerprint256).toBe(alice.fingerprint256);
      expect(made).toHaveLength(1);
      expect(made[0]!.deps.env).toBe(env);
      // watch() attached once the source existed: a push makes the resolver read again.
      await vi.waitFor(() => expect(made[0]!.notify).toBeTypeOf('function'));
      env.WHO = 'bob';
      const rotated = new Promise((resolve) => resolver.once('rotated', resolve));
      made[0]!.notify!();
      await rotated;
      expect((await resolver.credentials()).fingerprint256).toBe(bob.fingerprint256);
    } finally {
      await set.close();
      unregister();
    }
    expect(made[0]).toMatchObject({ closes: 1, unwatched: 1 });
  });
});
