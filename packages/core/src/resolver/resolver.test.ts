// The resolver's own behaviour: single flight, scheduling (interval, jitter, warning window, issuing
// renewal, watch(), on-access), stale-on-error, backoff, expiry, events, close, and what its outputs
// reveal (leak checks, with one real mTLS server). Real certificates from the testkit CA; time from an
// injected clock where the test needs to move it (validation reads the same clock, so "expired" is
// real to the code). The clients themselves are tested end to end in tests/resolver/.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { type IssuedCert, leakCheck, startMtlsServer, TestCA } from '@mtlskit/testkit';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MtlsError } from '../errors.js';
import { sourceFromReference } from '../references/registry.js';
import { removeTranspiledCore, runNode, transpiledCore } from '../sources/__tests__/node-child.js';
import type { CredentialMaterial, CredentialSource, SourceKind } from '../types.js';
import type { ValidationPolicy } from '../validation/policy.js';
import {
  createTlsResolver,
  type ExpiringEvent,
  type RefreshFailedEvent,
  type RotatedEvent,
  type TlsResolver,
  type TlsResolverOptions,
} from './resolver.js';

/** A clock whose time and timers move only when the test says so. */
class ManualClock {
  #now: number;
  #timers = new Map<number, { at: number; fn: () => void }>();
  #nextId = 1;

