import { afterEach, describe, expect, it, vi } from 'vitest';
import { credentialTimes, refreshDelay, resolveSchedule, SYSTEM_CLOCK, WakeUp } from './schedule.js';

const S = 1000;

describe('credentialTimes', () => {
  const schedule = resolveSchedule({}, undefined);

  it('renews an issuing source at two thirds of the lifetime, counted from notBefore', () => {
    const t = credentialTimes(schedule, 'issuing', 0, 90 * S, 0);
    expect(t.renewAt).toBe(60 * S);
    expect(t.warnAt).toBe(Number.POSITIVE_INFINITY);
  });

  it('counts an issuing lifetime from arrival when a backdated notBefore makes it due on arrival (Vault PKI: 30 s)', () => {
    // A 9 s certificate received at t=30 s whose notBefore says t=0: from notBefore, renewal was due at
    // t=26 s, before it arrived; from arrival, at two thirds of the 9 s it has.
    expect(credentialTimes(schedule, 'issuing', 0, 39 * S, 30 * S).renewAt).toBe(36 * S);
    // Not due on arrival: counted from notBefore as before.
    expect(credentialTimes(schedule, 'issuing', 0, 90 * S, 30 * S).renewAt).toBe(60 * S);
    // Aged, not backdated (a stale cache): stays due, so the resolver asks again.
    expect(credentialTimes(schedule, 'issuing', 0, 3_600 * S, 3_000 * S).renewAt).toBe(2_400 * S);
  });

  it('leaves a static source counted from notBefore (someone else renews it)', () => {
    const t = credentialTimes(schedule, 'static', 0, 90 * S, 30 * S);
    expect(t.renewAt).toBe(60 * S);
    expect(t.warnAt).toBeLessThan(90 * S);
  });
});

describe('refreshDelay', () => {
  afterEach(() => vi.restoreAllMocks());
  const schedule = resolveSchedule({ refreshIntervalMs: 1_000 * S }, undefined);
  // A static certificate valid for a year, received now: far from its warning window.
  const year = 365 * 86_400 * S;
  const times = credentialTimes(schedule, 'static', 0, year, 0);

  it('spreads the first check from a tenth of the interval to all of it; later ones are shortened by up to jitter', () => {
    const at = (random: number, first: boolean) => {
      vi.spyOn(Math, 'random').mockReturnValue(random);
      return refreshDelay(schedule, 'static', times, 0, first);
    };
    expect(at(0, true)).toBeCloseTo(1_000 * S);
    expect(at(0.5, true)).toBeCloseTo(550 * S);
    expect(at(1, true)).toBeCloseTo(100 * S);
    expect(at(0, false)).toBeCloseTo(1_000 * S);
    expect(at(0.5, false)).toBeCloseTo(950 * S);
    expect(at(1, false)).toBeCloseTo(900 * S);
  });

  it('spreads 10,000 first checks evenly over the interval', () => {
    const tenths = new Array<number>(10).fill(0);
    for (let i = 0; i < 10_000; i++) {
      const delay = refreshDelay(schedule, 'static', times, 0, true);
      tenths[Math.min(9, Math.floor(delay / (100 * S)))]!++;
    }
    // None before a tenth of the interval, then 10,000 / 9 = 1,111 in each tenth (± 5 sd of 31).
    expect(tenths[0]).toBe(0);
    for (const n of tenths.slice(1)) {
      expect(n).toBeGreaterThan(955);
      expect(n).toBeLessThan(1_270);
    }
  });

  it('keeps the interval exact with jitter 0, and near expiry polls as before, first or not', () => {
    const exact = resolveSchedule({ refreshIntervalMs: 1_000 * S, jitter: 0 }, undefined);
    expect(refreshDelay(exact, 'static', times, 0, true)).toBe(1_000 * S);
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    // 10 s before notAfter of a 90 s certificate (inside its warning window, a third of its lifetime):
    // a quarter of what is left.
    const short = credentialTimes(exact, 'static', 0, 90 * S, 0);
    expect(refreshDelay(exact, 'static', short, 80 * S, true)).toBe(2_500);
    expect(refreshDelay(schedule, 'static', short, 80 * S, true)).toBeCloseTo(2_500 * 0.95);
  });
});

