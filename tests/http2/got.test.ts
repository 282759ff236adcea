// got with `http2: true` takes plain TLS options, not an agent: the recipe of docs/http2.md (tlsOptions(),
// a new instance on `rotated`) against a real HTTP/2 server requiring client certificates.
import { createTlsResolver, type TlsResolver } from '@mtlskit/core';
import { type IssuedCert, TestCA } from '@mtlskit/testkit';
import got, { type Got } from 'got';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { MemorySource } from '../resolver/helpers.js';
import { type H2Reply, type H2TestServer, startH2Server } from './server.js';

let ca: TestCA;
let server: H2TestServer;
const open: TlsResolver[] = [];

beforeAll(async () => {
  ca = await TestCA.create();
  server = await startH2Server(ca);
});
afterAll(async () => {
  await Promise.all(open.map((r) => r.close()));
  await server.close();
});

it('got http2: true with tlsOptions() negotiates h2 with the certificate; the instance rebuilt on rotated presents the new one', async () => {
  const certs = [await ca.issueClient(), await ca.issueClient()];
  const source = new MemorySource().serve(certs[0] as IssuedCert, ca.rootPem);
  const mtls = createTlsResolver({ source });
  open.push(mtls);
  async function h2Client(): Promise<Got> {
    const { cert, key, ca: certificateAuthority } = await mtls.tlsOptions();
    return got.extend({ http2: true, https: { certificate: cert, key, certificateAuthority } });
  }
  let client = await h2Client();
  let rebuilt: Promise<void> = Promise.resolve();
  mtls.on('rotated', () => {
    rebuilt = h2Client().then((c) => {
      client = c;
    });
  });
  const a = await client.get(`${server.url}/a`).json<H2Reply>();
  expect(a).toMatchObject({ httpVersion: '2.0', fingerprint256: certs[0]?.x509.fingerprint256 });
  source.serve(certs[1] as IssuedCert, ca.rootPem);
  await mtls.refresh();
  await rebuilt;
  const b = await client.get(`${server.url}/b`).json<H2Reply>();
  expect(b).toMatchObject({ httpVersion: '2.0', fingerprint256: certs[1]?.x509.fingerprint256 });
  expect(b.session).not.toBe(a.session);
});
