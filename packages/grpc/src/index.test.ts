// Against a real grpc-js server requiring client certificates, reporting the certificate it saw and
// the connection (peer address) each call came on: continuous unary calls across rotations, with unary
// and server-streaming calls held in flight across each rotation.
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { TlsResolver } from '@mtlskit/core';
import { type IssuedCert, TestCA } from '@mtlskit/testkit';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { listenMtls, rotatingSetup } from './__tests__/harness.js';
import { channelCredentials, rotatingClient } from './index.js';

interface EchoReply {
  message: string;
  fingerprint256: string;
  connection: number;
}
type Callback = (err: grpc.ServiceError | null, reply: EchoReply) => void;
interface EchoClient extends grpc.Client {
  unary(req: { message: string; delayMs?: number }, cb: Callback): grpc.ClientUnaryCall;
  stream(req: { message: string; delayMs?: number; count?: number }): grpc.ClientReadableStream<EchoReply>;
}

const packageDef = protoLoader.loadSync(fileURLToPath(new URL('./__tests__/echo.proto', import.meta.url)));
const proto = grpc.loadPackageDefinition(packageDef) as unknown as {
  mtlskit: { test: { Echo: new (target: string, creds: grpc.ChannelCredentials) => EchoClient } };
};
const Echo = proto.mtlskit.test.Echo;

let ca: TestCA;
let server: grpc.Server;
let target: string;
/** Connections (client peer addresses) the server has seen, with the certificate of each. */
const connections = new Map<string, number>();
const open: TlsResolver[] = [];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function observed(
  call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>,
) {
  const peer = call.getPeer();
  if (!connections.has(peer)) connections.set(peer, connections.size + 1);
  return {
    fingerprint256: call.getAuthContext().sslPeerCertificate?.fingerprint256 ?? '',
    connection: connections.get(peer) as number,
  };
}

