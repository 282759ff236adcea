import { describe, expect, it } from 'vitest';
import type { CredentialMaterial, CredentialSource, StageChange } from '../types.js';
import { withCa } from './ca.js';
import { withPassphrase } from './passphrase.js';

/** A source that keeps what it is given, with the renewal steps, recording each call. */
function renewable(): CredentialSource & { calls: string[]; pending?: CredentialMaterial } {
  const calls: string[] = [];
  const source = {
    id: 'mem:main',
    calls,
    pending: undefined as CredentialMaterial | undefined,
    async load() {
      return { cert: 'current cert', key: 'current key', version: 'v1' };
    },
    async storePending(material: CredentialMaterial) {
      calls.push(`storePending ${Object.keys(material).sort().join(',')}`);
      source.pending = material;
      return { version: 'v2' };
    },
    async loadPending() {
      calls.push('loadPending');
      return { ...source.pending, version: 'v2' };
    },
    async promote(version: string): Promise<StageChange> {
      calls.push(`promote ${version}`);
      return { current: version, previous: 'v1' };
    },
    async rollback(): Promise<StageChange> {
      calls.push('rollback');
      return { current: 'v1' };
    },
  };
  return source;
}

describe('withCa and withPassphrase pass the renewal steps through', () => {
  it('withCa: the pending version is written without the CA and read back with it', async () => {
    const main = renewable();
    const ca: CredentialSource = { id: 'env:API_CA', load: async () => ({ bundle: 'the CA' }) };
    const combined = withCa(main, ca);
    await combined.storePending!({ cert: 'new cert', key: 'new key', ca: 'copied CA' });
    expect(main.calls).toEqual(['storePending cert,key']);
    expect(await combined.loadPending!()).toMatchObject({ cert: 'new cert', key: 'new key', ca: 'the CA' });
    expect(await combined.promote!('v2')).toMatchObject({ current: 'v2' });
    await combined.rollback!();
    expect(main.calls.slice(1)).toEqual(['loadPending', 'promote v2', 'rollback']);
  });

  it('withPassphrase: the passphrase stays where it lives and joins what loadPending reads', async () => {
    const main = renewable();
    const pass: CredentialSource = { id: 'env:KEY_PASS', load: async () => ({ bundle: 'pass' }) };
    const combined = withPassphrase(main, pass);
    await combined.storePending!({ cert: 'new cert', key: 'new key', passphrase: 'pass' });
    expect(main.calls).toEqual(['storePending cert,key']);
    expect(await combined.loadPending!()).toMatchObject({ key: 'new key', passphrase: 'pass' });
  });

  it('withCa: store() writes to the main source without the CA, which stays where it lives', async () => {
    const written: CredentialMaterial[] = [];
    const main: CredentialSource = {
      id: 'mem:main',
      load: async () => ({ cert: 'current cert', key: 'current key' }),
      store: async (material) => {
        written.push(material);
        return { version: 'v2' };
      },
    };
    const combined = withCa(main, { id: 'env:API_CA', load: async () => ({ bundle: 'the CA' }) });
    expect(await combined.store!({ cert: 'new cert', key: 'new key', ca: 'a CA copied along' })).toEqual({
      version: 'v2',
    });
    expect(written).toEqual([{ cert: 'new cert', key: 'new key' }]);
    expect((await combined.load()).ca).toBe('the CA');
  });

  it('offers no step the wrapped source lacks', () => {
    const plain: CredentialSource = { id: 'mem:plain', load: async () => ({}) };
    const combined = withCa(plain, { id: 'env:CA', load: async () => ({ bundle: 'x' }) });
    expect([combined.storePending, combined.loadPending, combined.promote, combined.rollback]).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
  });
});
