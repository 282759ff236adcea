// undici over HTTP/2 with a rotating client certificate: `dispatcher({ allowH2: true })` and `fetch`
// negotiate h2 and present the certificate; after each rotation, requests go on a new session with the
// new certificate while streams in flight on the old one finish, and the old session closes.
import { createTlsResolver, type TlsResolver } from '@mtlskit/core';
import { type IssuedCert, TestCA } from '@mtlskit/testkit';
import { fetch as undiciFetch } from 'undici';
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

async function setup(options: { allowH2InResolver?: boolean } = {}) {
  const certs: IssuedCert[] = [];
  for (let i = 0; i < 4; i++) certs.push(await ca.issueClient({ commonName: `h2 client ${i}` }));
  const source = new MemorySource().serve(certs[0] as IssuedCert, ca.rootPem);
  const r = createTlsResolver({
    source,
    // One connection per origin, multiplexing up to 100 streams (undici 7 sends one request at a
    // time per connection, h2 included, unless `pipelining` says otherwise).
    ...(options.allowH2InResolver
      ? { dispatcherOptions: { allowH2: true, connections: 1, pipelining: 100 } }
      : {}),
  });
  open.push(r);
  return { r, source, certs, fp: certs.map((c) => c.x509.fingerprint256) };
}

describe('undici with allowH2', () => {
  it('dispatcher({ allowH2: true }) negotiates h2 and presents the certificate; dispatcher() stays http/1.1', async () => {
    const { r, fp } = await setup();
    const h2 = r.dispatcher({ allowH2: true });
    expect(r.dispatcher({ allowH2: true })).toBe(h2);
    expect(r.dispatcher()).not.toBe(h2);
    const a = (await (await undiciFetch(`${server.url}/a`, { dispatcher: h2 })).json()) as H2Reply;
    const b = (await (await undiciFetch(`${server.url}/b`, { dispatcher: h2 })).json()) as H2Reply;
    expect(a).toMatchObject({ httpVersion: '2.0', fingerprint256: fp[0] });
    expect(b.session).toBe(a.session);
    const h1 = (await (
      await undiciFetch(`${server.url}/c`, { dispatcher: r.dispatcher() })
    ).json()) as H2Reply;
    expect(h1).toMatchObject({ httpVersion: '1.1', fingerprint256: fp[0] });
  });

  it('resolver.fetch speaks h2 with dispatcherOptions.allowH2', async () => {
    const { r, fp } = await setup({ allowH2InResolver: true });
    const reply = (await (await r.fetch(`${server.url}/x`)).json()) as H2Reply;
    expect(reply).toMatchObject({ httpVersion: '2.0', fingerprint256: fp[0] });
  });

  it('continuous requests across three rotations: none fails, every request sent after a rotation presents the new certificate, in-flight streams finish, old sessions close', async () => {
    const { r, source, certs, fp } = await setup({ allowH2InResolver: true });
    await r.credentials();
    let generation = 0;
    let running = true;
    const results: Array<{ sentIn: number; reply?: H2Reply; error?: unknown }> = [];
    const slow: Array<Promise<{ sentIn: number; reply: H2Reply }>> = [];
    const worker = async () => {
      while (running) {
        const sentIn = generation;
        try {
          const res = await r.fetch(`${server.url}/fast`);
          results.push({ sentIn, reply: (await res.json()) as H2Reply });
        } catch (error) {
          results.push({ sentIn, error });
        }
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    for (let g = 1; g < 4; g++) {
      await sleep(150);
      // A stream held open across the rotation: it must finish on its (old) session.
      const sentIn = generation;
      slow.push(
        r.fetch(`${server.url}/slow`).then(async (res) => ({ sentIn, reply: (await res.json()) as H2Reply })),
      );
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
      // Sent after rotation g completed: certificate g (or a later one, if another rotation came first).
      expect(fp.indexOf(x.reply?.fingerprint256 as string)).toBeGreaterThanOrEqual(x.sentIn);
    }
    for (const s of slowReplies) expect(s.reply.fingerprint256).toBe(fp[s.sentIn]);
    // One session per certificate, and those of the old certificates have closed.
    const used = new Set(results.map((x) => x.reply?.session));
    expect(used.size).toBe(4);
    await sleep(100);
    for (const id of used) {
      const s = server.sessions.get(id as number);
      if (s?.fingerprint256 !== fp[3]) expect(s?.closed).toBe(true);
    }
    expect((r.dispatcher() as unknown as { liveAgents(): number }).liveAgents()).toBe(1);
  });
});
