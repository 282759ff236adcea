// What an application's catch block receives when mtlskit refuses a request made through an HTTP
// client: axios, got and fetch each wrap the resolver's MtlsError in an error of their own, with the
// MtlsError in `cause`. MtlsError.from finds it there; MtlsError.is answers for the wrapper itself.
// node:https hands the request's 'error' listener the MtlsError as it is.
import https from 'node:https';
import { createTlsResolver, MtlsError, type TlsResolver } from '@mtlskit/core';
import { type IssuedCert, type MtlsTestServer, startMtlsServer, TestCA } from '@mtlskit/testkit';
import axios from 'axios';
import got, { RequestError } from 'got';
import { fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemorySource } from '../resolver/helpers.js';

let ca: TestCA;
let expired: IssuedCert;
let valid: IssuedCert;
let server: MtlsTestServer;
const open: TlsResolver[] = [];

beforeAll(async () => {
  ca = await TestCA.create();
  expired = await ca.issueClient({ notAfter: new Date(Date.now() - 60 * 60_000) });
  valid = await ca.issueClient();
  server = await startMtlsServer({ clientCa: ca });
});
afterAll(async () => {
  await Promise.all(open.map((r) => r.close()));
  await server.close();
});

function resolverOf(cert: IssuedCert): TlsResolver {
  const r = createTlsResolver({ source: new MemorySource('memory:wrapped').serve(cert, server.caPem) });
  open.push(r);
  return r;
}

/** An EXPIRED resolver (its only certificate is past notAfter), or a CLOSED one that had loaded a valid one. */
async function refusing(code: 'EXPIRED' | 'CLOSED'): Promise<TlsResolver> {
  if (code === 'EXPIRED') return resolverOf(expired);
  const r = resolverOf(valid);
  await r.credentials();
  await r.close();
  return r;
}

async function rejection(request: Promise<unknown>): Promise<unknown> {
  try {
    await request;
  } catch (err) {
    return err;
  }
  throw new Error('expected the request to be refused');
}

const clients = {
  'axios with httpsAgent: agent()': {
    request: (r: TlsResolver, url: string) => axios.get(url, { httpsAgent: r.agent(), proxy: false }),
    // axios copies the cause's code (and name) onto its AxiosError, but not retryable nor sourceId.
    wrapper: (err: unknown) => axios.isAxiosError(err),
    copiesCode: true,
  },
  'got with agent: { https: agent() }': {
    request: (r: TlsResolver, url: string) => got(url, { agent: { https: r.agent() }, retry: { limit: 0 } }),
    wrapper: (err: unknown) => err instanceof RequestError,
    copiesCode: true,
  },
  "the resolver's fetch()": {
    request: (r: TlsResolver, url: string) => r.fetch(url),
    wrapper: (err: unknown) => err instanceof TypeError && err.message === 'fetch failed',
  },
  "undici's fetch with dispatcher()": {
    request: (r: TlsResolver, url: string) => undiciFetch(url, { dispatcher: r.dispatcher() }),
    wrapper: (err: unknown) => err instanceof TypeError && err.message === 'fetch failed',
  },
  "Node's global fetch with dispatcher()": {
    // Node's fetch types its dispatcher with its bundled undici-types, not the undici the resolver uses.
    request: (r: TlsResolver, url: string) =>
      fetch(url, { dispatcher: r.dispatcher() } as unknown as RequestInit),
    wrapper: (err: unknown) => err instanceof TypeError && err.message === 'fetch failed',
  },
};

describe.each(Object.entries(clients))('%s', (_name, client) => {
  it.each(['EXPIRED', 'CLOSED'] as const)(
    'wraps %s: MtlsError.from finds it in cause, MtlsError.is does not take the wrapper for it',
    async (code) => {
      const r = await refusing(code);
      const path = `/wrapped-${code}-${_name.replace(/\W+/g, '-')}`;
      const err = await rejection(client.request(r, `${server.url}${path}`));
      expect(client.wrapper(err), 'the client wrapped the error in its own').toBe(true);
      expect(MtlsError.is(err)).toBe(false);
      expect((err as { code?: unknown }).code === code).toBe('copiesCode' in client);

      const found = MtlsError.from(err, code);
      expect(found).toBeInstanceOf(MtlsError);
      expect(found).toBe((err as Error).cause);
      expect(found).toMatchObject({ code, retryable: false, sourceId: 'memory:wrapped' });
      expect(MtlsError.from(err)?.code).toBe(code);
      expect(MtlsError.from(err, code === 'EXPIRED' ? 'CLOSED' : 'EXPIRED')).toBeUndefined();
      // The request never reached the server: no expired certificate was presented, nothing was sent after close().
      expect(server.requests.filter((q) => q.path === path)).toEqual([]);
    },
  );
});

describe('node:https with agent()', () => {
  it.each(['EXPIRED', 'CLOSED'] as const)(
    "hands the request's error listener the %s MtlsError itself",
    async (code) => {
      const r = await refusing(code);
      const path = `/wrapped-${code}-https`;
      const err = await rejection(
        new Promise((resolve, reject) => {
          https.get(`${server.url}${path}`, { agent: r.agent() }, resolve).on('error', reject);
        }),
      );
      expect(MtlsError.is(err, code)).toBe(true);
      expect(MtlsError.from(err)).toBe(err);
      expect(server.requests.filter((q) => q.path === path)).toEqual([]);
    },
  );
});
