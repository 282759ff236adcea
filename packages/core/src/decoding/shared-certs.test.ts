// CA certificates and intermediates that credentials hold alike are parsed once and shared: the same
// X509Certificate object for every credential that holds the same DER, however it was encoded; a
// leaf is never shared; a damaged certificate is not remembered.
import { X509Certificate } from 'node:crypto';
import { TestCA } from '@mtlskit/testkit';
import { describe, expect, it } from 'vitest';
import { der, INT, pem, SEQ } from '../__tests__/der.js';
import { decodeMaterial } from './decode-material.js';
import { sharedCertificateCount } from './shared-certs.js';

describe('shared certificates', () => {
  it('gives credentials holding the same CA and intermediate the same objects; leaves stay their own', async () => {
    const root = await TestCA.create();
    const intermediate = await root.intermediate();
    const [a, b] = await Promise.all([intermediate.issueClient(), intermediate.issueClient()]);
    const before = sharedCertificateCount();
    const first = decodeMaterial({ cert: a.fullChainPem, key: a.keyPem, ca: root.rootPem });
    // The same CA as Base64 of its DER, the chain as DER bytes: the same certificates all the same.
    const second = decodeMaterial({
      cert: Buffer.concat([b.certDer, new X509Certificate(intermediate.certPem).raw]),
      key: b.keyPem,
      ca: new X509Certificate(root.rootPem).raw.toString('base64'),
    });
    expect(second.ca[0]).toBe(first.ca[0]);
    expect(second.chain[0]).toBe(first.chain[0]);
    expect(second.leaf).not.toBe(first.leaf);
    expect(sharedCertificateCount() - before).toBe(2);
    expect(first.ca[0]!.subject).toContain('mtlskit test root CA');
  });

  it('refuses a CA that does not parse as before, and does not remember it', async () => {
    const leaf = await (await TestCA.create()).issueClient();
    // Shaped like a certificate (a SEQUENCE of a six-field SEQUENCE, a SEQUENCE and a BIT STRING),
    // which X509Certificate refuses.
    const fake = SEQ(SEQ(INT(2), INT(1), SEQ(), SEQ(), SEQ(), SEQ()), SEQ(), der(0x03, Buffer.from([0])));
    const before = sharedCertificateCount();
    for (let i = 0; i < 2; i++) {
      expect(() =>
        decodeMaterial({ cert: leaf.certPem, key: leaf.keyPem, ca: pem('CERTIFICATE', fake) }),
      ).toThrow(expect.objectContaining({ code: 'CHAIN_INVALID' }));
    }
    expect(sharedCertificateCount()).toBe(before);
  });
});
