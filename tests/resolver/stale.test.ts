// Stale on error, as the server sees it: after each bad update (the source throws, serves corrupt
// data, serves a key that does not match the certificate) the agent and fetch() keep presenting the
// last good certificate on the same pooled connection, refreshFailed reports the coded MtlsError, and
// fixing the source brings a rotation: new connections, new certificate.
import {
  createTlsResolver,
  MtlsError,
  type RefreshFailedEvent,
  type RotatedEvent,
  type TlsResolver,
} from '@mtlskit/core';
import { type IssuedCert, type MtlsTestServer, startMtlsServer, TestCA } from '@mtlskit/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getWithAgent, MemorySource, type Reply } from './helpers.js';

let ca: TestCA;
let good: IssuedCert;
let other: IssuedCert;
let renewed: IssuedCert;
let server: MtlsTestServer;
const open: TlsResolver[] = [];

beforeAll(async () => {
  ca = await TestCA.create();
  [good, other, renewed] = await Promise.all([ca.issueClient(), ca.issueClient(), ca.issueClient()]);
  // Keep-alive connections must outlive the whole sequence for "same connection" to mean something.
  server = await startMtlsServer({ clientCa: ca, keepAliveTimeout: 60_000 });
});
afterAll(async () => {
  await Promise.all(open.map((r) => r.close()));
  await server.close();
});

describe('stale on error, end to end', () => {
  it('after each bad update, agent() and fetch() keep presenting the old certificate on the same connection, refreshFailed carries the coded error, and the fixed source rotates', async () => {
    const source = new MemorySource().serve(good, server.caPem);
    // A long backoff: a slow iteration on a loaded machine must not let a request start a retry.
    const r = createTlsResolver({ source, mode: 'on-access', backoff: { initialMs: 60_000 } });
    open.push(r);
    const failures: RefreshFailedEvent[] = [];
    const rotations: RotatedEvent[] = [];
    r.on('refreshFailed', (e) => failures.push(e));
    r.on('rotated', (e) => rotations.push(e));
    const viaAgent = () => getWithAgent(`${server.url}/stale-agent`, r.agent());
    const viaFetch = async (): Promise<Reply> => {
      const res = await r.fetch(`${server.url}/stale-fetch`);
      return { status: res.status, ...((await res.json()) as Omit<Reply, 'status'>) };
    };

    const first = { agent: await viaAgent(), fetch: await viaFetch() };
    for (const reply of Object.values(first)) {
      expect(reply).toMatchObject({ status: 200, fingerprint256: good.fingerprint256 });
    }

    const badUpdates: Array<[string, () => void, string]> = [
      [
        'the source throws',
        () => {
          source.failure = new Error('connect ECONNREFUSED 10.0.0.7:8200');
        },
        'SOURCE_UNAVAILABLE',
      ],
      [
        'corrupt data',
        () => {
          source.failure = undefined;
          source.serveMaterial({ cert: 'not a certificate at all', key: good.keyPem, ca: server.caPem });
        },
        'DECODE_FAILED',
      ],
      [
        'a key that does not match the certificate',
        () => {
          source.serveMaterial({ cert: good.fullChainPem, key: other.keyPem, ca: server.caPem });
        },
        'KEY_MISMATCH',
      ],
    ];
    for (const [what, apply, code] of badUpdates) {
      apply();
      const error = await r.refresh().then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(error, what).toBeInstanceOf(MtlsError);
      expect(error, what).toMatchObject({ code });
      expect(failures.at(-1), what).toMatchObject({
        error: { code },
        stale: true,
        fingerprint256: good.fingerprint256,
      });
      expect(failures.at(-1)?.error, what).toBeInstanceOf(MtlsError);
      expect(r.health(), what).toMatchObject({ ready: true, stale: true, lastError: { code } });
      // Same certificate, same pooled connection, for both clients.
      const now = { agent: await viaAgent(), fetch: await viaFetch() };
      expect(now.agent, what).toMatchObject({
        status: 200,
        fingerprint256: good.fingerprint256,
        connectionId: first.agent.connectionId,
      });
      expect(now.fetch, what).toMatchObject({
        status: 200,
        fingerprint256: good.fingerprint256,
        connectionId: first.fetch.connectionId,
      });
    }
    expect(failures.map((f) => f.error.code)).toEqual(badUpdates.map(([, , code]) => code));
    expect(rotations).toEqual([]);

    // Fixed: the next refresh rotates, and both clients move to new connections with the new certificate.
    source.serve(renewed, server.caPem);
    expect((await r.refresh()).fingerprint256).toBe(renewed.fingerprint256);
    expect(rotations).toEqual([
      {
        previousFingerprint256: good.fingerprint256,
        fingerprint256: renewed.fingerprint256,
        notAfter: renewed.notAfter,
      },
    ]);
    expect(r.health()).toMatchObject({ ready: true, stale: false });
    expect(r.health().lastError).toBeUndefined();
    const after = { agent: await viaAgent(), fetch: await viaFetch() };
    for (const [client, reply] of Object.entries(after)) {
      expect(reply, client).toMatchObject({ status: 200, fingerprint256: renewed.fingerprint256 });
    }
    const oldConnections = new Set([first.agent.connectionId, first.fetch.connectionId]);
    expect(oldConnections.has(after.agent.connectionId)).toBe(false);
    expect(oldConnections.has(after.fetch.connectionId)).toBe(false);
    // Only the good certificate and its renewal ever reached the server.
    const seen = server.requests.filter((q) => q.path.startsWith('/stale-'));
    expect(new Set(seen.map((q) => q.peerFingerprint256))).toEqual(
      new Set([good.fingerprint256, renewed.fingerprint256]),
    );
  });
});
