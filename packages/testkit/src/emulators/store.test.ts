import { describe, expect, it } from 'vitest';
import { SecretStore } from './store.js';

describe('SecretStore', () => {
  it('makes each new version current and hands the previous label to the version it replaced', () => {
    const store = new SecretStore({ currentLabel: 'AWSCURRENT', previousLabel: 'AWSPREVIOUS' });
    const v1 = store.put('prod/mtls', 'one');
    const v2 = store.put('prod/mtls', 'two');
    const v3 = store.put('prod/mtls', 'three');

    expect(store.get('prod/mtls')?.value).toBe('three');
    expect(store.get('prod/mtls', { label: 'AWSPREVIOUS' })?.id).toBe(v2.id);
    expect(store.get('prod/mtls', { versionId: v1.id })?.labels).toEqual([]);
    expect(store.describe('prod/mtls')?.versions.map((v) => [v.number, v.labels])).toEqual([
      [1, []],
      [2, ['AWSPREVIOUS']],
      [3, ['AWSCURRENT']],
    ]);
    expect(v3.number).toBe(3);
    // Written within one millisecond, they still come out in order.
    expect(v1.createdAt < v2.createdAt && v2.createdAt < v3.createdAt).toBe(true);
  });

  it('stages a version under another label without touching the current one, then promotes it', () => {
    const store = new SecretStore({ currentLabel: 'AWSCURRENT', previousLabel: 'AWSPREVIOUS' });
    const live = store.put('s', 'live');
    const pending = store.put('s', 'next', { labels: ['AWSPENDING'] });
    expect(store.get('s')?.id).toBe(live.id);
    expect(store.get('s', { label: 'AWSPENDING' })?.value).toBe('next');

    store.moveLabel('s', 'AWSCURRENT', { to: pending.id, from: live.id });
    store.moveLabel('s', 'AWSPENDING', { from: pending.id });
    expect(store.get('s')?.value).toBe('next');
    expect(store.get('s', { label: 'AWSPREVIOUS' })?.id).toBe(live.id);
    expect(store.get('s', { label: 'AWSPENDING' })).toBeUndefined();
  });

  it('finds nothing when a version id and a label name different versions, or either is unknown', () => {
    const store = new SecretStore();
    const v1 = store.put('s', 'a');
    store.put('s', 'b');
    expect(store.get('s', { versionId: v1.id, label: 'current' })).toBeUndefined();
    expect(store.get('s', { versionId: v1.id, label: 'previous' })?.value).toBe('a');
    expect(store.get('s', { versionId: 'nope' })).toBeUndefined();
    expect(store.get('s', { label: 'nope' })).toBeUndefined();
    expect(store.get('missing')).toBeUndefined();
  });

  it('numbers versions with a counter or a function when asked', () => {
    const counted = new SecretStore({ versionIds: 'counter' });
    expect([counted.put('s', 'a').id, counted.put('s', 'b').id]).toEqual(['1', '2']);
    const named = new SecretStore({ versionIds: (secret, n) => `${secret}-v${n}` });
    expect(named.put('x', 'a').id).toBe('x-v1');
    expect(() => named.put('x', 'b', { versionId: 'x-v1' })).toThrow(/already has a version/);
  });

  it('hands out snapshots: changing a returned value or the input bytes does not change the store', () => {
    const store = new SecretStore();
    const input = new Uint8Array([1, 2, 3]);
    store.put('bin', input);
    input[0] = 9;
    const read = store.get('bin')!.value as Uint8Array;
    read[1] = 9;
    expect([...(store.get('bin')!.value as Uint8Array)]).toEqual([1, 2, 3]);
    expect(Object.isFrozen(store.get('bin')!.labels)).toBe(true);
  });

  it('keeps disabled versions but reports them as disabled', () => {
    const store = new SecretStore({ versionIds: 'counter' });
    store.put('s', 'a');
    store.setEnabled('s', '1', false);
    expect(store.get('s', { versionId: '1' })?.enabled).toBe(false);
    expect(store.latest('s')?.enabled).toBe(false);
    expect(store.delete('s')).toBe(true);
    expect(store.names()).toEqual([]);
  });
});