beforeAll(async () => {
  ca = await TestCA.create();
  const serverCert = await ca.issueServer({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  server = new grpc.Server();
  const service = (proto.mtlskit.test.Echo as unknown as { service: grpc.ServiceDefinition }).service;
  server.addService(service, {
    unary: (
      call: grpc.ServerUnaryCall<{ message: string; delayMs: number }, EchoReply>,
      cb: grpc.sendUnaryData<EchoReply>,
    ) => {
      const reply = { message: call.request.message, ...observed(call) };
      setTimeout(() => cb(null, reply), call.request.delayMs);
    },
    stream: async (
      call: grpc.ServerWritableStream<{ message: string; delayMs: number; count: number }, EchoReply>,
    ) => {
      const seen = observed(call);
      for (let i = 0; i < call.request.count; i++) {
        await sleep(call.request.delayMs);
        call.write({ message: `${call.request.message} ${i}`, ...seen });
      }
      call.end();
    },
  });
  target = await listenMtls(grpc, server, ca, serverCert);
});
afterAll(async () => {
  await Promise.all(open.map((r) => r.close()));
  server.forceShutdown();
});

const setup = () => rotatingSetup(ca, 'grpc client', 4, open);

const unary = (client: EchoClient, message: string, delayMs = 0) =>
  new Promise<EchoReply>((resolve, reject) =>
    client.unary({ message, delayMs }, (err, reply) => (err ? reject(err) : resolve(reply))),
  );
const stream = (client: EchoClient, message: string) =>
  new Promise<EchoReply[]>((resolve, reject) => {
    const replies: EchoReply[] = [];
    client
      .stream({ message, delayMs: 150, count: 5 })
      .on('data', (r: EchoReply) => replies.push(r))
      .on('end', () => resolve(replies))
      .on('error', reject);
  });

describe('channelCredentials', () => {
  it('presents the resolver certificate to a server requiring client certificates', async () => {
    const { r, fp } = await setup();
    const client = new Echo(target, await channelCredentials(r));
    const reply = await unary(client, 'hi');
    expect(reply).toMatchObject({ message: 'hi', fingerprint256: fp[0] });
    client.close();
  });
});

describe('rotatingClient', () => {
  it('continuous calls across three rotations: none fails, calls sent after a rotation present the new certificate, unary and streaming calls in flight finish on the old channel, which closes', async () => {
    const { r, source, certs, fp } = await setup();
    const client = await rotatingClient(r, (creds) => new Echo(target, creds));
    let generation = 0;
    let running = true;
    const results: Array<{ sentIn: number; reply?: EchoReply; error?: unknown }> = [];
    const held: Array<Promise<{ sentIn: number; replies: EchoReply[] }>> = [];
    const worker = async () => {
      while (running) {
        const sentIn = generation;
        try {
          results.push({ sentIn, reply: await unary(client, 'fast') });
        } catch (error) {
          results.push({ sentIn, error });
        }
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    for (let g = 1; g < 4; g++) {
      await sleep(200);
      const sentIn = generation;
      held.push(unary(client, 'slow', 700).then((reply) => ({ sentIn, replies: [reply] })));
      held.push(stream(client, 'stream').then((replies) => ({ sentIn, replies })));
      await sleep(50);
      source.serve(certs[g] as IssuedCert);
      await r.refresh();
      generation = g;
    }
    await sleep(200);
    running = false;
    await Promise.all(workers);
    const heldReplies = await Promise.all(held);

    expect(results.filter((x) => x.error !== undefined)).toEqual([]);
    for (let g = 0; g < 4; g++) expect(results.filter((x) => x.sentIn === g).length).toBeGreaterThan(2);
    for (const x of results) {
      expect(fp.indexOf(x.reply?.fingerprint256 as string)).toBeGreaterThanOrEqual(x.sentIn);
    }
    for (const h of heldReplies) {
      expect(h.replies.length).toBeGreaterThan(0);
      for (const reply of h.replies) expect(reply.fingerprint256).toBe(fp[h.sentIn]);
    }
    expect(heldReplies.filter((h) => h.replies.length === 5 || h.replies[0]?.message === 'slow').length).toBe(
      6,
    );
    // One connection per certificate: each client's channel kept its certificate for its whole life.
    const byConnection = new Map<number, Set<string>>();
    for (const x of results) {
      const reply = x.reply as EchoReply;
      byConnection.set(
        reply.connection,
        (byConnection.get(reply.connection) ?? new Set()).add(reply.fingerprint256),
      );
    }
    expect(byConnection.size).toBe(4);
    for (const fps of byConnection.values()) expect(fps.size).toBe(1);
    client.close();
    await expect(unary(client, 'after close')).rejects.toThrow();
  });

  it('refuses a create that is not a function', async () => {
    const { r } = await setup();
    await expect(rotatingClient(r, {} as never)).rejects.toMatchObject({ code: 'INVALID_OPTION' });
  });

  it('a rotation whose credentials cannot be built keeps the current client; the next rotation moves', async () => {
    const { r, source, certs, fp } = await setup();
    const create = vi.fn((creds: grpc.ChannelCredentials) => new Echo(target, creds));
    const client = await rotatingClient(r, create);
    expect((await unary(client, 'first')).fingerprint256).toBe(fp[0]);
    vi.spyOn(r, 'secureContext').mockRejectedValueOnce(new Error('no context'));
    source.serve(certs[1] as IssuedCert);
    await r.refresh();
    await sleep(20);
    expect(create).toHaveBeenCalledTimes(1);
    expect((await unary(client, 'still')).fingerprint256).toBe(fp[0]);
    source.serve(certs[2] as IssuedCert);
    await r.refresh();
    await sleep(20);
    expect(create).toHaveBeenCalledTimes(2);
    expect((await unary(client, 'moved')).fingerprint256).toBe(fp[2]);
    client.close();
  });

  it('after close() it builds no client on rotation', async () => {
    const { r, source, certs } = await setup();
    const create = vi.fn((creds: grpc.ChannelCredentials) => new Echo(target, creds));
    const client = await rotatingClient(r, create);
    client.close();
    source.serve(certs[1] as IssuedCert);
    await r.refresh();
    await sleep(20);
    expect(create).toHaveBeenCalledTimes(1);
    await expect(unary(client, 'after close')).rejects.toThrow();
  });

  it('a rotation still building its credentials when close() is called builds no client', async () => {
    const { r, source, certs } = await setup();
    const create = vi.fn((creds: grpc.ChannelCredentials) => new Echo(target, creds));
    const client = await rotatingClient(r, create);
    const secureContext = r.secureContext.bind(r);
    vi.spyOn(r, 'secureContext').mockImplementationOnce(() => sleep(50).then(secureContext));
    source.serve(certs[1] as IssuedCert);
    await r.refresh();
    client.close();
    await sleep(100);
    expect(create).toHaveBeenCalledTimes(1);
  });
});
