import { describe, expect, it } from 'vitest';
import { corruptValue, FaultInjector } from './faults.js';

describe('FaultInjector', () => {
  it('applies a fault to the next matching call only, then lets calls through', () => {
    const faults = new FaultInjector();
    const fault = faults.inject({ kind: 'throttled', operation: 'GetSecretValue' });
    expect(faults.take({ operation: 'DescribeSecret', secret: 's' })).toBeUndefined();
    expect(faults.take({ operation: 'GetSecretValue', secret: 's' })?.kind).toBe('throttled');
    expect(faults.take({ operation: 'GetSecretValue', secret: 's' })).toBeUndefined();
    expect(fault.hits).toBe(1);
    expect(fault.remaining).toBe(0);
    expect(faults.pending()).toEqual([]);
  });

  it('matches on the secret, counts `times`, and serves faults first-queued first', () => {
    const faults = new FaultInjector();
    faults.inject({ kind: 'denied', secret: 'a', times: 2 });
    faults.inject({ kind: 'notFound' });
    expect(faults.take({ operation: 'X', secret: 'b' })?.kind).toBe('notFound');
    expect(faults.take({ operation: 'X', secret: 'a' })?.kind).toBe('denied');
    expect(faults.take({ operation: 'Y', secret: 'a' })?.kind).toBe('denied');
    expect(faults.take({ operation: 'Y', secret: 'a' })).toBeUndefined();
  });

  it('keeps an Infinity fault until it is cleared', () => {
    const faults = new FaultInjector();
    const fault = faults.inject({ kind: 'serverError', times: Number.POSITIVE_INFINITY });
    for (let i = 0; i < 5; i++) expect(faults.take({ operation: 'X' })?.kind).toBe('serverError');
    fault.clear();
    expect(faults.take({ operation: 'X' })).toBeUndefined();
    expect(fault.hits).toBe(5);
  });

  it('lets `after` matching calls through before the fault applies', () => {
    const faults = new FaultInjector();
    faults.inject({ kind: 'reset', operation: 'Get', after: 2 });
    expect(faults.take({ operation: 'Other' })).toBeUndefined();
    expect(faults.take({ operation: 'Get' })).toBeUndefined();
    expect(faults.take({ operation: 'Get' })).toBeUndefined();
    expect(faults.take({ operation: 'Get' })?.kind).toBe('reset');
    expect(faults.take({ operation: 'Get' })).toBeUndefined();
  });

  it('leaves a fault queued, unused and uncounted, for calls that cannot show its kind', () => {
    const faults = new FaultInjector();
    const fault = faults.inject({ kind: 'corrupt', after: 1 });
    const returnsValue = (op: string) => (kind: string) => kind !== 'corrupt' || op === 'Get';
    expect(faults.take({ operation: 'Describe' }, returnsValue('Describe'))).toBeUndefined();
    expect(faults.take({ operation: 'Describe' }, returnsValue('Describe'))).toBeUndefined();
    expect(fault.remaining).toBe(1);
    expect(faults.take({ operation: 'Get' }, returnsValue('Get'))).toBeUndefined(); // the one `after` lets through
    expect(faults.take({ operation: 'Describe' }, returnsValue('Describe'))).toBeUndefined();
    expect(faults.take({ operation: 'Get' }, returnsValue('Get'))?.kind).toBe('corrupt');
    expect(fault.hits).toBe(1);
    expect(faults.pending()).toEqual([]);
  });

  it('refuses a fault that could never apply', () => {
    expect(() => new FaultInjector().inject({ kind: 'reset', times: 0 })).toThrow(RangeError);
  });
});

describe('corruptValue', () => {
  it('damages the middle of a text and keeps its length and ends', () => {
    const value = '{"cert":"-----BEGIN CERTIFICATE-----abc"}';
    const damaged = corruptValue(value);
    expect(damaged).not.toBe(value);
    expect(damaged).toHaveLength(value.length);
    expect(damaged.startsWith(value.slice(0, 5))).toBe(true);
    expect(damaged.endsWith(value.slice(-5))).toBe(true);
  });

  it('inverts the middle of bytes and leaves the input untouched', () => {
    const value = new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7]);
    const damaged = corruptValue(value);
    expect([...damaged]).toEqual([0, 1, 0xfd, 0xfc, 0xfb, 0xfa, 6, 7]);
    expect([...value]).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(corruptValue('a')).not.toBe('a');
  });
});
