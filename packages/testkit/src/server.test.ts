import { X509Certificate } from 'node:crypto';
import { Agent } from 'node:https';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type IssuedCert, TestCA } from './ca.js';
import { httpsRequest, type MtlsTestServer, startMtlsServer } from './server.js';

let ca: TestCA;
let client: IssuedCert;

beforeAll(async () => {
  ca = await TestCA.create();
  client = await ca.issueClient({ commonName: 'server test client' });
});

const der = (pem: string) => new X509Certificate(pem).raw;

function tlsOptions(server: MtlsTestServer, who: IssuedCert = client) {
  return { cert: who.fullChainPem, key: who.keyPem, ca: server.caPem };
}

/** One request over a raw TLS connection (optionally offering `session`); resolves with the session tickets it got. */
function rawRequest(
  server: MtlsTestServer,
  session?: Buffer,
): Promise<{ reused: boolean; session: Buffer | undefined }> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: '127.0.0.1',
      port: server.port,
      servername: 'localhost',
      ...tlsOptions(server),
      ...(session ? { session } : {}),
    });
    let ticket: Buffer | undefined;
    let reused = false;
    // TLS 1.3 tickets arrive after the handshake, with the first data the server writes.
    socket.on('session', (value: Buffer) => {
      ticket = value;
    });
    socket.once('secureConnect', () => {
      reused = socket.isSessionReused();
      socket.end('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    });
    socket.resume();
    socket.once('error', reject);
    socket.once('close', () => resolve({ reused, session: ticket }));
  });
}

