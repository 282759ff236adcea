// certificateProvider() with grpc-js's certificate-provider channel credentials, against a real grpc-js
// server requiring client certificates (grpc-js 1.14.7), with clients of the newest grpc-js tested (the
// dev dependency) and of the oldest claimed (1.12.0, installed as grpc-js-1.12.0): one channel keeps the certificate of its open
// connection after a rotation, and presents the new one once the server has ended that connection;
// grpc-js removes its listeners when the channel closes; close() stops following the resolver.
import { fileURLToPath } from 'node:url';
import * as grpcNewest from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { createTlsResolver, type TlsResolver } from '@mtlskit/core';
import { type IssuedCert, leakCheck, TestCA } from '@mtlskit/testkit';
import * as grpcOldest from 'grpc-js-1.12.0';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { listenMtls, MemorySource, rotatingSetup } from './__tests__/harness.js';
import { certificateProvider } from './provider.js';

type Grpc = typeof grpcNewest;
interface EchoReply {
  message: string;
  fingerprint256: string;
  connection: number;
}
interface EchoClient extends grpcNewest.Client {
  unary(
    req: { message: string; delayMs?: number },
    options: grpcNewest.CallOptions,
    cb: (err: grpcNewest.ServiceError | null, reply: EchoReply) => void,
  ): grpcNewest.ClientUnaryCall;
}

const packageDef = protoLoader.loadSync(fileURLToPath(new URL('./__tests__/echo.proto', import.meta.url)));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let ca: TestCA;
const open: TlsResolver[] = [];
beforeAll(async () => {
  ca = await TestCA.create();
});
afterAll(async () => {
  await Promise.all(open.map((r) => r.close()));
});

const setup = () => rotatingSetup(ca, 'grpc provider', 3, open);

type EchoClass = new (target: string, creds: grpcNewest.ChannelCredentials) => EchoClient;
const echoOf = (grpc: Grpc) =>
  (grpc.loadPackageDefinition(packageDef) as unknown as { mtlskit: { test: { Echo: EchoClass } } }).mtlskit
    .test.Echo;

