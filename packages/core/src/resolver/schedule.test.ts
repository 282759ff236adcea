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

  it('counts an issuing lifetime from arrival when notBefore is backdated (Vault PKI: 30 s)', () => {
    // A 60 s certificate received at t=30 s whose notBefore says t=0: from notBefore, renewal would
    // be due at 40 s of a 90 s span, 10 s after it arrived; from arrival, two thirds of the 60 s left.
    const t = credentialTimes(schedule, 'issuing', 0, 90 * S, 30 * S);
    expect(t.renewAt).toBe(70 * S);
    // Received after notAfter (a clock far off): never later than notAfter.
    expect(credentialTimes(schedule, 'issuing', 0, 90 * S, 200 * S).renewAt).toBe(90 * S);
  });

  it('leaves a static source counted from notBefore (someone else renews it)', () => {
    const t = credentialTimes(schedule, 'static', 0, 90 * S, 30 * S);
    expect(t.renewAt).toBe(60 * S);
    expect(t.warnAt).toBeLessThan(90 * S);
  });
});
