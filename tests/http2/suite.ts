// What the HTTP/2 client tests share: a CA and an h2 server per file (started before its tests, closed
// after them with every resolver a test made), a resolver over an in-memory source with four client
// certificates to rotate through, and the run of continuous requests across three rotations whose
// outcome every rotating client must meet.
import { createTlsResolver, type TlsResolver, type TlsResolverOptions } from '@mtlskit/core';
import { type IssuedCert, TestCA } from '@mtlskit/testkit';
import { afterAll, beforeAll, expect } from 'vitest';
import { MemorySource, sleep } from '../resolver/helpers.js';
import { type H2Reply, type H2TestServer, startH2Server } from './server.js';

export interface H2Setup {
  r: TlsResolver;
  /** Has the source serve client certificate `i` of four (0 at first): the next refresh rotates to it. */
  serve(i: number): void;
  /** The SHA-256 fingerprints of the four certificates, as the server reports them. */
  fp: string[];
}

export interface H2Suite {
  readonly server: H2TestServer;
  /** A resolver (closed after the file's tests) over a source serving the first of four new certificates. */
  setup(commonName: string, options?: Omit<TlsResolverOptions, 'source'>): Promise<H2Setup>;
}

/** Registers the file's beforeAll/afterAll: call it at the top of a test file. */
export function useH2Suite(): H2Suite {
  let ca: TestCA | undefined;
  let server: H2TestServer | undefined;
  const open: TlsResolver[] = [];
  beforeAll(async () => {
    ca = await TestCA.create();
    server = await startH2Server(ca);
  });
  afterAll(async () => {
    await Promise.all(open.map((r) => r.close()));
    await server?.close();
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('useH2Suite(): used before its beforeAll ran');
    return value;
  };
  return {
    get server() {
      return started(server);
    },
    async setup(commonName, options = {}) {
      const issuer = started(ca);
      const certs: IssuedCert[] = [];
      for (let i = 0; i < 4; i++) certs.push(await issuer.issueClient({ commonName: `${commonName} ${i}` }));
      const source = new MemorySource().serve(certs[0] as IssuedCert, issuer.rootPem);
      const r = createTlsResolver({ ...options, source });
      open.push(r);
      return {
        r,
        serve: (i) => source.serve(certs[i] as IssuedCert, issuer.rootPem),
        fp: certs.map((c) => c.x509.fingerprint256),
      };
    },
  };
}

/**
 * Eight workers sending `fast()` back to back while the source rotates three times, a `slow()` stream
 * (the server holds it 800 ms) opened before each rotation; then asserts what every rotating client
 * owes: no request failed, each generation served requests over h2, a request sent after rotation g
 * presents certificate g or later, each held stream finishes with the certificate it was sent under,
 * one session per certificate, and every old certificate's session closed.
 */
export async function expectSeamlessRotations(
  { r, serve, fp }: H2Setup,
  server: H2TestServer,
  send: { fast(): Promise<H2Reply>; slow(): Promise<H2Reply> },
): Promise<void> {
  let generation = 0;
  let running = true;
  const results: Array<{ sentIn: number; reply?: H2Reply; error?: unknown }> = [];
  const slow: Array<Promise<{ sentIn: number; reply: H2Reply }>> = [];
  const worker = async () => {
    while (running) {
      const sentIn = generation;
      try {
        results.push({ sentIn, reply: await send.fast() });
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
    slow.push(send.slow().then((reply) => ({ sentIn, reply })));
    await sleep(50);
    serve(g);
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
}