describe('WakeUp on the system clock', () => {
  afterEach(() => vi.useRealTimers());

  it('wakes many at their own deadlines, in order, through one timer; disarmed ones never', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const start = Date.now();
    const fired: Array<{ id: number; at: number }> = [];
    const deadlines = Array.from({ length: 100 }, (_, id) => start + 1_000 + ((id * 7_919) % 100) * 1_000);
    const wakeUps = deadlines.map(
      (_, id) => new WakeUp(SYSTEM_CLOCK, () => fired.push({ id, at: Date.now() })),
    );
    for (const [id, w] of wakeUps.entries()) w.arm(deadlines[id]!);
    expect(vi.getTimerCount()).toBe(1);
    // Disarmed, and armed again later: the later deadline counts.
    wakeUps[3]!.disarm();
    wakeUps[4]!.arm(start + 500_000);
    expect(wakeUps[3]!.armed).toBe(false);

    await vi.advanceTimersByTimeAsync(100_000);
    const expected = deadlines
      .map((at, id) => ({ id, at }))
      .filter(({ id }) => id !== 3 && id !== 4)
      .sort((a, b) => a.at - b.at || a.id - b.id);
    expect(fired.map((f) => f.id).sort((a, b) => a - b)).toEqual(
      expected.map((e) => e.id).sort((a, b) => a - b),
    );
    for (const f of fired) expect(f.at).toBeGreaterThanOrEqual(deadlines[f.id]!);
    // Each woke within a millisecond of its deadline, in deadline order.
    for (const f of fired) expect(f.at - deadlines[f.id]!).toBeLessThanOrEqual(1);
    expect(fired.map((f) => deadlines[f.id])).toEqual(expected.map((e) => e.at));
    expect(vi.getTimerCount()).toBe(1);

    await vi.advanceTimersByTimeAsync(400_000);
    expect(fired.at(-1)).toEqual({ id: 4, at: start + 500_000 });
    expect(wakeUps.every((w) => !w.armed)).toBe(true);
    // Nothing left to wake: no timer left.
    expect(vi.getTimerCount()).toBe(0);
  });

  it('re-arms from its own callback, and an earlier deadline moves the one timer forward', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const start = Date.now();
    const times: number[] = [];
    const ticking: WakeUp = new WakeUp(SYSTEM_CLOCK, () => {
      times.push(Date.now() - start);
      if (times.length < 3) ticking.arm(Date.now() + 10_000);
    });
    const late = new WakeUp(SYSTEM_CLOCK, () => times.push(-1));
    late.arm(start + 60_000);
    ticking.arm(start + 10_000);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(35_000);
    expect(times).toEqual([10_000, 20_000, 30_000]);
    late.disarm();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(times).toEqual([10_000, 20_000, 30_000]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a wake-up that throws does not keep the others from waking', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const rethrown: Array<() => void> = [];
    vi.spyOn(globalThis, 'queueMicrotask').mockImplementation((fn) => rethrown.push(fn));
    const start = Date.now();
    const woke: string[] = [];
    const bad = new WakeUp(SYSTEM_CLOCK, () => {
      throw new Error('listener bug');
    });
    const good = new WakeUp(SYSTEM_CLOCK, () => woke.push('good'));
    bad.arm(start + 1_000);
    good.arm(start + 1_000);
    await vi.advanceTimersByTimeAsync(1_000);
    vi.restoreAllMocks();
    expect(woke).toEqual(['good']);
    // The error is thrown again on its own, as a timer of its own would have thrown it.
    expect(rethrown).toHaveLength(1);
    expect(() => rethrown[0]!()).toThrow('listener bug');
  });
});
