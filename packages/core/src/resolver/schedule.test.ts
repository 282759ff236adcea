import { describe, expect, it } from 'vitest';
import { credentialTimes, resolveSchedule } from './schedule.js';

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
