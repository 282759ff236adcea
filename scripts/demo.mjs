#!/usr/bin/env node
// The demo: a throwaway client certificate from the testkit CA (Mangopay sandbox naming), stored the
// way a secrets manager keeps it (Base64 strings in environment variables), loaded and validated by
// mtlskit, then used for a real mTLS request through the resolver. Nothing is written to disk.
import { inspect } from 'node:util';
import { createTlsResolver, envSource, MtlsError } from '@mtlskit/core';
import { startMtlsServer, TestCA } from '@mtlskit/testkit';

const clientId = 'demo-client';
const ca = await TestCA.create({ commonName: 'mtlskit demo CA' });
const issued = await ca.issueClient({
  keyType: 'rsa2048',
  subject: `CN=${clientId}.sandbox.mangopay.com, O=Mangopay, C=LU`,
  dnsNames: [`${clientId}.sandbox.mangopay.com`],
  validForSeconds: 365 * 24 * 3600,
});
const passphrase = 'demo passphrase, not a real one';
const server = await startMtlsServer({ clientCa: issued.caPem });

// What a platform would hold: Base64 strings, the key encrypted, the passphrase beside it.
const b64 = (text) => Buffer.from(text).toString('base64');
const env = {
  MTLS_CERT: b64(issued.fullChainPem),
  MTLS_KEY: b64(issued.encryptedPkcs8Pem(passphrase)),
  MTLS_PASSPHRASE: passphrase,
  MTLS_CA: b64(server.caPem),
};

const mtls = createTlsResolver({ source: envSource({ env }) });
try {
  const creds = await mtls.credentials();
  console.log(
    '\nA throwaway client certificate, stored as Base64 with an encrypted key, loaded by mtlskit:\n',
  );
  const rows = [
    ['subject', creds.subject.replaceAll('\n', ', ')],
    ['subject alt names', creds.subjectAltName ?? '(none)'],
    ['issuer', creds.issuer.replaceAll('\n', ', ')],
    ['valid', `${creds.notBefore.toISOString()} .. ${creds.notAfter.toISOString()}`],
    ['serial', creds.serialNumber],
    ['SHA-256', creds.fingerprint256],
    [
      'key',
      `${creds.keyType}${creds.keySize ? ` ${creds.keySize} bits` : ''}${creds.curve ? ` ${creds.curve}` : ''}`,
    ],
    ['chain', `${creds.chain.length} intermediate(s)`],
    ['findings', creds.findings.length ? creds.findings.map((f) => f.code).join(', ') : 'none: ready to use'],
  ];
  for (const [k, v] of rows) console.log(`  ${k.padEnd(18)} ${v}`);
  console.log(`\nutil.inspect shows no key or passphrase:\n  ${inspect(creds).split('\n').join('\n  ')}`);

  const res = await mtls.fetch(server.url);
  const seen = server.requests.at(-1);
  console.log(`\nA local server that requires client certificates answered ${res.status} to mtls.fetch();`);
  console.log(
    `it saw ${seen?.peerFingerprint256 === creds.fingerprint256 ? 'this certificate' : 'another certificate'} (CN ${seen?.peerSubjectCN}).`,
  );
  if (res.status !== 200 || seen?.peerFingerprint256 !== creds.fingerprint256) {
    throw new Error('demo: the mTLS request should have been answered 200 for this very certificate.');
  }

  // And what a mistake looks like: the key of another certificate.
  const other = await ca.issueClient();
  const wrong = createTlsResolver({ source: envSource({ env: { ...env, MTLS_KEY: b64(other.keyPem) } }) });
  try {
    const err = await wrong.credentials().then(
      () => undefined,
      (error) => error,
    );
    // A demo that stays quiet when validation let a mismatched key through would hide the very bug
    // it exists to show: fail loudly (exit code 1) instead.
    if (err !== undefined && !(err instanceof MtlsError)) throw err;
    if (!MtlsError.is(err, 'KEY_MISMATCH')) {
      throw new Error(
        `demo: the key of another certificate should have been refused with KEY_MISMATCH, but ${
          err === undefined ? 'it was accepted' : `it failed with ${err.code}: ${err.message}`
        }. mtlskit's key check is broken.`,
      );
    }
    console.log(
      `\nWith the key of another certificate, before any request:\n  ${err.code}: ${err.message}\n`,
    );
  } finally {
    await wrong.close();
  }
} finally {
  await mtls.close();
  await server.close();
}
