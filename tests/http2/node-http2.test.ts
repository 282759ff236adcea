// The rotating node:http2 client (`resolver.http2(authority)`) against a real HTTP/2 server requiring
// client certificates: one session per certificate, a new session on rotation with the old one closed
// once its streams end, no stream refused during the switch, reconnection after GOAWAY or a network error.
import type http2 from 'node:http2';
import { createTlsResolver, MtlsError, type RotatingHttp2Client, type TlsResolver } from '@mtlskit/core';
import { type IssuedCert, TestCA } from '@mtlskit/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemorySource, sleep } from '../resolver/helpers.js';
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

async function setup() {
  const certs: IssuedCert[] = [];
  for (let i = 0; i < 4; i++) certs.push(await ca.issueClient({ commonName: `node h2 client ${i}` }));
  const source = new MemorySource().serve(certs[0] as IssuedCert, ca.rootPem);
  const r = createTlsResolver({ source });
  open.push(r);
  await r.credentials();
  return { r, source, certs, fp: certs.map((c) => c.x509.fingerprint256) };
}

/** Reads a stream's JSON reply. */
function replyOf(stream: http2.ClientHttp2Stream): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    let body = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      body += chunk;
    });
    stream.on('end', () => {
      try {
        resolve(JSON.parse(body) as H2Reply);
      } catch (err) {
        reject(err);
      }
    });
    stream.on('error', reject);
  });
}

const get = (client: RotatingHttp2Client, path: string) => replyOf(client.request({ ':path': path }));

describe('resolver.http2(authority)', () => {
  it('presents the certificate over h2 and reuses one session', async () => {
    const { r, fp } = await setup();
    const client = r.http2(server.url);
    const [a, b] = await Promise.all([get(client, '/a'), get(client, '/b')]);
    expect(a).toMatchObject({ httpVersion: '2.0', fingerprint256: fp[0] });
    expect(b.session).toBe(a.session);
    expect(client.liveSessions()).toBe(1);
    await client.close();
    expect(() => client.request({ ':path': '/' })).toThrow(MtlsError);
    expect(server.sessions.get(a.session)?.closed).toBe(true);
  });

  it('rejects an authority that is not https', async () => {
    const { r } = await setup();
    expect(() => r.http2('http://localhost:1')).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
  });

  it('continuous requests across three rotations: none fails, every request sent after a rotation presents the new certificate, in-flight streams finish, old sessions close', async () => {
    const { r, source, certs, fp } = await setup();
    const client = r.http2(server.url);
    let generation = 0;
    let running = true;
    const results: Array<{ sentIn: number; reply?: H2Reply; error?: unknown }> = [];
    const slow: Array<Promise<{ sentIn: number; reply: H2Reply }>> = [];
    const worker = async () => {
      while (running) {
        const sentIn = generation;
        try {
          results.push({ sentIn, reply: await get(client, '/fast') });
        } catch (error) {
          results.push({ sentIn, error });
        }
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    for (let g = 1; g < 4; g++) {
      await sleep(150);
      const sentIn = generation;
      slow.push(get(client, '/slow').then((reply) => ({ sentIn, reply })));
      await sleep(50);
      source.serve(certs[g] as IssuedCert, ca.rootPem);
      await r.refresh();
      generation = g;
    }
    await sleep(150);
    running = false;
    await Promise.all(workers);
    const slowReplies = await Promise.all(slow);

    expect(results.filter((x) => x.error !== undefined)).toEqual([]);
    for (let g = 0; g < 4; g++) expect(results.filter((x) => x.sentIn === g).length).toBeGreaterThan(2);
    for (const x of results) {
      expect(x.reply?.httpVersion).toBe('2.0');
      expect(fp.indexOf(x.reply?.fingerprint256 as string)).toBeGreaterThanOrEqual(x.sentIn);
    }
    for (const s of slowReplies) expect(s.reply.fingerprint256).toBe(fp[s.sentIn]);
    const used = new Set(results.map((x) => x.reply?.session));
    expect(used.size).toBe(4);
    await sleep(100);
    for (const id of used) {
      const s = server.sessions.get(id as number);
      if (s?.fingerprint256 !== fp[3]) expect(s?.closed).toBe(true);
    }
    expect(client.liveSessions()).toBe(1);
  });

  it('streams opened on the old session in the task of the rotation finish there, none refused', async () => {
    const { r, source, certs, fp } = await setup();
    const client = r.http2(server.url);
    const first = await get(client, '/warm');
    source.serve(certs[1] as IssuedCert, ca.rootPem);
    const refreshed = r.refresh();
    // Streams opened on the old session right up to the epoch change, and right after it.
    const before = Array.from({ length: 20 }, () => get(client, '/same-tick'));
    await refreshed;
    const after = Array.from({ length: 20 }, () => get(client, '/after'));
    const replies = await Promise.all([...before, ...after]);
    // Opened on the old session in the same task as the epoch change (the refresh completes in
    // microtasks), they finish there: the old session is closed a turn of the event loop later.
    for (const reply of replies.slice(0, 20)) expect(reply.session).toBe(first.session);
    for (const reply of replies.slice(20)) expect(reply.fingerprint256).toBe(fp[1]);
    await sleep(50);
    expect(server.sessions.get(first.session)?.closed).toBe(true);
  });

  it('reconnects after the server sends GOAWAY and after the connection is destroyed', async () => {
    const { r, fp } = await setup();
    const client = r.http2(server.url);
    const a = await get(client, '/a');
    server.goawayAll();
    await sleep(50);
    const b = await get(client, '/b');
    expect(b.session).not.toBe(a.session);
    expect(b.fingerprint256).toBe(fp[0]);
    server.destroyAll();
    await sleep(50);
    const c = await get(client, '/c');
    expect(c.session).not.toBe(b.session);
    expect(c.fingerprint256).toBe(fp[0]);
  });

  it('closing the resolver closes its HTTP/2 clients', async () => {
    const { r } = await setup();
    const client = r.http2(server.url);
    const a = await get(client, '/a');
    await r.close();
    expect(() => client.request({ ':path': '/' })).toThrow(expect.objectContaining({ code: 'CLOSED' }));
    await sleep(50);
    expect(server.sessions.get(a.session)?.closed).toBe(true);
    expect(() => r.http2(server.url)).toThrow(expect.objectContaining({ code: 'CLOSED' }));
  });
});
