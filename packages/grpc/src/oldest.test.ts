// The oldest grpc-js the peer range claims (1.12.0, installed as grpc-js-1.12.0) as the application's
// copy: @mtlskit/grpc's `@grpc/grpc-js` import resolves to it here, as it would in an application
// pinned to 1.12.0, and its clients (of 1.12.0) accept the credentials built with it. Against a real
// grpc-js server requiring client certificates (1.14.7, which reports the certificate of each call).
import { fileURLToPath } from 'node:url';
import type * as grpcNewest from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { type CredentialMaterial, type CredentialSource, createTlsResolver } from '@mtlskit/core';
import { type IssuedCert, TestCA } from '@mtlskit/testkit';
import * as grpcOldest from 'grpc-js-1.12.0';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { listenMtls } from './__tests__/harness.js';
import { channelCredentials, rotatingClient } from './index.js';

vi.mock('@grpc/grpc-js', () => import('grpc-js-1.12.0'));

interface EchoReply {
  message: string;
  fingerprint256: string;
}
interface EchoClient extends grpcNewest.Client {
  unary(
    req: { message: string },
    cb: (err: grpcNewest.ServiceError | null, reply: EchoReply) => void,
  ): grpcNewest.ClientUnaryCall;
}

const packageDef = protoLoader.loadSync(fileURLToPath(new URL('./__tests__/echo.proto', import.meta.url)));
const Echo = (
  grpcOldest.loadPackageDefinition(packageDef) as unknown as {
    mtlskit: { test: { Echo: new (target: string, creds: unknown) => EchoClient } };
  }
).mtlskit.test.Echo;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let ca: TestCA;
let server: grpcNewest.Server;
let target: string;

beforeAll(async () => {
  const grpc = await vi.importActual<typeof grpcNewest>('@grpc/grpc-js');
  ca = await TestCA.create();
  const serverCert = await ca.issueServer({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const proto = grpc.loadPackageDefinition(packageDef) as unknown as {
    mtlskit: { test: { Echo: { service: grpcNewest.ServiceDefinition } } };
  };
  server = new grpc.Server();
  server.addService(proto.mtlskit.test.Echo.service, {
    unary: (
      call: grpcNewest.ServerUnaryCall<{ message: string }, EchoReply>,
      cb: grpcNewest.sendUnaryData<EchoReply>,
    ) =>
      cb(null, {
        message: call.request.message,
        fingerprint256: call.getAuthContext().sslPeerCertificate?.fingerprint256 ?? '',
      }),
    stream: (call: grpcNewest.ServerWritableStream<unknown, EchoReply>) => call.end(),
  });
  target = await listenMtls(grpc, server, ca, serverCert);
});
afterAll(() => server.forceShutdown());

const unary = (client: EchoClient, message: string) =>
  new Promise<EchoReply>((resolve, reject) =>
    client.unary({ message }, (err, reply) => (err ? reject(err) : resolve(reply))),
  );

describe('@mtlskit/grpc with grpc-js 1.12.0', () => {
  it('channelCredentials and rotatingClient: calls present the certificate, and the new one after each rotation', async () => {
    const certs: IssuedCert[] = [];
    for (let i = 0; i < 3; i++) certs.push(await ca.issueClient({ commonName: `grpc 1.12 client ${i}` }));
    const fp = certs.map((c) => c.x509.fingerprint256);
    let served = certs[0] as IssuedCert;
    let version = 0;
    const source: CredentialSource = {
      id: 'memory:grpc-oldest',
      kind: 'static',
      load: async (): Promise<CredentialMaterial> => ({
        cert: served.fullChainPem,
        key: served.keyPem,
        ca: ca.rootPem,
        version: String(version),
      }),
    };
    const r = createTlsResolver({ source });
    try {
      const creds = await channelCredentials(r);
      expect(creds).toBeInstanceOf(grpcOldest.ChannelCredentials);
      const plain = new Echo(target, creds);
      expect((await unary(plain, 'snapshot')).fingerprint256).toBe(fp[0]);
      plain.close();

      const client = await rotatingClient(r, (c) => new Echo(target, c));
      expect((await unary(client, 'first')).fingerprint256).toBe(fp[0]);
      for (let g = 1; g < 3; g++) {
        served = certs[g] as IssuedCert;
        version++;
        await r.refresh();
        await sleep(20);
        const replies = await Promise.all([unary(client, 'a'), unary(client, 'b')]);
        for (const reply of replies) expect(reply.fingerprint256).toBe(fp[g]);
      }
      client.close();
    } finally {
      await r.close();
    }
  });
});
