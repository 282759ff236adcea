import { inspect } from 'node:util';
import { type IssuedCert, leakCheck, TestCA } from '@mtlskit/testkit';
import { runSourceConformance } from '@mtlskit/testkit/conformance';
import { beforeAll, describe, expect, it } from 'vitest';
import type { CredentialMaterial } from '../types.js';
import { loadCredentials } from '../validation/load.js';
import { inlineSource } from './inline.js';

let one: IssuedCert;
let two: IssuedCert;

beforeAll(async () => {
  const ca = await TestCA.create();
  one = await ca.issueClient({ commonName: 'inline one' });
  two = await ca.issueClient({ commonName: 'inline two' });
});

describe('inlineSource', () => {
  it('returns a copy of the material it was given, unaffected by later changes to the caller’s object', async () => {
    const given: CredentialMaterial = { cert: one.fullChainPem, key: one.keyPem, ca: [one.caPem] };
    const source = inlineSource(given);
    given.cert = two.fullChainPem;
    (given.ca as string[]).push('not a certificate');
    const material = await source.load();
    expect(material.ca).toEqual([one.caPem]);
    expect((await loadCredentials(material)).fingerprint256).toBe(one.fingerprint256);
  });

  it('replaces its material on store() and changes version with the content only', async () => {
    const source = inlineSource({ cert: one.fullChainPem, key: one.keyPem }, { id: 'config:mtls' });
    expect(source.id).toBe('config:mtls');
    const v1 = await source.version();
    const { version: v2 } = await source.store({ cert: two.fullChainPem, key: two.keyPem });
    expect(v2).not.toBe(v1);
    expect((await source.store({ cert: two.fullChainPem, key: two.keyPem })).version).toBe(v2);
    expect((await loadCredentials(await source.load())).fingerprint256).toBe(two.fingerprint256);
  });

  it('shows neither key nor passphrase through inspect or JSON', async () => {
    const source = inlineSource({
      cert: one.fullChainPem,
      key: one.encryptedPkcs8Pem('inline-pass'),
      passphrase: 'inline-pass',
    });
    expect(inspect(source)).toBe(`InlineSource { id: "inline", kind: 'static' }`);
    leakCheck([one.keyPem, one.encryptedPkcs8Pem('inline-pass'), 'inline-pass']).check(
      source,
      'inlineSource',
    );
  });
});

runSourceConformance('inlineSource', async ({ material }) => {
  const source = inlineSource(material);
  return {
    source,
    versionFollowsContent: true,
    async write(m) {
      await source.store(m);
    },
  };
});