/** A grpc-js server requiring client certificates, reporting each call's certificate and connection. */
async function startServer() {
  const grpc = grpcNewest;
  const serverCert = await ca.issueServer({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const proto = grpc.loadPackageDefinition(packageDef) as unknown as {
    mtlskit: {
      test: {
        Echo: (new (
          target: string,
          creds: grpcNewest.ChannelCredentials,
        ) => EchoClient) & { service: grpcNewest.ServiceDefinition };
      };
    };
  };
  const connections = new Map<string, number>();
  const server = new grpc.Server();
  server.addService(proto.mtlskit.test.Echo.service, {
    unary: (
      call: grpcNewest.ServerUnaryCall<{ message: string }, EchoReply>,
      cb: grpcNewest.sendUnaryData<EchoReply>,
    ) => {
      const peer = call.getPeer();
      if (!connections.has(peer)) connections.set(peer, connections.size + 1);
      cb(null, {
        message: call.request.message,
        fingerprint256: call.getAuthContext().sslPeerCertificate?.fingerprint256 ?? '',
        connection: connections.get(peer) as number,
      });
    },
    stream: (call: grpcNewest.ServerWritableStream<unknown, EchoReply>) => call.end(),
  });
  const target = await listenMtls(grpc, server, ca, serverCert);
  return {
    target,
    /** Ends every connection (GOAWAY), as a server restart or a max connection age does. */
    drain: () => server.drain(`127.0.0.1:${target.split(':')[1]}`, 1000),
    close: () => server.forceShutdown(),
  };
}

const unary = (client: EchoClient, message: string) =>
  new Promise<EchoReply>((resolve, reject) =>
    client.unary({ message }, { deadline: Date.now() + 5000 }, (err, reply) =>
      err ? reject(err) : resolve(reply),
    ),
  );

async function until(check: () => boolean, ms = 2000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(20)) if (check()) return true;
  return check();
}

describe.each([
  ['newest tested', grpcNewest],
  ['oldest claimed', grpcOldest as unknown as Grpc],
])('certificateProvider with grpc-js %s', (_label, grpc: Grpc) => {
  let server: Awaited<ReturnType<typeof startServer>>;
  const Echo = echoOf(grpc);
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(() => server.close());

  it('an open connection keeps its certificate after a rotation; the next connection of the same channel presents the new one', async () => {
    const { r, source, certs, fp } = await setup();
    const provider = await certificateProvider(r);
    const creds = grpc.experimental.createCertificateProviderChannelCredentials(provider, provider);
    const client = new Echo(server.target, creds);

    const first = await unary(client, 'first');
    expect(first.fingerprint256).toBe(fp[0]);
    expect(provider.listenerCount()).toBe(2);

    source.serve(certs[1] as IssuedCert);
    await r.refresh();
    // The limit: the open connection still presents the certificate it was set up with.
    const same = await unary(client, 'same connection');
    expect(same).toMatchObject({ fingerprint256: fp[0], connection: first.connection });

    // The server ends the connection; the channel reconnects with the provider's new certificate.
    server.drain();
    await sleep(200);
    const next = await unary(client, 'reconnected');
    expect(next.fingerprint256).toBe(fp[1]);
    expect(next.connection).not.toBe(first.connection);

    // Closing the channel removes grpc-js's listeners from the provider.
    client.close();
    expect(await until(() => provider.listenerCount() === 0)).toBe(true);
    provider.close();
  });

  it('close() stops following the resolver and fails new connections instead of hanging them', async () => {
    const { r, source, certs } = await setup();
    const provider = await certificateProvider(r);
    const offs = vi.spyOn(r, 'off');
    provider.close();
    expect(offs).toHaveBeenCalledWith('rotated', expect.any(Function));
    const loads = vi.spyOn(r, 'tlsOptions');
    source.serve(certs[1] as IssuedCert);
    await r.refresh();
    await sleep(20);
    expect(loads).not.toHaveBeenCalled();

    const client = new Echo(
      server.target,
      grpc.experimental.createCertificateProviderChannelCredentials(provider, provider),
    );
    await expect(unary(client, 'closed provider')).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
    });
    expect(provider.listenerCount()).toBe(0);
    client.close();
  });
});

describe('certificateProvider', () => {
  it('gives a listener added later the current certificate, and keeps the key out of inspect and JSON', async () => {
    const { r, source, certs, fp } = await setup();
    const provider = await certificateProvider(r);
    source.serve(certs[2] as IssuedCert);
    await r.refresh();
    await sleep(20);
    const updates: Array<{ certificate: Buffer; privateKey: Buffer } | null> = [];
    const listener = (u: { certificate: Buffer; privateKey: Buffer } | null) => updates.push(u);
    provider.addIdentityCertificateListener(listener);
    expect(updates).toHaveLength(1);
    expect(
      new (await import('node:crypto')).X509Certificate(updates[0]?.certificate as Buffer).fingerprint256,
    ).toBe(fp[2]);
    const cas: Array<{ caCertificate: Buffer } | null> = [];
    provider.addCaCertificateListener((u) => cas.push(u));
    expect(cas[0]?.caCertificate.toString()).toContain(ca.rootPem.trim());
    leakCheck([(certs[2] as IssuedCert).keyPem, (certs[0] as IssuedCert).keyPem]).check(provider, 'provider');
    provider.removeIdentityCertificateListener(listener);
    expect(provider.listenerCount()).toBe(1);
    provider.close();
    expect(provider.listenerCount()).toBe(0);
  });

  it('rejects when the resolver has no certificate, and follows nothing then', async () => {
    const r = createTlsResolver({ source: new MemorySource('memory:grpc-provider', ca) });
    open.push(r);
    const offs = vi.spyOn(r, 'off');
    await expect(certificateProvider(r)).rejects.toMatchObject({ name: 'MtlsError' });
    expect(offs).toHaveBeenCalledWith('rotated', expect.any(Function));
  });
});
