import { type IssuedCert, TestCA } from '@mtlskit/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import type { CredentialSource } from '../types.js';
import { loadCredentials } from '../validation/load.js';
import { inlineSource } from './inline.js';
import { withPassphrase } from './passphrase.js';

let client: IssuedCert;

beforeAll(async () => {
  client = await (await TestCA.create()).issueClient({ commonName: 'passphrase elsewhere' });
});

describe('withPassphrase', () => {
  it('takes the passphrase from the other source, whether it holds a passphrase field or one whole value', async () => {
    const main = inlineSource({ cert: client.fullChainPem, key: client.encryptedPkcs8Pem('pp-1') });
    for (const held of [{ passphrase: 'pp-1' }, { bundle: 'pp-1' }]) {
      const source = withPassphrase(main, inlineSource(held, { id: 'env:PASS' }));
      expect(source.id).toBe('inline');
      expect((await source.load()).passphrase).toBe('pp-1');
      expect((await loadCredentials(source)).fingerprint256).toBe(client.fingerprint256);
    }
  });

  it('says the passphrase source holds no passphrase, naming it', async () => {
    const main = inlineSource({ cert: client.fullChainPem, key: client.encryptedPkcs8Pem('pp-2') });
    const holdsACertificate = inlineSource({ cert: client.fullChainPem }, { id: 'file:/etc/mtls' });
    await expect(withPassphrase(main, holdsACertificate).load()).rejects.toMatchObject({
      code: 'MISSING_FIELD',
      field: 'passphrase',
      sourceId: 'file:/etc/mtls',
      message: 'The passphrase source file:/etc/mtls holds no passphrase.',
    });
  });

  it('changes version with either source, stores through the main one, and forwards watch and close to both', async () => {
    const main = inlineSource({ cert: client.fullChainPem, key: client.encryptedPkcs8Pem('pp-3') });
    const pass = inlineSource({ bundle: 'pp-3' });
    const events: string[] = [];
    const watched = (s: CredentialSource, name: string): CredentialSource =>
      Object.assign(Object.create(s) as CredentialSource, {
        watch(onChange: () => void) {
          events.push(`watch ${name}`);
          onChange();
          return () => events.push(`stop ${name}`);
        },
        async close() {
          events.push(`close ${name}`);
        },
      });
    const source = withPassphrase(watched(main, 'main'), watched(pass, 'pass'));
    const v1 = await source.version!();
    expect((await source.load()).version).toBe(v1);

    await pass.store({ bundle: 'pp-3 rotated' });
    const v2 = await source.version!();
    expect(v2).not.toBe(v1);
    await source.store!({ cert: client.fullChainPem, key: client.keyPem });
    expect(await source.version!()).not.toBe(v2);
    expect(await main.load()).toMatchObject({ key: client.keyPem });

    let changes = 0;
    const stop = source.watch!(() => changes++);
    stop();
    await source.close!();
    expect(changes).toBe(2);
    expect(events).toEqual([
      'watch main',
      'watch pass',
      'stop main',
      'stop pass',
      'close main',
      'close pass',
    ]);
  });

  it('store() writes a new passphrase to its own source, never into the main one, and reports the version load() sees', async () => {
    const main = inlineSource({ cert: client.fullChainPem, key: client.encryptedPkcs8Pem('pp-4') });
    const pass = inlineSource({ passphrase: 'pp-4' }, { id: 'vault://secret/pass' });
    const source = withPassphrase(main, pass);
    const written = await source.store!({
      cert: client.fullChainPem,
      key: client.encryptedPkcs8Pem('pp-5'),
      passphrase: 'pp-5',
    });
    expect((await main.load()).passphrase).toBeUndefined();
    expect((await pass.load()).passphrase).toBe('pp-5');
    const loaded = await source.load();
    expect(loaded.version).toBe(written.version);
    expect((await loadCredentials(source)).fingerprint256).toBe(client.fingerprint256);
  });

  it('store() refuses a new passphrase it cannot write (env:, file:), leaving the main source untouched', async () => {
    const original = { cert: client.fullChainPem, key: client.encryptedPkcs8Pem('pp-6') };
    const main = inlineSource(original);
    const readOnly: CredentialSource = { id: 'env:MTLS_KEY_PASS', load: async () => ({ bundle: 'pp-6' }) };
    const source = withPassphrase(main, readOnly, 'file:/etc/mtls?passphrase=env:MTLS_KEY_PASS');
    const err = await source.store!({
      ...original,
      key: client.encryptedPkcs8Pem('pp-7'),
      passphrase: 'pp-7',
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'INVALID_OPTION', field: 'passphrase' });
    expect((err as Error).message).toContain('env:MTLS_KEY_PASS, which mtlskit cannot write');
    expect((err as Error).message).not.toContain('pp-7');
    expect((await main.load()).key).toBe(original.key);

    // The same passphrase needs no write: the new key is stored, the passphrase is not copied.
    const newKey = client.encryptedPkcs8Pem('pp-6');
    await source.store!({ ...original, key: newKey, passphrase: 'pp-6' });
    expect(await main.load()).toMatchObject({ key: newKey });
    expect((await main.load()).passphrase).toBeUndefined();
  });
});
