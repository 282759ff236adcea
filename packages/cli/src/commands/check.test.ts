import { createServer } from 'node:net';
import {
  httpsRequest,
  type IssuedCert,
  leakCheck,
  type MtlsTestServer,
  startMtlsServer,
  TestCA,
  trackConnections,
} from '@mtlskit/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, withFiles } from '../__tests__/harness.js';
import { diagnose } from '../tls-alerts.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

let ca: TestCA;
let good: IssuedCert;
let server13: MtlsTestServer;
let server12: MtlsTestServer;
beforeAll(async () => {
  ca = await TestCA.create();
  good = await ca.issueClient({ validForSeconds: 200 * 86_400 });
  server13 = await startMtlsServer({ clientCa: ca });
  server12 = await startMtlsServer({ clientCa: ca, maxVersion: 'TLSv1.2' });
});
afterAll(async () => {
  await server13?.close();
  await server12?.close();
});

const envFor = (c: IssuedCert, caPem: string | undefined) => ({
  MTLS_CERT: b64(c.fullChainPem),
  MTLS_KEY: b64(c.keyPem),
  ...(caPem !== undefined && { MTLS_CA: b64(caPem) }),
});

describe('mtlskit check', () => {
  it('reports an accepted certificate with TLS version, cipher and the server certificate (exit 0)', async () => {
    const before = server13.requests.length;
    const r = await cli(['check', '--url', `${server13.url}/health`], { env: envFor(good, server13.caPem) });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^TLS\s+TLSv1\.3, TLS_AES_\w+$/m);
    expect(r.stdout).toMatch(/^Server cert\s+CN=mtlskit test server$/m);
    expect(r.stdout).toMatch(/issued by CN=mtlskit test server CA/);
    expect(r.stdout).toMatch(/^HTTP\s+200$/m);
    expect(r.stdout).toMatch(/^ACCEPTED: the server accepted the client certificate\.$/m);
    // What the server saw, not what the client believes.
    const seen = server13.requests.slice(before);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.peerFingerprint256).toBe(good.fingerprint256);
    expect(seen[0]!.authorized).toBe(true);
  });

  it('works on TLS 1.2 and prints JSON with --json; --ca supplies the server trust', async () => {
    const dir = await withFiles({ 'server-ca.pem': server12.caPem });
    const r = await cli(['check', '--url', server12.url, '--ca', `${dir}/server-ca.pem`, '--json'], {
      env: envFor(good, undefined),
    });
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({
      status: 'accepted',
      httpStatus: 200,
      tls: {
        version: 'TLSv1.2',
        serverTrusted: true,
        serverCertificate: { subject: 'CN=mtlskit test server' },
      },
    });
    expect(j.tls.cipher).toMatch(/^ECDHE-/);
  });

  it('reports a certificate from a CA the server does not trust as rejected (exit 1), on TLS 1.3 and 1.2', async () => {
    const stranger = await (await TestCA.create({ commonName: 'some other CA' })).issueClient({
      validForSeconds: 200 * 86_400,
    });
    for (const server of [server13, server12]) {
      const errorsBefore = server.tlsErrors.length;
      const r = await cli(['check', '--url', server.url, '--json'], { env: envFor(stranger, server.caPem) });
      expect(r.code).toBe(1);
      const j = JSON.parse(r.stdout);
      expect(j.status).toBe('rejected');
      expect(j.alert.what).toMatch(/the server closed the connection (right after|during) the handshake/);
      expect(j.alert.meaning).toMatch(/CA they do not trust/);
      expect(server.tlsErrors.length).toBeGreaterThan(errorsBefore);
      expect(server.tlsErrors.at(-1)!.authorizationError ?? server.tlsErrors.at(-1)!.message).toMatch(
        /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT/,
      );
    }
  });

  it('reports an untrusted server certificate, shows it, and sends no request (exit 1)', async () => {
    const wrongCa = await TestCA.create({ commonName: 'not the server CA' });
    const before = server13.requests.length;
    const r = await cli(['check', '--url', server13.url], { env: envFor(good, wrongCa.rootPem) });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/NOT SENT: the server's certificate is not trusted/);
    expect(r.stdout).toMatch(
      /^What\s+the server's certificate is not trusted \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)/m,
    );
    expect(r.stdout).toMatch(/^Server cert\s+CN=mtlskit test server$/m);
    expect(r.stdout).toMatch(/\(NOT trusted\)/);
    expect(server13.requests.length).toBe(before);
  });

  it('exits 4 when the server cannot be reached', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as { port: number };
    await new Promise((resolve) => probe.close(resolve));
    const r = await cli(['check', '--url', `https://127.0.0.1:${port}/`, '--json'], {
      env: envFor(good, server13.caPem),
    });
    expect(r.code).toBe(4);
    expect(JSON.parse(r.stdout)).toMatchObject({
      status: 'unreachable',
      alert: { what: 'the server could not be reached (ECONNREFUSED)' },
    });
  });

  it('warns on a Mangopay host without api-mtls, and does not connect with an invalid credential', async () => {
    const expired = await ca.issueClient({
      notBefore: new Date(Date.now() - 40 * 86_400_000),
      notAfter: new Date(Date.now() - 86_400_000),
    });
    const net = trackConnections();
    const r = await cli(['check', '--url', 'https://api.sandbox.mangopay.com/v2.01/'], {
      env: envFor(expired, undefined),
    });
    net.stop();
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /^warning: api\.sandbox\.mangopay\.com is a Mangopay host without api-mtls.*Use https:\/\/api-mtls\.sandbox\.mangopay\.com\/v2\.01\//m,
    );
    expect(r.stdout).toMatch(/NOT SENT: the credential is invalid/);
    expect(r.stdout).toMatch(/ERROR\s+EXPIRED/);
    expect(net.connections).toEqual([]);
  });

  it('warns when a certificate named for one Mangopay environment meets the other', async () => {
    const sandboxCert = await ca.issueClient({
      subject: 'CN=acme.sandbox.mangopay.com, O=Mangopay, C=LU',
      notBefore: new Date(Date.now() - 40 * 86_400_000),
      notAfter: new Date(Date.now() - 86_400_000), // expired: nothing is sent, so nothing leaves this machine
    });
    const net = trackConnections();
    const r = await cli(['check', '--url', 'https://api-mtls.mangopay.com/v2.01/', '--json'], {
      env: envFor(sandboxCert, undefined),
    });
    net.stop();
    expect(JSON.parse(r.stdout).warnings).toEqual([
      'The certificate is named for Mangopay sandbox but api-mtls.mangopay.com is production: each environment accepts only its own certificates.',
    ]);
    expect(net.connections).toEqual([]);
  });

  it('exits 2 without --url or with a non-https URL', async () => {
    expect((await cli(['check'])).code).toBe(2);
    const r = await cli(['check', '--url', 'http://example.com']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--url must be https:\/\//);
  });

  it('never prints the key', async () => {
    const leak = leakCheck([good.keyPem, good.keyDer]);
    const stranger = await (await TestCA.create()).issueClient();
    for (const env of [envFor(good, server13.caPem), envFor(stranger, server13.caPem)]) {
      const r = await cli(['check', '--url', server13.url, '--json'], { env });
      leak.checkText(r.stdout + r.stderr, 'check output');
    }
  });
});

describe('diagnose (what a failed handshake means), on real errors from the testkit server', () => {
  it('names certificate_required (TLS 1.3) and handshake_failure (TLS 1.2) when no certificate is sent', async () => {
    const errors = await Promise.all(
      [server13, server12].map((s) =>
        httpsRequest(s.url, { ca: s.caPem }).then(
          () => undefined,
          (e: NodeJS.ErrnoException) => e,
        ),
      ),
    );
    expect(diagnose(errors[0]!, true)).toMatchObject({
      verdict: 'rejected',
      what: 'the server sent TLS alert 116 certificate_required',
    });
    expect(diagnose(errors[1]!, false)).toMatchObject({
      verdict: 'rejected',
      what: 'the server sent TLS alert 40 handshake_failure',
    });
  });
});
