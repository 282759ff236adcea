// TLS 1.2 is the floor of every connection the resolver opens, whatever the process defaults say:
// against a server that speaks only TLS 1.1, agent() and fetch() refuse, while a plain client using
// the (deliberately lowered) process defaults connects. The defaults are lowered the way
// `--tls-min-v1.0` and a permissive cipher string lower them, and restored afterwards.
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { createTlsResolver, type TlsResolver } from '@mtlskit/core';
import { type IssuedCert, TestCA } from '@mtlskit/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getWithAgent, MemorySource } from './helpers.js';

// OpenSSL 3 allows TLS 1.0/1.1 only at security level 0.
const LEGACY_CIPHERS = 'DEFAULT@SECLEVEL=0';

let serverCa: TestCA;
let client: IssuedCert;
let legacy: https.Server;
let url: string;
const requests: string[] = [];
const handshakeErrors: string[] = [];
const open: TlsResolver[] = [];

beforeAll(async () => {
  serverCa = await TestCA.create({ commonName: 'mtlskit TLS 1.1 server CA' });
  const [serverCert, clientCert] = await Promise.all([
    serverCa.issueServer({ keyType: 'rsa2048' }),
    (await TestCA.create()).issueClient(),
  ]);
  client = clientCert;
  legacy = https.createServer(
    {
      cert: serverCert.fullChainPem,
      key: serverCert.keyPem,
      minVersion: 'TLSv1.1',
      maxVersion: 'TLSv1.1',
      ciphers: LEGACY_CIPHERS,
    },
    (req, res) => {
      requests.push(req.url ?? '');
      res.end('{}');
    },
  );
  legacy.on('tlsClientError', (err: NodeJS.ErrnoException) => handshakeErrors.push(err.code ?? err.message));
  await new Promise<void>((resolve) => legacy.listen(0, '127.0.0.1', resolve));
  url = `https://127.0.0.1:${(legacy.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await Promise.all(open.map((r) => r.close()));
  await new Promise<void>((resolve) => legacy.close(() => resolve()));
});

/** A plain node:https GET with the process defaults (no agent, no TLS options but the server's CA). */
function plainGet(path: string): Promise<{ status: number; protocol: string | null }> {
  return new Promise((resolve, reject) => {
    https
      .get(`${url}${path}`, { ca: serverCa.rootPem, agent: false }, (res) => {
        const protocol = (res.socket as tls.TLSSocket).getProtocol();
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, protocol }));
      })
      .on('error', reject);
  });
}

describe('TLS 1.2 floor', () => {
  it('against a TLS 1.1-only server, agent() and fetch() refuse even with the process defaults lowered to TLS 1.1, while a plain client connects', async (context) => {
    const defaults = { minVersion: tls.DEFAULT_MIN_VERSION, ciphers: tls.DEFAULT_CIPHERS };
    tls.DEFAULT_MIN_VERSION = 'TLSv1.1';
    tls.DEFAULT_CIPHERS = LEGACY_CIPHERS;
    try {
      // The control: with the lowered defaults, a plain client negotiates TLS 1.1 with this server.
      const control = await plainGet('/control').catch((err: Error) => err);
      if (control instanceof Error) {
        context.skip(
          `this Node's OpenSSL cannot negotiate TLS 1.1 even at ${LEGACY_CIPHERS} (${control.message}): ` +
            'there is no TLS 1.1 server to test the floor against',
        );
        return;
      }
      expect(control).toEqual({ status: 200, protocol: 'TLSv1.1' });

      // The resolver loads (and builds its SecureContext) while the defaults are lowered.
      const r = createTlsResolver({
        source: new MemorySource().serve(client, serverCa.rootPem),
        mode: 'on-access',
      });
      open.push(r);
      const agentError = await getWithAgent(`${url}/resolver-agent`, r.agent()).catch((err: unknown) => err);
      expect(agentError).toBeInstanceOf(Error);
      expect(agentError).toMatchObject({
        message: expect.stringMatching(/protocol version|unsupported protocol/i),
      });
      const fetchError = await r.fetch(`${url}/resolver-fetch`).catch((err: unknown) => err);
      expect(fetchError).toMatchObject({
        message: 'fetch failed',
        cause: { message: expect.stringMatching(/protocol version|unsupported protocol/i) },
      });
      // The server refused both handshakes for their protocol version and served neither request.
      expect(requests).toEqual(['/control']);
      expect(handshakeErrors.filter((code) => code === 'ERR_SSL_UNSUPPORTED_PROTOCOL')).toHaveLength(2);
    } finally {
      tls.DEFAULT_MIN_VERSION = defaults.minVersion;
      tls.DEFAULT_CIPHERS = defaults.ciphers;
    }
  });
});
