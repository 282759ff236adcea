// MtlsCredentials as handed out: immutable, versioned by every part, and silent about the key and
// passphrase wherever it is printed, serialised or spread.
import { createPrivateKey } from 'node:crypto';
import { format, inspect } from 'node:util';
import { type IssuedCert, leakCheck, TestCA } from '@mtlskit/testkit';
import { beforeAll, describe, expect, test } from 'vitest';
import type { ValidatedCredentials } from './credentials.js';
import { loadCredentials } from './load.js';

const PASSPHRASE = 'passphrase of the test key';
let root: TestCA;
let leaf: IssuedCert;
let creds: ValidatedCredentials;

beforeAll(async () => {
  root = await TestCA.create();
  const intermediate = await root.intermediate();
  leaf = await intermediate.issueClient({
    keyType: 'rsa2048',
    commonName: 'client-42.sandbox.mangopay.com',
    dnsNames: ['client-42.sandbox.mangopay.com'],
    validForSeconds: 365 * 86_400,
  });
  creds = await loadCredentials({
    cert: leaf.fullChainPem,
    key: leaf.encryptedPkcs8Pem(PASSPHRASE),
    passphrase: PASSPHRASE,
    ca: leaf.caPem,
  });
}, 60_000);

describe('what the credentials say', () => {
  test('carry the certificate facts', () => {
    expect(creds).toMatchObject({
      fingerprint256: leaf.fingerprint256,
      subject: 'CN=client-42.sandbox.mangopay.com',
      subjectAltName: 'DNS:client-42.sandbox.mangopay.com',
      issuer: 'CN=mtlskit test intermediate CA',
      serialNumber: leaf.x509.serialNumber,
      keyType: 'rsa',
      keySize: 2048,
      curve: undefined,
      findings: [],
      sourceId: undefined,
    });
    expect(creds.version).toMatch(/^[0-9a-f]{64}$/);
    expect(creds.chain.map((c) => c.subject)).toEqual(['CN=mtlskit test intermediate CA']);
    expect(creds.ca.map((c) => c.subject)).toEqual(['CN=mtlskit test root CA']);
  });

  test('give the PEM a TLS context needs: leaf + chain, CA, and the key on request', () => {
    expect(creds.certPem).toBe(leaf.fullChainPem);
    expect(creds.caPem).toBe(leaf.caPem);
    expect(creds.keyPem()).toBe(leaf.keyPem);
  });

  test('describe EC and Ed25519 keys by type, size and curve', async () => {
    const ec = await root.issueClient({ keyType: 'ec-p256' });
    const ed = await root.issueClient({ keyType: 'ed25519' });
    const a = await loadCredentials({ cert: ec.certPem, key: ec.keyPem });
    const b = await loadCredentials({ cert: ed.certPem, key: ed.keyPem });
    expect([a.keyType, a.keySize, a.curve]).toEqual(['ec', 256, 'prime256v1']);
    expect([b.keyType, b.keySize, b.curve]).toEqual(['ed25519', 256, undefined]);
  });
});

describe('immutability', () => {
  test('properties cannot be reassigned, added or deleted', () => {
    expect(Object.isFrozen(creds)).toBe(true);
    expect(() => {
      (creds as unknown as { fingerprint256: string }).fingerprint256 = 'x';
    }).toThrow(TypeError);
    expect(() => {
      (creds as unknown as { extra: number }).extra = 1;
    }).toThrow(TypeError);
    expect(() => (creds.chain as unknown[]).push(1)).toThrow(TypeError);
    expect(() => (creds.findings as unknown[]).push(1)).toThrow(TypeError);
  });

  test('the lists and every finding are frozen too', async () => {
    const soon = await root.issueClient({ validForSeconds: 86_400 });
    const warned = await loadCredentials({ cert: soon.certPem, key: soon.keyPem });
    expect(warned.findings.map((f) => f.code)).toEqual(['EXPIRING_SOON']);
    for (const value of [creds.chain, creds.ca, warned.findings, ...warned.findings]) {
      expect(Object.isFrozen(value)).toBe(true);
    }
  });

  test('changing a returned date does not change the credentials', () => {
    const notBefore = creds.notBefore.getTime();
    const notAfter = creds.notAfter.getTime();
    creds.notBefore.setTime(0);
    creds.notAfter.setTime(0);
    expect(creds.notBefore).not.toBe(creds.notBefore);
    expect([creds.notBefore.getTime(), creds.notAfter.getTime()]).toEqual([notBefore, notAfter]);
  });
});

describe('version', () => {
  test('is the same for the same parts, however they were encoded', async () => {
    const again = await loadCredentials({
      cert: Buffer.from(leaf.fullChainPem).toString('base64'),
      key: leaf.keyDer,
      ca: leaf.caPem,
    });
    expect(again.version).toBe(creds.version);
  });

  test('changes when any part changes: chain, CA, key, leaf', async () => {
    const versions = new Set([creds.version]);
    const variants = [
      { cert: leaf.certPem, key: leaf.keyPem, ca: leaf.caPem },
      { cert: leaf.fullChainPem, key: leaf.keyPem },
      { cert: leaf.fullChainPem, key: leaf.keyPem, ca: leaf.caPem + leaf.chainPem },
    ];
    for (const material of variants) versions.add((await loadCredentials(material)).version);
    const renewed = await root.issueClient({ keyType: 'rsa2048' });
    versions.add((await loadCredentials({ cert: renewed.certPem, key: renewed.keyPem })).version);
    expect(versions.size).toBe(5);
  });

  test('is the same for the same key stored as PKCS#1 instead of PKCS#8', async () => {
    const reimported = createPrivateKey(leaf.keyPem).export({ type: 'pkcs1', format: 'pem' }) as string;
    const same = await loadCredentials({ cert: leaf.fullChainPem, key: reimported, ca: leaf.caPem });
    expect(same.version).toBe(creds.version);
  });
});

describe('no secret through inspect, JSON, String or spread', () => {
  test('the key and passphrase never appear', () => {
    const leaks = leakCheck([leaf.keyDer, leaf.keyPem.split('\n')[3]!, PASSPHRASE]);
    leaks.check(creds, 'MtlsCredentials');
    leaks.checkText(
      inspect(creds, { showHidden: true, depth: Number.POSITIVE_INFINITY, getters: true }),
      'inspect with getters',
    );
    leaks.checkText(JSON.stringify(creds), 'JSON.stringify');
    leaks.checkText(String(creds), 'String()');
    leaks.checkText(`${creds}`, 'template literal');
    leaks.checkText(format('%o %O %j', creds, creds, creds), 'util.format');
    leaks.check({ ...creds }, 'object spread');
    leaks.checkText(JSON.stringify(Object.entries(creds)), 'Object.entries');
  });

  test('keyPem is a method that enumeration does not list', () => {
    expect(Object.keys(creds)).not.toContain('keyPem');
    expect(Object.keys(creds)).not.toContain('key');
    expect(Object.getOwnPropertyDescriptor(Object.getPrototypeOf(creds), 'keyPem')?.enumerable).toBe(false);
  });

  test('String() and inspect show who it is, not what it holds', () => {
    expect(String(creds)).toMatch(
      /^MtlsCredentials\(CN=client-42\.sandbox\.mangopay\.com; rsa 2048; not after .*; sha256 [0-9A-F:]{95}\)$/,
    );
    expect(inspect(creds)).toContain("subject: 'CN=client-42.sandbox.mangopay.com'");
    expect(JSON.parse(JSON.stringify(creds))).toMatchObject({
      fingerprint256: leaf.fingerprint256,
      keyType: 'rsa',
    });
  });
});