describe('startMtlsServer', () => {
  let server: MtlsTestServer;
  beforeAll(async () => {
    server = await startMtlsServer({ clientCa: ca.rootPem });
  });
  afterAll(() => server.close());

  it('answers 200 JSON naming the client certificate it saw, and records the request', async () => {
    const response = await httpsRequest(`${server.url}/v2.01/clients?x=1`, {
      ...tlsOptions(server),
      method: 'POST',
      body: '{}',
    });

    expect(response.status).toBe(200);
    const body = JSON.parse(response.body);
    expect(body).toEqual({
      fingerprint256: client.fingerprint256,
      cn: 'server test client',
      connectionId: server.requests.at(-1)?.connectionId,
      sessionReused: false,
    });
    expect(server.requests.at(-1)).toMatchObject({
      method: 'POST',
      path: '/v2.01/clients?x=1',
      peerFingerprint256: client.fingerprint256,
      peerSubjectCN: 'server test client',
      authorized: true,
      authorizationError: undefined,
      sessionReused: false,
      tlsVersion: 'TLSv1.3',
    });
    expect(server.url).toBe(`https://127.0.0.1:${server.port}`);
    expect(server.clientCaPem).toBe(ca.rootPem);
    expect(server.requests.at(-1)?.peerCertDer).toEqual(client.certDer);
    expect(server.requests.at(-1)?.peerChainDer).toEqual([der(ca.rootPem)]);
  });

  it('records the certificate and the chain of a leaf issued by intermediates, issuer first', async () => {
    const first = await ca.intermediate({ commonName: 'server test issuing CA 1' });
    const second = await first.intermediate({ commonName: 'server test issuing CA 2' });
    const leaf = await second.issueClient({ commonName: 'leaf of two intermediates' });

    expect((await httpsRequest(server.url, tlsOptions(server, leaf))).status).toBe(200);

    const seen = server.requests.at(-1);
    expect(seen?.peerCertDer).toEqual(leaf.certDer);
    expect(seen?.peerChainDer).toEqual([der(second.certPem), der(first.certPem), der(ca.rootPem)]);
    expect(
      new X509Certificate(seen!.peerCertDer!).checkIssued(new X509Certificate(seen!.peerChainDer[0]!)),
    ).toBe(true);
    // Each recorded certificate owns its memory, not a slice of Node's shared 8 KiB Buffer pool that a
    // kept record would keep alive whole.
    for (const bytes of [seen!.peerCertDer!, ...seen!.peerChainDer])
      expect(bytes.buffer.byteLength).toBe(bytes.byteLength);
  });

  it('gives requests on one keep-alive socket the same connection id', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = JSON.parse((await httpsRequest(server.url, { ...tlsOptions(server), agent })).body);
      const second = JSON.parse((await httpsRequest(server.url, { ...tlsOptions(server), agent })).body);
      expect(second.connectionId).toBe(first.connectionId);
      const connection = server.connections.find((c) => c.id === first.connectionId);
      expect(connection?.closedAt).toBeUndefined();
      // The client's side of that connection: the one free socket of the agent.
      const [socket] = Object.values(agent.freeSockets).flat();
      expect(connection?.remotePort).toBe(socket?.localPort);
    } finally {
      agent.destroy();
    }
  });

  it('reports a resumed TLS session when the second connection offers the first one’s session', async () => {
    const first = await rawRequest(server);
    expect(first.session).toBeInstanceOf(Buffer);
    const second = await rawRequest(server, first.session);
    const fresh = await rawRequest(server);

    expect([first.reused, second.reused, fresh.reused]).toEqual([false, true, false]);
    const [a, b, c] = server.connections.slice(-3);
    expect(a).toMatchObject({ sessionReused: false, peerFingerprint256: client.fingerprint256 });
    expect(b).toMatchObject({ sessionReused: true, peerFingerprint256: client.fingerprint256 });
    expect(c).toMatchObject({ sessionReused: false });
    expect(server.requests.slice(-3).map((r) => r.sessionReused)).toEqual([false, true, false]);
  });

  it('sees an https.Agent resume its cached session, and a new Agent not', async () => {
    const agent = new Agent({ keepAlive: false });
    await httpsRequest(server.url, { ...tlsOptions(server), agent });
    const resumed = await httpsRequest(server.url, { ...tlsOptions(server), agent });
    const other = await httpsRequest(server.url, {
      ...tlsOptions(server),
      agent: new Agent({ keepAlive: false }),
    });

    expect(resumed.sessionReused).toBe(true);
    expect(JSON.parse(resumed.body)).toMatchObject({
      sessionReused: true,
      fingerprint256: client.fingerprint256,
    });
    expect(JSON.parse(other.body).sessionReused).toBe(false);
    expect(server.requests.at(-2)?.sessionReused).toBe(true);
    expect(server.requests.at(-1)?.sessionReused).toBe(false);
  });

  it('passes requests to a custom handler with what it observed', async () => {
    const custom = await startMtlsServer({
      clientCa: [ca.rootPem, (await TestCA.create()).rootPem],
      handler: (req, res, observed) => {
        req.resume();
        res.writeHead(418, { 'x-peer': observed.peerSubjectCN ?? '' }).end('teapot');
      },
    });
    try {
      const response = await httpsRequest(custom.url, tlsOptions(custom));
      expect(response).toMatchObject({ status: 418, body: 'teapot' });
      expect(response.headers['x-peer']).toBe('server test client');
    } finally {
      await custom.close();
    }
  });
});