  constructor(start = Date.now()) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): { id: number; unref(): void } {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.#now + ms, fn });
    return { id, unref() {} };
  }

  clearTimeout(handle: { id: number } | undefined): void {
    if (handle) this.#timers.delete(handle.id);
  }

  pendingTimers(): number {
    return this.#timers.size;
  }

  /** When each pending timer is due. */
  deadlines(): number[] {
    return [...this.#timers.values()].map((t) => t.at);
  }

  /** Moves time forward, firing due timers in order and letting the work they start settle. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      const due = [...this.#timers.entries()]
        .filter(([, t]) => t.at <= target)
        .sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.#timers.delete(due[0]);
      this.#now = Math.max(this.#now, due[1].at);
      due[1].fn();
      await settle();
    }
    this.#now = target;
    await settle();
  }
}

// Loads are real async work (decoding, validation, a SecureContext): give them a moment.
const settle = () => new Promise<void>((resolve) => setTimeout(resolve, 25));

/** An in-memory source: the test swaps its content, makes it fail, and counts its calls. */
class MemorySource implements CredentialSource {
  readonly id = 'memory:unit';
  kind: SourceKind = 'static';
  loads = 0;
  probes = 0;
  delayMs = 0;
  failure: Error | undefined;
  material: CredentialMaterial = {};
  generation = 0;

  serve(material: CredentialMaterial): this {
    this.material = material;
    this.generation++;
    return this;
  }

  // Reads the content when the load starts, then takes delayMs (a network round trip): a change made
  // during a load is not in its result, as with a real vault.
  async load(): Promise<CredentialMaterial> {
    this.loads++;
    const read = { ...this.material, version: String(this.generation) };
    if (this.delayMs) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    if (this.failure) throw this.failure;
    return read;
  }
}

class ProbedSource extends MemorySource {
  async version(): Promise<string> {
    this.probes++;
    return String(this.generation);
  }
}

/** A push source: the test reports changes with notify(). */
class WatchedSource extends MemorySource {
  watching = false;
  closed = false;
  #onChange: (() => void) | undefined;

  watch(onChange: () => void): () => void {
    this.watching = true;
    this.#onChange = onChange;
    return () => {
      this.watching = false;
      this.#onChange = undefined;
    };
  }

  notify(): void {
    this.#onChange?.();
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

const pair = (cert: IssuedCert, ca?: string): CredentialMaterial => ({
  cert: cert.fullChainPem,
  key: cert.keyPem,
  ...(ca ? { ca } : {}),
});

let ca: TestCA;
let a: IssuedCert;
let b: IssuedCert;
let c: IssuedCert;
const open: TlsResolver[] = [];

function resolver(options: TlsResolverOptions): TlsResolver {
  const r = createTlsResolver(options);
  open.push(r);
  return r;
}

beforeAll(async () => {
  ca = await TestCA.create();
  [a, b, c] = await Promise.all([ca.issueClient(), ca.issueClient(), ca.issueClient()]);
});
afterAll(async () => {
  await Promise.all(open.map((r) => r.close()));
  await removeTranspiledCore();
});

describe('createTlsResolver: loading', () => {
  it('1,000 concurrent cold calls share exactly one source load', async () => {
    const source = new MemorySource().serve(pair(a, ca.rootPem));
    source.delayMs = 30;
    const r = resolver({ source, mode: 'on-access' });
    const calls = Array.from({ length: 1000 }, (_, i) =>
      i % 3 === 0 ? r.credentials() : i % 3 === 1 ? r.secureContext() : r.tlsOptions(),
    );
    const results = await Promise.all(calls);
    expect(source.loads).toBe(1);
    const creds = results.filter((_, i) => i % 3 === 0);
    expect(new Set(creds).size).toBe(1);
    expect(new Set(results.filter((_, i) => i % 3 === 1)).size).toBe(1);
    expect((creds[0] as { fingerprint256: string }).fingerprint256).toBe(a.fingerprint256);
  });

  it("runs the policy's own check on each load: its error refuses a rotation (the old credentials stay), its warnings ride along", async () => {
    const clock = new ManualClock();
    const source = new MemorySource().serve(pair(a, ca.rootPem));
    const seenAt: number[] = [];
    const r = resolver({
      source,
      clock,
      mode: 'on-access',
      policy: {
        check: (credentials, { now }) => {
          seenAt.push(now);
          return credentials.leaf.fingerprint256 === b.fingerprint256
            ? [{ code: 'IDENTITY_MISMATCH', severity: 'error', message: 'Not ours.', fix: 'Use ours.' }]
            : [{ code: 'ORDER', severity: 'warning', message: 'Odd.', fix: 'None.' }];
        },
      },
    });
    const first = await r.credentials();
    expect(first.findings.map((f) => f.code)).toEqual(['ORDER']);
    source.serve(pair(b, ca.rootPem));
    await expect(r.refresh()).rejects.toMatchObject({
      code: 'IDENTITY_MISMATCH',
      message: 'Not ours. Use ours.',
    });
    expect(await r.credentials()).toBe(first);
    expect(seenAt).toEqual([clock.now(), clock.now()]);
  });

  it("any failure that is not an MtlsError (a check that throws, say) is SOURCE_UNAVAILABLE naming only the error's name and code", async () => {
    const token = 'hvs.CAESIJlZ0123456789abcdefghij';
    let fail = false;
    const source = new MemorySource().serve(pair(a, ca.rootPem));
    const r = resolver({
      source,
      mode: 'on-access',
      policy: {
        check: () => {
          if (fail)
            throw Object.assign(new TypeError(`lookup with token ${token} failed`), { code: 'E_LOOKUP' });
          return [];
        },
      },
    });
    const first = await r.credentials();
    fail = true;
    const err = (await r.refresh().catch((e: unknown) => e)) as MtlsError;
    expect(err).toMatchObject({ code: 'SOURCE_UNAVAILABLE', retryable: true });
    expect(err.message).toContain('failed (TypeError E_LOOKUP)');
    leakCheck([token]).check(err, 'the refresh error');
    expect(await r.credentials()).toBe(first);
  });

  it('a failed, corrupt or mismatched refresh keeps the last good credentials (never past their notAfter), reports refreshFailed, and recovers when fixed', async () => {
    const clock = new ManualClock();
    const short = await ca.issueClient({ notAfter: new Date(clock.now() + 3_600_000) });
    const source = new MemorySource().serve(pair(short, ca.rootPem));
    const r = resolver({ source, clock, mode: 'on-access' });
    const failures: RefreshFailedEvent[] = [];
    const rotations: RotatedEvent[] = [];
    r.on('refreshFailed', (e) => failures.push(e));
    r.on('rotated', (e) => rotations.push(e));
    const first = await r.credentials();

    source.failure = new Error('connect ECONNREFUSED 10.0.0.1:443');
    await expect(r.refresh()).rejects.toMatchObject({ code: 'SOURCE_UNAVAILABLE' });
    expect(await r.credentials()).toBe(first);
    source.failure = undefined;

    source.serve({ cert: 'this is not a certificate', key: short.keyPem, ca: ca.rootPem });
    await expect(r.refresh()).rejects.toMatchObject({ code: 'DECODE_FAILED' });
    expect(await r.credentials()).toBe(first);

    source.serve({ cert: short.fullChainPem, key: b.keyPem, ca: ca.rootPem });
    await expect(r.refresh()).rejects.toMatchObject({ code: 'KEY_MISMATCH' });
    expect(await r.credentials()).toBe(first);
    expect(r.health()).toMatchObject({ ready: true, stale: true, fingerprint256: short.fingerprint256 });
    expect(r.health().lastError?.code).toBe('KEY_MISMATCH');

    expect(failures.map((f) => [f.error.code, f.stale, f.fingerprint256])).toEqual([
      ['SOURCE_UNAVAILABLE', true, short.fingerprint256],
      ['DECODE_FAILED', true, short.fingerprint256],
      ['KEY_MISMATCH', true, short.fingerprint256],
    ]);
    expect(failures.every((f) => f.error instanceof MtlsError)).toBe(true);
    expect(rotations).toEqual([]);

    // Still failing at notAfter: the stale credential stops being served at once (the first use past
    // notAfter fails fast and starts a refresh in the background), and callers learn why.
    source.failure = new Error('connect ECONNREFUSED 10.0.0.1:443');
    await clock.advance(3_600_000);
    const retried = new Promise<RefreshFailedEvent>((resolve) => r.once('refreshFailed', resolve));
    await expect(r.credentials()).rejects.toMatchObject({
      code: 'EXPIRED',
      message: expect.stringContaining(short.fingerprint256),
    });
    expect((await retried).error.code).toBe('SOURCE_UNAVAILABLE');
    await expect(r.credentials()).rejects.toMatchObject({
      code: 'EXPIRED',
      message: expect.stringContaining(short.fingerprint256),
      cause: { code: 'SOURCE_UNAVAILABLE' },
    });
    await expect(r.secureContext()).rejects.toMatchObject({ code: 'EXPIRED' });
    expect(r.health()).toMatchObject({ ready: false, stale: false });
    expect(failures.at(-1)).toMatchObject({ stale: false, error: { code: 'SOURCE_UNAVAILABLE' } });
    expect(failures.at(-1)?.fingerprint256).toBeUndefined();

    source.failure = undefined;
    source.serve(pair(c, ca.rootPem));
    const fixed = await r.refresh();
    expect(fixed.fingerprint256).toBe(c.fingerprint256);
    expect(rotations).toEqual([
      {
        previousFingerprint256: short.fingerprint256,
        fingerprint256: c.fingerprint256,
        notAfter: c.notAfter,
      },
    ]);
    expect(r.health()).toMatchObject({ ready: true, stale: false, fingerprint256: c.fingerprint256 });
    expect(r.health().lastError).toBeUndefined();
  });

  it('refresh() while a load is in flight chains a new read after it: a certificate written just before the call is what it returns', async () => {
    const source = new MemorySource().serve(pair(a, ca.rootPem));
    const r = resolver({ source, mode: 'on-access' });
    await r.credentials();
    source.delayMs = 100;
    // A refresh is running and has read `a` (a timer, a watch() report, another caller)...
    const running = r.refresh();
    await vi.waitFor(() => expect(source.loads).toBe(2));
    // ...when the operator writes `b` and asks for it, twice: both calls share one new read.
    source.serve(pair(b, ca.rootPem));
    const forced = await Promise.all([r.refresh(), r.refresh()]);
    expect(forced.map((x) => x.fingerprint256)).toEqual([b.fingerprint256, b.fingerprint256]);
    // The running load read `a` before the write; joining it would have returned `a`.
    expect((await running).fingerprint256).toBe(a.fingerprint256);
    expect(source.loads).toBe(3);
    expect((await r.credentials()).fingerprint256).toBe(b.fingerprint256);
  });

  it('retries a failing source with exponential backoff up to the cap', async () => {
    const clock = new ManualClock();
    const source = new MemorySource().serve(pair(a, ca.rootPem));
    const r = resolver({
      source,
      clock,
      jitter: 0,
      refreshIntervalMs: 60_000,
      backoff: { initialMs: 100, maxMs: 800 },
    });
    const retries: number[] = [];
    r.on('refreshFailed', (e) => retries.push(e.retryInMs));
    await r.credentials();
    source.failure = new Error('503 Service Unavailable');
    await clock.advance(60_000);
    for (let i = 0; i < 5; i++) await clock.advance(retries.at(-1) ?? 0);
    expect(retries).toEqual([100, 200, 400, 800, 800, 800]);
    expect(source.loads).toBe(7);
    source.failure = undefined;
    await clock.advance(800);
    expect(source.loads).toBe(8);
    await vi.waitFor(() => expect(r.health()).toMatchObject({ stale: false, ready: true }));
    // Back to the normal interval.
    await clock.advance(59_000);
    expect(source.loads).toBe(8);
    await clock.advance(1_000);
    expect(source.loads).toBe(9);
  });

  it('while backing off with nothing loaded, callers fail fast with the load error instead of hammering the source', async () => {
    const clock = new ManualClock();
    const source = new MemorySource().serve(pair(a, ca.rootPem));
    source.failure = new MtlsError('ACCESS_DENIED', 'the role may not read memory:unit');
    const r = resolver({ source, clock, jitter: 0, backoff: { initialMs: 5_000 } });
    await expect(r.credentials()).rejects.toMatchObject({ code: 'ACCESS_DENIED' });
    const loads = source.loads;
    await expect(Promise.all([r.credentials(), r.credentials()])).rejects.toMatchObject({
      code: 'ACCESS_DENIED',
    });
    expect(source.loads).toBe(loads);
    expect(r.health()).toMatchObject({ ready: false, stale: false, lastError: { code: 'ACCESS_DENIED' } });
    source.failure = undefined;
    await clock.advance(5_000);
    expect((await r.credentials()).fingerprint256).toBe(a.fingerprint256);
  });

  it('abandons a load that hangs past loadTimeoutMs, aborting its signal, and keeps serving what it had', async () => {
    const source = new MemorySource().serve(pair(a, ca.rootPem));
    const r = resolver({ source, mode: 'on-access', loadTimeoutMs: 100 });
    await r.credentials();
    let aborted: unknown;
    source.load = (ctx?: { signal?: AbortSignal }) =>
      new Promise<CredentialMaterial>(() => {
        ctx?.signal?.addEventListener('abort', () => {
          aborted = ctx.signal?.reason;
        });
      });
    const started = performance.now();
    await expect(r.refresh()).rejects.toMatchObject({
      code: 'SOURCE_UNAVAILABLE',
      message: /longer than 100 ms/,
    });
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(aborted).toMatchObject({ code: 'SOURCE_UNAVAILABLE' });
    expect(r.health()).toMatchObject({ ready: true, stale: true, fingerprint256: a.fingerprint256 });
  });

  it('resolves a policy object once for the resolvers that share it, and again once it has changed', async () => {
    const source = new MemorySource().serve(pair(a, ca.rootPem));
    const finding = (code: string) => [{ code, severity: 'warning' as const, message: code, fix: '-' }];
    const policy: ValidationPolicy = { check: () => finding('FIRST_CHECK') };
    const first = resolver({ source, mode: 'on-access', policy });
    const same = resolver({ source, mode: 'on-access', policy });
    policy.check = () => finding('SECOND_CHECK');
    const changed = resolver({ source, mode: 'on-access', policy });
    const codes = async (r: TlsResolver) => (await r.credentials()).findings.map((f) => f.code);
    expect(await codes(first)).toContain('FIRST_CHECK');
    expect(await codes(same)).toContain('FIRST_CHECK');
    expect(await codes(changed)).toContain('SECOND_CHECK');
  });

  it('a malformed policy is refused at the first use, as INVALID_OPTION; one of another type does not break construction', async () => {
    const source = new MemorySource().serve(pair(a, ca.rootPem));
    const bad = resolver({ source, mode: 'on-access', policy: { fields: { cert: '' } } });
    await expect(bad.credentials()).rejects.toMatchObject({
      code: 'INVALID_OPTION',
      message: /fields\.cert/,
    });
    // Not objects (no WeakMap key): resolved on their own, as the spread of the option reads them.
    for (const policy of ['strict', 42]) {
      const r = resolver({ source, mode: 'on-access', policy: policy as unknown as ValidationPolicy });
      expect((await r.credentials()).fingerprint256).toBe(a.fingerprint256);
    }
  });

  it('makes an AbortSignal for a load only when the source reads one; one read after the deadline is aborted already', async () => {
    // Counts the controllers made from here on.
    const Real = globalThis.AbortController;
    let made = 0;
    globalThis.AbortController = class extends Real {
      constructor() {
        super();
        made++;
      }
    };
    try {
      const source = new MemorySource().serve(pair(a, ca.rootPem));
      const r = resolver({ source, mode: 'on-access', loadTimeoutMs: 100 });
      await r.credentials();
      // The source never looked at ctx.signal: nothing was made for it.
      expect(made).toBe(0);

      let late: AbortSignal | undefined;
      source.load = (ctx?: { signal?: AbortSignal }) =>
        new Promise<CredentialMaterial>((resolve) => {
          setTimeout(() => {
            late = ctx?.signal;
            resolve(pair(b, ca.rootPem));
          }, 300);
        });
      await expect(r.refresh()).rejects.toMatchObject({
        code: 'SOURCE_UNAVAILABLE',
        message: /longer than 100 ms/,
      });
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(late?.aborted).toBe(true);
      expect(late?.reason).toMatchObject({ code: 'SOURCE_UNAVAILABLE' });
      // What it yielded too late was dropped.
      expect(made).toBe(1);
      expect(r.health()).toMatchObject({ ready: true, stale: true, fingerprint256: a.fingerprint256 });
    } finally {
      globalThis.AbortController = Real;
    }
  });

  it('past notAfter with no valid replacement, every output fails fast with EXPIRED; a valid certificate brings it back', async () => {
    const clock = new ManualClock();
    const short = await ca.issueClient({ validForSeconds: 3600 });
    const source = new MemorySource().serve(pair(short, ca.rootPem));
    const r = resolver({ source, clock, jitter: 0 });
    await r.credentials();
    await clock.advance(3601_000);
    await expect(r.credentials()).rejects.toMatchObject({ code: 'EXPIRED' });
    await expect(r.secureContext()).rejects.toMatchObject({ code: 'EXPIRED' });
    await expect(r.tlsOptions()).rejects.toMatchObject({ code: 'EXPIRED' });
    expect(r.health()).toMatchObject({ ready: false, fingerprint256: short.fingerprint256 });
    expect(r.health().expiresInMs).toBeLessThan(0);

    const renewed = await ca.issueClient({ notAfter: new Date(clock.now() + 86_400_000) });
    source.serve(pair(renewed, ca.rootPem));
    expect((await r.refresh()).fingerprint256).toBe(renewed.fingerprint256);
    expect(r.health().ready).toBe(true);
  });
});

describe('createTlsResolver: scheduling', () => {
  it('checks a static source every refreshIntervalMs through its cheap version() probe, loading only on change', async () => {
    const clock = new ManualClock();
    const source = new ProbedSource().serve(pair(a, ca.rootPem));
    const r = resolver({ source, clock, jitter: 0, refreshIntervalMs: 60_000, warnDays: 0 });
    const rotated = vi.fn();
    r.on('rotated', rotated);
    await r.credentials();
    expect([source.loads, source.probes]).toEqual([1, 0]);
    await clock.advance(59_999);
    expect(source.probes).toBe(0);
    await clock.advance(1);
    expect([source.loads, source.probes]).toEqual([1, 1]);
    await clock.advance(60_000);
    expect([source.loads, source.probes]).toEqual([1, 2]);
    source.serve(pair(b, ca.rootPem));
    await clock.advance(60_000);
    expect([source.loads, source.probes]).toEqual([2, 3]);
    await vi.waitFor(() => expect(rotated).toHaveBeenCalledOnce());
    expect((await r.credentials()).fingerprint256).toBe(b.fingerprint256);
  });

  it('loads again when a load served an older version than its probe announced (a lagging replica)', async () => {
    const clock = new ManualClock();
    const source = new ProbedSource().serve(pair(a, ca.rootPem));
    const r = resolver({ source, clock, jitter: 0, refreshIntervalMs: 60_000, warnDays: 0 });
    await r.credentials();
    // The store moves to generation 2, but the first load after the probe still gets generation 1.
    const stale = source.material;
    source.serve(pair(b, ca.rootPem));
    const load = source.load.bind(source);
    let lagging = true;
    source.load = async () => {
      if (!lagging) return load();
      lagging = false;
      source.loads++;
      return { ...stale, version: '1' };
    };
    await clock.advance(60_000);
    expect([source.loads, source.probes]).toEqual([2, 1]);
    expect((await r.credentials()).fingerprint256).toBe(a.fingerprint256);
    await clock.advance(60_000);
    expect([source.loads, source.probes]).toEqual([3, 2]);
    expect((await r.credentials()).fingerprint256).toBe(b.fingerprint256);
  });

  it('inside the warning window, emits expiring once and checks a static source more often', async () => {
    const clock = new ManualClock();
    // Issued a year ago: the default window is 30 days (a third of the lifetime for shorter ones).
    const soon = await ca.issueClient({
      notBefore: new Date(clock.now() - 365 * 86_400_000),
      notAfter: new Date(clock.now() + 10 * 86_400_000),
    });
    const source = new MemorySource().serve(pair(soon, ca.rootPem));
    const r = resolver({ source, clock, jitter: 0, refreshIntervalMs: 30 * 86_400_000 });
    const expiring: ExpiringEvent[] = [];
    r.on('expiring', (e) => expiring.push(e));
    await r.credentials();
    await clock.advance(0);
    expect(expiring).toHaveLength(1);
    expect(expiring[0]).toMatchObject({ fingerprint256: soon.fingerprint256 });
    expect(expiring[0]?.expiresInMs).toBeGreaterThan(9 * 86_400_000);
    // A quarter of the remaining time, not the 30-day interval.
    await clock.advance(2.5 * 86_400_000);
    expect(source.loads).toBe(2);
    expect(expiring).toHaveLength(1);
  });

  it('emits expiring on entering the warning window, not before, and polls a static source more often as notAfter nears', async () => {
    const day = 86_400_000;
    const cert = await ca.issueClient({
      notBefore: new Date(Date.now() - 365 * day),
      notAfter: new Date(Date.now() + 40 * day),
    });
    // Certificates hold whole seconds: start the clock exactly 40 days before notAfter.
    const clock = new ManualClock(cert.notAfter.getTime() - 40 * day);
    const source = new ProbedSource().serve(pair(cert, ca.rootPem));
    const probedAt: number[] = [];
    const probe = source.version.bind(source);
    source.version = () => {
      probedAt.push(cert.notAfter.getTime() - clock.now());
      return probe();
    };
    const r = resolver({ source, clock, jitter: 0, refreshIntervalMs: 7 * day });
    const expiring: ExpiringEvent[] = [];
    r.on('expiring', (e) => expiring.push(e));
    await r.credentials();
    await clock.advance(10 * day - 1);
    expect(expiring).toEqual([]);
    await clock.advance(1);
    expect(expiring).toEqual([
      { fingerprint256: cert.fingerprint256, notAfter: cert.notAfter, expiresInMs: 30 * day },
    ]);
    await clock.advance(28 * day);
    expect(expiring).toHaveLength(1);
    // Days left at each check: the 7-day interval outside the window, then a quarter of what is left.
    const daysLeft = probedAt.map((ms) => ms / day);
    expect(daysLeft.slice(0, 4)).toEqual([33, 26, 19.5, 14.625]);
    for (let i = 2; i < daysLeft.length; i++) {
      expect((daysLeft[i - 1] as number) - (daysLeft[i] as number)).toBeCloseTo(
        (daysLeft[i - 1] as number) / 4,
      );
    }
    expect(daysLeft.at(-1)).toBeLessThan(3);
    // Each check was the version() probe; nothing changed, so nothing was loaded again.
    expect(source.loads).toBe(1);
  });

  it('spreads the first check over the interval, then shortens each delay by up to `jitter`, at random', async () => {
    const random = vi.spyOn(Math, 'random').mockReturnValue(0.5);
    try {
      const clock = new ManualClock();
      const source = new ProbedSource().serve(pair(a, ca.rootPem));
      const r = resolver({ source, clock, jitter: 0.2, refreshIntervalMs: 100_000, warnDays: 0 });
      await r.credentials();
      // The first check: at a random point between a tenth of the interval and all of it (here 55 s).
      await clock.advance(54_999);
      expect(source.probes).toBe(0);
      await clock.advance(1);
      expect(source.probes).toBe(1);
      // Then 100 s shortened by 0.2 × 0.5 of itself.
      await clock.advance(89_999);
      expect(source.probes).toBe(1);
      await clock.advance(1);
      expect(source.probes).toBe(2);
    } finally {
      random.mockRestore();
    }
  });

  it('checks credentials loaded together spread over the interval, not all in its last tenth', async () => {
    const clock = new ManualClock();
    const interval = 900_000;
    const resolvers = Array.from({ length: 300 }, () =>
      resolver({ source: new ProbedSource().serve(pair(a, ca.rootPem)), clock, refreshIntervalMs: interval }),
    );
    await Promise.all(resolvers.map((r) => r.credentials()));
    // One timer each, armed for its first check: count them by tenth of the interval.
    const deadlines = clock.deadlines();
    expect(deadlines).toHaveLength(300);
    const tenths = new Array<number>(10).fill(0);
    for (const at of deadlines) tenths[Math.min(9, Math.floor((at - clock.now()) / (interval / 10)))]!++;
    // None in the first tenth; then 300 / 9 = 33 in each (± 5 sd of 5.4). Shortening by up to 10%
    // alone would have put all 300 in the last tenth.
    expect(tenths[0]).toBe(0);
    for (const n of tenths.slice(1)) {
      expect(n).toBeGreaterThan(6);
      expect(n).toBeLessThan(61);
    }
    await Promise.all(resolvers.map((r) => r.close()));
  });

  it('renews an issuing source at 2/3 of the certificate lifetime and warns when renewal keeps failing', async () => {
    const clock = new ManualClock();
    const start = clock.now();
    // Each load mints a certificate valid for five minutes from about the time it is minted.
    const certs = await Promise.all(
      [0, 200_000].map((at) =>
        ca.issueClient({ notBefore: new Date(start + at - 1_000), notAfter: new Date(start + at + 299_000) }),
      ),
    );
    const source = new MemorySource();
    source.kind = 'issuing';
    const issued = [...certs];
    source.load = async () => {
      source.loads++;
      if (source.failure) throw source.failure;
      const next = issued.shift() as IssuedCert;
      return pair(next, ca.rootPem);
    };
    const r = resolver({ source, clock, jitter: 0, backoff: { initialMs: 10_000 } });
    const expiring = vi.fn();
    r.on('expiring', expiring);
    const first = await r.credentials();
    expect(expiring).not.toHaveBeenCalled();
    const lifetime = first.notAfter.getTime() - first.notBefore.getTime();
    const renewAt = first.notBefore.getTime() + (lifetime * 2) / 3;
    await clock.advance(renewAt - clock.now() - 1_000);
    expect(source.loads).toBe(1);
    source.failure = new MtlsError('SOURCE_UNAVAILABLE', 'vault is sealed');
    await clock.advance(1_000);
    expect(source.loads).toBe(2);
    expect(expiring).toHaveBeenCalledOnce();
    source.failure = undefined;
    await clock.advance(10_000);
    expect(source.loads).toBe(3);
    await vi.waitFor(async () =>
      expect((await r.credentials()).fingerprint256).toBe(certs[1]?.fingerprint256),
    );
  });

  it('asks an issuing source no version() probe, and at most once a second when what it returns is already past its renewal point', async () => {
    const clock = new ManualClock();
    // A stale cache in front of a PKI: the same certificate, 5/6 of its lifetime gone, at every load.
    const aging = await ca.issueClient({
      notBefore: new Date(clock.now() - 3_000_000),
      notAfter: new Date(clock.now() + 600_000),
    });
    const source = new ProbedSource().serve(pair(aging, ca.rootPem));
    source.kind = 'issuing';
    const r = resolver({ source, clock, jitter: 0 });
    await r.credentials();
    await clock.advance(10_000);
    expect(source.loads).toBe(11);
    expect(source.probes).toBe(0);
    expect(r.health()).toMatchObject({ ready: true, fingerprint256: aging.fingerprint256 });
  });

  it('on-access mode sets no timer and refreshes, in the background, when used after the interval', async () => {
    const clock = new ManualClock();
    const source = new MemorySource().serve(pair(a, ca.rootPem));
    const r = resolver({
      source,
      clock,
      mode: 'on-access',
      jitter: 0,
      refreshIntervalMs: 60_000,
      warnDays: 0,
    });
    expect(source.loads).toBe(0);
    await r.credentials();
    expect(clock.pendingTimers()).toBe(0);
    await clock.advance(120_000);
    expect(source.loads).toBe(1);
    source.serve(pair(b, ca.rootPem));
    // The call that notices the due refresh is served at once with what is in hand.
    expect((await r.credentials()).fingerprint256).toBe(a.fingerprint256);
    await vi.waitFor(() => expect(source.loads).toBe(2));
    await vi.waitFor(async () => expect((await r.credentials()).fingerprint256).toBe(b.fingerprint256));
    expect(clock.pendingTimers()).toBe(0);
  });

  it('on-access mode: the uses that find the credential expired wait for the refresh that starts (a function thawed after its renewal)', async () => {
    const clock = new ManualClock();
    const short = await ca.issueClient({ notAfter: new Date(clock.now() + 3_600_000) });
    const source = new MemorySource().serve(pair(short, ca.rootPem));
    const r = resolver({ source, clock, mode: 'on-access', jitter: 0, refreshIntervalMs: 86_400_000 });
    expect((await r.credentials()).fingerprint256).toBe(short.fingerprint256);
    // Frozen past notAfter; meanwhile the certificate was renewed in the vault.
    source.serve(pair(c, ca.rootPem));
    source.delayMs = 50;
    await clock.advance(2 * 3_600_000);
    const [first, second] = await Promise.all([r.credentials(), r.credentials()]);
    expect(first.fingerprint256).toBe(c.fingerprint256);
    expect(second).toBe(first);
    expect(source.loads).toBe(2);

    // The same when the last refresh before the freeze had failed (a passing outage).
    const beforeOutage = await ca.issueClient({ notAfter: new Date(clock.now() + 3_600_000) });
    source.delayMs = 0;
    source.serve(pair(beforeOutage, ca.rootPem));
    await r.refresh();
    source.failure = new Error('connect ECONNREFUSED 10.0.0.1:443');
    await expect(r.refresh()).rejects.toMatchObject({ code: 'SOURCE_UNAVAILABLE' });
    source.failure = undefined;
    source.serve(pair(c, ca.rootPem));
    await clock.advance(2 * 3_600_000);
    expect((await r.credentials()).fingerprint256).toBe(c.fingerprint256);

    // A refresh that fails leaves nothing valid: EXPIRED, and fast while the resolver backs off.
    const shortAgain = await ca.issueClient({ notAfter: new Date(clock.now() + 3_600_000) });
    source.delayMs = 0;
    source.serve(pair(shortAgain, ca.rootPem));
    await r.refresh();
    source.failure = new Error('connect ECONNREFUSED 10.0.0.1:443');
    await clock.advance(2 * 3_600_000);
    await expect(r.credentials()).rejects.toMatchObject({
      code: 'EXPIRED',
      cause: { code: 'SOURCE_UNAVAILABLE' },
    });
    const loads = source.loads;
    await expect(r.credentials()).rejects.toMatchObject({ code: 'EXPIRED' });
    expect(source.loads).toBe(loads);
  });

  it('re-reads a watch() source as soon as it reports a change (once more if it changes during a load), and close() stops watching', async () => {
    const source = new WatchedSource().serve(pair(a, ca.rootPem));
    const r = resolver({ source, clock: new ManualClock(), refreshIntervalMs: 3_600_000 });
    await r.credentials();
    source.serve(pair(b, ca.rootPem));
    source.notify();
    await vi.waitFor(async () => expect((await r.credentials()).fingerprint256).toBe(b.fingerprint256));
    expect(source.loads).toBe(2);
    // Three reports during one load: the load may have read the old value, so one more follows, not three.
    source.delayMs = 50;
    source.notify();
    source.serve(pair(c, ca.rootPem));
    source.notify();
    source.notify();
    await vi.waitFor(async () => expect((await r.credentials()).fingerprint256).toBe(c.fingerprint256));
    await settle();
    expect(source.loads).toBe(4);
    await r.close();
    expect(source.watching).toBe(false);
    // A source the caller passed in stays the caller's to close.
    expect(source.closed).toBe(false);
  });

  it('a source whose watch() throws still loads: refreshFailed reports it once, and polling on the interval takes over', async () => {
    const clock = new ManualClock();
    const source = new MemorySource().serve(pair(a, ca.rootPem));
    let watchCalls = 0;
    (source as CredentialSource).watch = () => {
      watchCalls++;
      throw new Error('inotify watch limit reached');
    };
    const r = resolver({ source, clock, jitter: 0, refreshIntervalMs: 60_000, warnDays: 0 });
    const failures: RefreshFailedEvent[] = [];
    r.on('refreshFailed', (e) => failures.push(e));
    expect((await r.credentials()).fingerprint256).toBe(a.fingerprint256);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({
      stale: false,
      fingerprint256: a.fingerprint256,
      retryInMs: 60_000,
      error: {
        code: 'SOURCE_UNAVAILABLE',
        sourceId: 'memory:unit',
        message: expect.stringMatching(/watching memory:unit .*inotify watch limit reached.*every 60000 ms/),
      },
    });
    expect(failures[0]?.error).toBeInstanceOf(MtlsError);
    // The load itself succeeded: nothing stale, no lastError.
    expect(r.health()).toMatchObject({ ready: true, stale: false });
    expect(r.health().lastError).toBeUndefined();
    source.serve(pair(b, ca.rootPem));
    await clock.advance(60_000);
    expect(source.loads).toBe(2);
    expect((await r.credentials()).fingerprint256).toBe(b.fingerprint256);
    // Not retried (nor reported) at every load.
    expect(watchCalls).toBe(1);
    expect(failures).toHaveLength(1);
    await r.close();
  });

  it('a watched file source (given as a reference string) rotates promptly when its files change', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtlskit-resolver-'));
    try {
      writeFileSync(join(dir, 'tls.crt'), a.fullChainPem);
      writeFileSync(join(dir, 'tls.key'), a.keyPem, { mode: 0o600 });
      const r = resolver({ source: `file:${dir}`, refreshIntervalMs: 3_600_000 });
      expect((await r.credentials()).fingerprint256).toBe(a.fingerprint256);
      const rotated = new Promise<RotatedEvent>((resolve) => r.once('rotated', resolve));
      writeFileSync(join(dir, 'tls.key'), b.keyPem, { mode: 0o600 });
      writeFileSync(join(dir, 'tls.crt'), b.fullChainPem);
      const event = await rotated;
      expect(event).toMatchObject({
        previousFingerprint256: a.fingerprint256,
        fingerprint256: b.fingerprint256,
      });
      await r.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('createTlsResolver: outputs, options and lifecycle', () => {
  it('gives TLS 1.2 as the floor and the CA replacing (default) or appended to the system roots', async () => {
    const source = new MemorySource().serve(pair(a, ca.rootPem));
    const replace = await resolver({ source, mode: 'on-access' }).tlsOptions();
    expect(replace).toMatchObject({ cert: a.fullChainPem, minVersion: 'TLSv1.2', ca: ca.rootPem });
    expect(replace.key).toContain('PRIVATE KEY');
    const append = await resolver({ source, mode: 'on-access', caMode: 'append' }).tlsOptions();
    expect(Array.isArray(append.ca)).toBe(true);
    expect(append.ca).toContain(ca.rootPem);
    expect((append.ca as string[]).length).toBeGreaterThanOrEqual(tls.rootCertificates.length + 1);
    const withoutCa = await resolver({
      source: new MemorySource().serve(pair(a)),
      mode: 'on-access',
    }).tlsOptions();
    expect(withoutCa.ca).toBeUndefined();
  });

  it('agent() and dispatcher() are synchronous and return the same object on every call', () => {
    const r = resolver({ source: new MemorySource().serve(pair(a, ca.rootPem)), mode: 'on-access' });
    expect(r.agent()).toBe(r.agent());
    expect(r.dispatcher()).toBe(r.dispatcher());
    // Node always passes a callback; a direct caller before the first load is told what to do.
    const agent = r.agent() as unknown as { createConnection(options: object): unknown };
    expect(() => agent.createConnection({ host: '127.0.0.1', port: 1 })).toThrow(
      expect.objectContaining({
        code: 'INVALID_OPTION',
        message: expect.stringMatching(/pass a callback/),
      }),
    );
  });

  it('close() releases callers waiting on a load at once, even when the source ignores its signal', async () => {
    const source = new MemorySource().serve(pair(a, ca.rootPem));
    source.delayMs = 3_000; // does not look at ctx.signal
    const r = resolver({ source, mode: 'on-access' });
    const waiting = [r.credentials(), r.refresh()].map((p) =>
      p.then(
        () => 'resolved',
        (err: unknown) => (err as MtlsError).code,
      ),
    );
    await vi.waitFor(() => expect(source.loads).toBe(1));
    const started = performance.now();
    await r.close();
    expect(await Promise.all(waiting)).toEqual(['CLOSED', 'CLOSED']);
    expect(performance.now() - started).toBeLessThan(1_500);
  });

  it('refuses a load whose certificate is at its notAfter instant: nothing installed, no rotation', async () => {
    const clock = new ManualClock();
    const source = new MemorySource().serve(pair(a, ca.rootPem));
    const r = resolver({ source, clock, mode: 'on-access' });
    await r.credentials();
    const rotations: RotatedEvent[] = [];
    r.on('rotated', (e) => rotations.push(e));
    // Validation accepts a certificate up to its notAfter second; the resolver would stop serving it
    // at that very instant.
    const ending = await ca.issueClient({
      notAfter: new Date(Math.floor((clock.now() + 60_000) / 1000) * 1000),
    });
    await clock.advance(ending.notAfter.getTime() - clock.now());
    source.serve(pair(ending, ca.rootPem));
    await expect(r.refresh()).rejects.toMatchObject({
      code: 'EXPIRED',
      message: expect.stringContaining(ending.fingerprint256),
    });
    expect(rotations).toEqual([]);
    expect((await r.credentials()).fingerprint256).toBe(a.fingerprint256);
  });

  it('close() is idempotent, stops its timers, and makes every later call reject with CLOSED', async () => {
    const clock = new ManualClock();
    const source = new MemorySource().serve(pair(a, ca.rootPem));
    const r = createTlsResolver({ source, clock });
    await r.credentials();
    expect(clock.pendingTimers()).toBe(1);
    const first = r.close();
    expect(r.close()).toBe(first);
    await first;
    await r.close();
    expect(clock.pendingTimers()).toBe(0);
    for (const call of [r.credentials(), r.secureContext(), r.tlsOptions(), r.refresh()]) {
      await expect(call).rejects.toMatchObject({ code: 'CLOSED' });
    }
    await expect(r.fetch('https://127.0.0.1:8443/')).rejects.toMatchObject({ cause: { code: 'CLOSED' } });
    expect(r.health()).toMatchObject({ closed: true, ready: false });
  });

  it('close() while the first load is in flight rejects its waiters with CLOSED', async () => {
    const source = new MemorySource().serve(pair(a, ca.rootPem));
    source.delayMs = 50;
    const r = createTlsResolver({ source });
    const waiting = r.credentials();
    await r.close();
    await expect(waiting).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('checks its options up front, naming the option at fault', () => {
    const source = new MemorySource();
    const bad: Array<[Partial<TlsResolverOptions>, RegExp]> = [
      [{ mode: 'sometimes' as never }, /options\.mode/],
      [{ jitter: 2 }, /options\.jitter/],
      [{ refreshIntervalMs: 0 }, /options\.refreshIntervalMs/],
      [{ issuingRenewFraction: 1 }, /options\.issuingRenewFraction/],
      [{ caMode: 'merge' as never }, /options\.caMode/],
      [{ agentOptions: { key: 'x' } }, /agentOptions\.key/],
      [{ agentOptions: { rejectUnauthorized: false } }, /rejectUnauthorized/],
      [{ proxy: { url: 'socks5://127.0.0.1:1080' } }, /options\.proxy\.url/],
    ];
    for (const [options, message] of bad) {
      expect(() => createTlsResolver({ source, ...options })).toThrow(message);
      try {
        createTlsResolver({ source, ...options });
      } catch (err) {
        expect(err).toMatchObject({ code: 'INVALID_OPTION' });
      }
    }
    expect(() => createTlsResolver({ source: 42 as never })).toThrow(/options\.source/);
  });

  it('events, health, errors, agent(), dispatcher() and failed fetch() calls carry fingerprints and codes, never key material or passphrases', async () => {
    const passphrase = 'resolver-unit-passphrase-7731';
    const server = await startMtlsServer({ clientCa: ca });
    try {
      const source = new MemorySource().serve({
        cert: a.fullChainPem,
        key: a.encryptedPkcs8Pem(passphrase),
        passphrase,
        ca: server.caPem,
      });
      const r = resolver({ source, mode: 'on-access' });
      const seen: unknown[] = [];
      r.on('rotated', (e) => seen.push(e));
      r.on('refreshFailed', (e) => seen.push(e));
      const get = (agent: https.Agent) =>
        new Promise<number>((resolve, reject) => {
          https
            .get(`${server.url}/leak`, { agent }, (res) => {
              res.resume();
              res.on('end', () => resolve(res.statusCode ?? 0));
            })
            .on('error', reject);
        });
      // Both clients hold a live keep-alive connection (and a cached TLS session) when inspected.
      expect(await get(r.agent())).toBe(200);
      expect((await r.fetch(`${server.url}/leak`).then((res) => res.json())) as object).toMatchObject({
        fingerprint256: a.fingerprint256,
      });
      source.serve({
        cert: a.fullChainPem,
        key: a.encryptedPkcs8Pem(passphrase),
        passphrase: 'wrong-passphrase!',
        ca: server.caPem,
      });
      const failure = await r.refresh().catch((err: unknown) => err);
      expect(failure).toMatchObject({ code: 'WRONG_PASSPHRASE' });
      const leaks = leakCheck([
        passphrase,
        'wrong-passphrase!',
        a.keyPem,
        b.keyPem,
        a.encryptedPkcs8Pem(passphrase),
      ]);
      leaks.check(r.agent(), 'agent() with a pooled connection');
      leaks.check(r.dispatcher(), 'dispatcher() with a pooled connection');
      source.serve({ cert: b.fullChainPem, key: b.keyPem, ca: server.caPem });
      await r.refresh();
      expect(seen).toHaveLength(2);
      leaks.check(seen, 'resolver events');
      leaks.check(failure, 'a failed refresh');
      leaks.check(r.health(), 'health()');
      leaks.check(r, 'the resolver object');

      // A resolver whose only credential cannot be decrypted: every request fails with its error.
      const locked = resolver({
        source: new MemorySource().serve({
          cert: a.fullChainPem,
          key: a.encryptedPkcs8Pem(passphrase),
          passphrase: 'wrong-passphrase!',
          ca: server.caPem,
        }),
        mode: 'on-access',
      });
      const fetchError = await locked.fetch(`${server.url}/leak`).catch((err: unknown) => err);
      expect(fetchError).toMatchObject({ cause: { code: 'WRONG_PASSPHRASE' } });
      const agentError = await get(locked.agent()).catch((err: unknown) => err);
      expect(agentError).toMatchObject({ code: 'WRONG_PASSPHRASE' });
      leaks.check(fetchError, 'a failed fetch()');
      leaks.check(agentError, 'a failed agent() request');
      leaks.check(locked.agent(), 'agent() after a failed load');
      leaks.check(locked.dispatcher(), 'dispatcher() after a failed load');
    } finally {
      await server.close();
    }
  });
});

describe('createTlsResolver: what a new user runs into', () => {
  it('a credentials() promise nobody awaited does not end the process at close(), nor when the first load fails', async () => {
    const core = await transpiledCore();
    const child = await runNode(`
      import { createTlsResolver } from ${JSON.stringify(`${core}/index.js`)};
      const failing = createTlsResolver({
        source: { id: 'test:unreachable', load: async () => { throw new Error('vault unreachable'); } },
      });
      failing.credentials(); // joins the first load, which fails; nobody awaits it
      await new Promise((r) => setTimeout(r, 100));
      failing.credentials(); // fails fast while backing off
      failing.secureContext();
      failing.tlsOptions();
      failing.refresh();
      await failing.close();
      failing.credentials(); // CLOSED
      const hung = createTlsResolver({ source: { id: 'test:hung', load: () => new Promise(() => {}) } });
      hung.credentials(); // still waiting for the first load when close() ends it
      await hung.close();
      await new Promise((r) => setTimeout(r, 100));
      console.log(JSON.stringify({
        failing: failing.health().lastError?.code,
        closed: failing.health().closed && hung.health().closed,
      }));
    `);
    expect(child.stderr).not.toMatch(/Unhandled|MtlsError/);
    expect(child.code).toBe(0);
    expect(JSON.parse(child.stdout)).toEqual({ failing: 'SOURCE_UNAVAILABLE', closed: true });
  });

  it('the promises it hands out still reject for whoever awaits them', async () => {
    const source = new MemorySource().serve(pair(a, ca.rootPem));
    source.failure = new Error('vault unreachable');
    const r = resolver({ source, mode: 'on-access' });
    await expect(r.credentials()).rejects.toMatchObject({ code: 'SOURCE_UNAVAILABLE' });
    await r.close();
    await expect(r.credentials()).rejects.toMatchObject({ code: 'CLOSED' });
    await expect(r.tlsOptions()).rejects.toMatchObject({ code: 'CLOSED' });
    await expect(r.refresh()).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('a Promise where the source belongs (a forgotten await) says so', () => {
    const pending = sourceFromReference('env:');
    const forgotten = { source: pending } as unknown as TlsResolverOptions;
    expect(() => createTlsResolver(forgotten)).toThrow(
      expect.objectContaining({
        code: 'INVALID_OPTION',
        message: expect.stringMatching(/given a Promise.*`await` missing/),
      }),
    );
    const options = Promise.resolve({ source: 'env:' }) as unknown as TlsResolverOptions;
    expect(() => createTlsResolver(options)).toThrow(/createTlsResolver\(options\) was given a Promise/);
  });

  it('takes a reference string for the source, and closes the source it built', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtlskit-resolver-ref-'));
    try {
      writeFileSync(join(dir, 'tls.crt'), a.fullChainPem);
      writeFileSync(join(dir, 'tls.key'), a.keyPem, { mode: 0o600 });
      const r = createTlsResolver({ source: `file:${dir}`, mode: 'on-access' });
      expect((await r.credentials()).fingerprint256).toBe(a.fingerprint256);
      await r.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('createTlsResolver: the warning window', () => {
  const day = 86_400_000;

  it('a 30-day certificate is not expiring at its first load: expiring fires at two thirds of its life', async () => {
    const cert = await ca.issueClient({ validForSeconds: 30 * 86_400 });
    const clock = new ManualClock(cert.notBefore.getTime() + 60_000);
    const source = new MemorySource().serve(pair(cert, ca.rootPem));
    const r = resolver({ source, clock, jitter: 0, refreshIntervalMs: 60 * day });
    const expiring: ExpiringEvent[] = [];
    r.on('expiring', (e) => expiring.push(e));
    const first = await r.credentials();
    expect(first.findings.map((f) => f.code)).not.toContain('EXPIRING_SOON');
    const lifetime = cert.notAfter.getTime() - cert.notBefore.getTime();
    await clock.advance((lifetime * 2) / 3 - 60_000 - 1_000);
    expect(expiring).toEqual([]);
    await clock.advance(2_000);
    expect(expiring).toHaveLength(1);
    expect(expiring[0]?.expiresInMs).toBeCloseTo(lifetime / 3, -4);
  });

  it('an explicit warnDays still wins, from the options or the policy', async () => {
    const cert = await ca.issueClient({ validForSeconds: 30 * 86_400 });
    for (const options of [{ warnDays: 30 }, { policy: { warnDays: 30 } }]) {
      const clock = new ManualClock(cert.notAfter.getTime() - 29.5 * day);
      const r = resolver({ source: new MemorySource().serve(pair(cert, ca.rootPem)), clock, ...options });
      const expiring: ExpiringEvent[] = [];
      r.on('expiring', (e) => expiring.push(e));
      const creds = await r.credentials();
      await clock.advance(0);
      expect(creds.findings.map((f) => f.code)).toContain('EXPIRING_SOON');
      expect(expiring).toHaveLength(1);
      expect(expiring[0]?.expiresInMs).toBeGreaterThan(29 * day);
    }
  });
});
