// The certificate structure validation reads (signature algorithm, key usage, Netscape type): the
// in-place walk gives what the full ASN.1 parse gives, on certificates of every key type and with
// and without the extensions; validate.test.ts checks the verdicts built on it (OpenSSL-made
// certificates with critical key usage and Netscape types).
import { X509Certificate } from 'node:crypto';
import { TestCA } from '@mtlskit/testkit';
import { describe, expect, it } from 'vitest';
import { parseFully, readStructure, rememberStructure } from './structure.js';

describe('certificate structure', () => {
  it('walks to the same facts as the full parse, for leaves and CAs of every key type', async () => {
    const ders: Buffer[] = [];
    for (const keyType of ['rsa2048', 'ec-p256', 'ed25519'] as const) {
      const root = await TestCA.create({ keyType });
      const intermediate = await root.intermediate({ keyType });
      for (const opts of [{}, { eku: false as const }, { clientAuth: false }]) {
        const leaf = await intermediate.issueClient({ keyType, ...opts });
        ders.push(leaf.certDer);
      }
      ders.push(new X509Certificate(root.rootPem).raw, new X509Certificate(intermediate.certPem).raw);
    }
    for (const der of ders) {
      const full = parseFully(der);
      expect(full.signatureOid).toMatch(/^1\.|^2\./);
      expect(readStructure(new X509Certificate(der))).toEqual(full);
      const cert = new X509Certificate(der);
      rememberStructure(cert, der);
      expect(readStructure(cert)).toEqual(full);
    }
    // The CA certificates carry a critical key usage (keyCertSign, cRLSign): read through the BOOLEAN.
    const ca = parseFully(new X509Certificate((await TestCA.create()).rootPem).raw);
    expect(ca.keyUsage).toBe(0x06);
  });

  it('leaves BER (an indefinite length) to the full parse, and garbage unknown', async () => {
    const leaf = await (await TestCA.create({ keyType: 'rsa2048' })).issueClient({ keyType: 'rsa2048' });
    const der = leaf.certDer;
    // The outer SEQUENCE re-encoded with an indefinite length: 30 80 … 00 00.
    const headerLength = 2 + (der[1]! & 0x7f);
    const ber = Buffer.concat([Buffer.from([0x30, 0x80]), der.subarray(headerLength), Buffer.alloc(2)]);
    const cert = new X509Certificate(der);
    rememberStructure(cert, ber);
    expect(readStructure(cert)).toEqual(parseFully(der));
    expect(readStructure(cert).signatureOid).toBe('1.2.840.113549.1.1.11');
    expect(parseFully(Buffer.from([0x30, 0x03, 0x02, 0x01, 0x00]))).toEqual({
      signatureOid: undefined,
      keyUsage: undefined,
      netscapeType: undefined,
    });
  });
});
