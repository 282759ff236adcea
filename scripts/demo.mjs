#!/usr/bin/env node
// The demo: issue a throwaway client certificate from the testkit CA (Mangopay sandbox naming),
// load it the way an application would, print what it contains, and prove it with a real mTLS
// request. Nothing is written to disk; the key never leaves this process.
import { request } from 'node:https';
import { startMtlsServer, TestCA } from '@mtlskit/testkit';

const clientId = 'demo-client';
const ca = await TestCA.create({ commonName: 'mtlskit demo CA' });
const issued = await ca.issueClient({
  keyType: 'rsa2048',
  subject: `CN=${clientId}.sandbox.mangopay.com, O=Mangopay, C=LU`,
  dnsNames: [`${clientId}.sandbox.mangopay.com`],
  validForSeconds: 365 * 24 * 3600,
});

const { X509Certificate } = await import('node:crypto');
const leaf = new X509Certificate(issued.certPem);
const rows = [
  ['subject', leaf.subject.replaceAll('\n', ', ')],
  ['subject alt names', leaf.subjectAltName ?? '(none)'],
  ['issuer', leaf.issuer.replaceAll('\n', ', ')],
  ['valid from', new Date(leaf.validFrom).toISOString()],
  ['valid to', new Date(leaf.validTo).toISOString()],
  ['serial', leaf.serialNumber],
  ['SHA-256', leaf.fingerprint256],
  [
    'key',
    `${leaf.publicKey.asymmetricKeyType} ${leaf.publicKey.asymmetricKeyDetails?.modulusLength ?? ''} bits`,
  ],
  [
    'extended key usage',
    (leaf.keyUsage ?? []).map((oid) => (oid === '1.3.6.1.5.5.7.3.2' ? 'clientAuth' : oid)).join(', '),
  ],
  [
    'key matches certificate',
    String(leaf.checkPrivateKey((await import('node:crypto')).createPrivateKey(issued.keyPem))),
  ],
];
console.log('\nA throwaway mTLS client certificate from the mtlskit test CA:\n');
for (const [k, v] of rows) console.log(`  ${k.padEnd(24)} ${v}`);

const server = await startMtlsServer({ clientCa: issued.caPem });
try {
  const body = await new Promise((resolve, reject) => {
    const req = request(
      server.url,
      { cert: issued.fullChainPem, key: issued.keyPem, ca: server.caPem, minVersion: 'TLSv1.2' },
      (res) => {
        let text = '';
        res
          .setEncoding('utf8')
          .on('data', (c) => (text += c))
          .on('end', () => resolve({ status: res.statusCode, text }));
      },
    );
    req.on('error', reject).end();
  });
  const seen = server.requests.at(-1);
  console.log(`\nA local server that requires client certificates answered ${body.status};`);
  console.log(
    `it saw the certificate ${seen?.peerFingerprint256 === leaf.fingerprint256 ? 'above' : 'of someone else'} (CN ${seen?.peerSubjectCN}).\n`,
  );
} finally {
  await server.close();
}
