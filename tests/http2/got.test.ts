// got with `http2: true` takes plain TLS options, not an agent: the recipe of docs/http2.md (tlsOptions(),
// a new instance on `rotated`) against a real HTTP/2 server requiring client certificates.
import got, { type Got } from 'got';
import { expect, it } from 'vitest';
import type { H2Reply } from './server.js';
import { useH2Suite } from './suite.js';

const suite = useH2Suite();

it('got http2: true with tlsOptions() negotiates h2 with the certificate; the instance rebuilt on rotated presents the new one', async () => {
  const { r: mtls, serve, fp } = await suite.setup('got h2 client');
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
  const a = await client.get(`${suite.server.url}/a`).json<H2Reply>();
  expect(a).toMatchObject({ httpVersion: '2.0', fingerprint256: fp[0] });
  serve(1);
  await mtls.refresh();
  await rebuilt;
  const b = await client.get(`${suite.server.url}/b`).json<H2Reply>();
  expect(b).toMatchObject({ httpVersion: '2.0', fingerprint256: fp[1] });
  expect(b.session).not.toBe(a.session);
});
