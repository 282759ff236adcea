// What a client sees when the server's certificate comes from a private CA the credential does not
// carry (docs/getting-started.md documents it): the Node error depends on what the server sends.
// Node's own https server sends what it is given, so a server configured with its full chain
// including the root fails differently from one sent only its leaf.
import { createTlsResolver, type TlsResolver } from '@mtlskit/core';
import { type IssuedCert, startMtlsServer, TestCA } from '@mtlskit/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getWithAgent, MemorySource } from '../resolver/helpers.js';

let clientCa: TestCA;
let client: IssuedCert;
let serverRoot: TestCA;
const open: TlsResolver[] = [];

beforeAll(async () => {
  clientCa = await TestCA.create();
  client = await clientCa.issueClient();
  serverRoot = await TestCA.create({ commonName: 'private server root' });
});
afterAll(async () => {
  await Promise.all(open.map((r) => r.close()));
});

/** The server certificate `cert`, presented with `extra` PEM certificates after its own chain. */
function presenting(cert: IssuedCert, extra: string): IssuedCert {
  return Object.assign(Object.create(Object.getPrototypeOf(cert)) as IssuedCert, cert, {
    fullChainPem: cert.fullChainPem + extra,
  });
}

const setups: [string, () => Promise<IssuedCert>, string][] = [
  ['its leaf only', () => serverRoot.issueServer(), 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
  [
    'its leaf and the root (a full chain)',
    async () => presenting(await serverRoot.issueServer(), serverRoot.certPem),
    'SELF_SIGNED_CERT_IN_CHAIN',
  ],
  [
    'its leaf and an intermediate, not the root',
    async () => (await serverRoot.intermediate()).issueServer(),
    'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  ],
  [
    'its leaf, an intermediate and the root',
    async () => presenting(await (await serverRoot.intermediate()).issueServer(), serverRoot.certPem),
    'SELF_SIGNED_CERT_IN_CHAIN',
  ],
];

describe.each(setups)('a private-CA server sending %s', (_name, serverCert, code) => {
  it(`fails with ${code} without the CA, through agent() and fetch(), and works with it`, async () => {
    const server = await startMtlsServer({ clientCa, server: await serverCert() });
    try {
      const withoutCa = createTlsResolver({
        source: new MemorySource().serveMaterial({ cert: client.fullChainPem, key: client.keyPem }),
      });
      open.push(withoutCa);
      await expect(getWithAgent(server.url, withoutCa.agent())).rejects.toMatchObject({ code });
      const failed = await withoutCa.fetch(server.url).catch((e: unknown) => e);
      expect(failed).toMatchObject({ message: 'fetch failed', cause: { code } });

      const withCa = createTlsResolver({
        source: new MemorySource().serveMaterial({
          cert: client.fullChainPem,
          key: client.keyPem,
          ca: serverRoot.certPem,
        }),
      });
      open.push(withCa);
      expect((await getWithAgent(server.url, withCa.agent())).status).toBe(200);
      expect((await withCa.fetch(server.url)).status).toBe(200);
    } finally {
      await server.close();
    }
  });
});