describe('startMtlsServer options', () => {
  it('serves over TLS 1.2 only when asked, with session resumption there too', async () => {
    const server = await startMtlsServer({ clientCa: ca, maxVersion: 'TLSv1.2' });
    try {
      const agent = new Agent({ keepAlive: false });
      await httpsRequest(server.url, { ...tlsOptions(server), agent });
      await httpsRequest(server.url, { ...tlsOptions(server), agent });
      expect(server.requests.map((r) => [r.tlsVersion, r.sessionReused])).toEqual([
        ['TLSv1.2', false],
        ['TLSv1.2', true],
      ]);
    } finally {
      await server.close();
    }
  });

  it.each(['TLSv1.3', 'TLSv1.2'] as const)(
    'records the chain on a resumed %s session too (the one seen on the full handshake)',
    async (maxVersion) => {
      const issuing = await ca.intermediate({ commonName: 'resumption issuing CA' });
      const leaf = await issuing.issueClient({ commonName: 'resumed leaf' });
      const server = await startMtlsServer({ clientCa: ca.rootPem, maxVersion });
      const agent = new Agent({ keepAlive: false });
      try {
        await httpsRequest(server.url, { ...tlsOptions(server, leaf), agent });
        await httpsRequest(server.url, { ...tlsOptions(server, leaf), agent });
        const chain = [der(issuing.certPem), der(ca.rootPem)];
        expect(
          server.requests.map((r) => [r.tlsVersion, r.sessionReused, r.peerCertDer, r.peerChainDer]),
        ).toEqual([
          [maxVersion, false, leaf.certDer, chain],
          [maxVersion, true, leaf.certDer, chain],
        ]);
      } finally {
        agent.destroy();
        await server.close();
      }
    },
  );

  it('records an unverified client certificate instead of refusing it when rejectUnauthorized is false', async () => {
    const stranger = await (await TestCA.create()).issueClient({ commonName: 'stranger' });
    const server = await startMtlsServer({ clientCa: ca.rootPem, rejectUnauthorized: false });
    try {
      const response = await httpsRequest(server.url, tlsOptions(server, stranger));
      expect(response.status).toBe(200);
      expect(server.requests.at(-1)).toMatchObject({
        authorized: false,
        authorizationError: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
        peerSubjectCN: 'stranger',
        peerFingerprint256: stranger.fingerprint256,
        peerCertDer: stranger.certDer,
        // Nothing links the stranger's leaf to a certificate the server has.
        peerChainDer: [],
      });
    } finally {
      await server.close();
    }
  });

  it('asks for no certificate when requestCert is false', async () => {
    const server = await startMtlsServer({ clientCa: ca.rootPem, requestCert: false });
    try {
      const response = await httpsRequest(server.url, { ca: server.caPem });
      expect(JSON.parse(response.body)).toMatchObject({ fingerprint256: null, cn: null });
      expect(server.requests.at(-1)).toMatchObject({
        peerFingerprint256: undefined,
        peerCertDer: undefined,
        peerChainDer: [],
        authorized: false,
      });
    } finally {
      await server.close();
    }
  });

  it('uses a server certificate it is given, and its CA', async () => {
    const serverCa = await TestCA.create({ commonName: 'given server CA' });
    const given = await serverCa.issueServer({
      commonName: 'api.test.local',
      dnsNames: ['api.test.local'],
      ipAddresses: ['127.0.0.1'],
    });
    const server = await startMtlsServer({ clientCa: ca.rootPem, server: given });
    try {
      expect(server.caPem).toBe(serverCa.rootPem);
      expect(server.server.fingerprint256).toBe(given.fingerprint256);
      expect(
        (await httpsRequest(server.url, { ...tlsOptions(server), servername: 'api.test.local' })).status,
      ).toBe(200);
      // A client trusting only the system roots refuses the test server.
      await expect(
        httpsRequest(server.url, { cert: client.fullChainPem, key: client.keyPem }),
      ).rejects.toMatchObject({
        code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      });
    } finally {
      await server.close();
    }
  });

  it('close() destroys open keep-alive sockets, stops listening and can be called twice', async () => {
    const server = await startMtlsServer({ clientCa: ca.rootPem, keepAliveTimeout: 60_000 });
    const agent = new Agent({ keepAlive: true });
    try {
      await httpsRequest(server.url, { ...tlsOptions(server), agent });
      expect(server.openSockets()).toBe(1);

      await Promise.all([server.close(), server.close()]);

      expect(server.openSockets()).toBe(0);
      await vi.waitFor(() => expect(server.connections[0]?.closedAt).toBeTypeOf('number'));
      await expect(httpsRequest(server.url, { ...tlsOptions(server), agent: false })).rejects.toMatchObject({
        code: 'ECONNREFUSED',
      });
    } finally {
      agent.destroy();
    }
  });
});
