// Rotation as the server sees it: the agent and dispatcher handed out once keep working and present
// the new identity on every connection opened and every request started after a rotation, with zero
// failed requests under load; idle old connections close, in-flight ones finish, no old TLS session
// is resumed, nothing piles up.
import type { IncomingMessage, ServerResponse } from 'node:http';
import tls from 'node:tls';
import { createTlsResolver, type TlsResolver } from '@mtlskit/core';
import {
  type IssuedCert,
  type MtlsTestServer,
  type ObservedRequest,
  startMtlsServer,
  TestCA,
} from '@mtlskit/testkit';
import axios from 'axios';
import got from 'got';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { getWithAgent, MemorySource, sleep } from './helpers.js';

let ca: TestCA;
let server: MtlsTestServer;
const open: TlsResolver[] = [];

function reply(req: IncomingMessage, res: ServerResponse, observed: ObservedRequest): void {
  req.resume();
  const body = JSON.stringify({
    fingerprint256: observed.peerFingerprint256 ?? null,
    connectionId: observed.connectionId,
  });
  const send = () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
  // `/slow...` answers late, to hold a request in flight across a rotation.
  if (observed.path.startsWith('/slow')) setTimeout(send, 1_000);
  else send();
}

beforeAll(async () => {
  ca = await TestCA.create();
  server = await startMtlsServer({ clientCa: ca, handler: reply });
});
afterAll(async () => {
  await Promise.all(open.map((r) => r.close()));
  await server.close();
});

function startedGeneration(path: string): number {
  return Number(new URL(path, 'https://x').searchParams.get('started'));
}

/**
 * Records, by local port, the value of `generation()` when each client TLS connection was started:
 * the moment its identity is chosen. Node publishes no diagnostics channel for tls.connect (which
 * both node:https and undici call), so the test wraps it; `restore()` undoes that.
 */
function recordConnectionStarts(generation: () => number): {
  startedIn: Map<number, number>;
  restore(): void;
} {
  const original = tls.connect;
  const startedIn = new Map<number, number>();
  tls.connect = ((...args: Parameters<typeof tls.connect>) => {
    const at = generation();
    const socket = original(...args);
    socket.once('connect', () => {
      if (socket.localPort !== undefined) startedIn.set(socket.localPort, at);
    });
    return socket;
  }) as typeof tls.connect;
  return {
    startedIn,
    restore: () => {
      tls.connect = original;
    },
  };
}

describe('rotation', () => {
  it('under load from five kinds of client and four rotations: zero failed requests, and the server saw the new certificate on every connection opened and every request started after each rotation', async () => {
    const ids = await Promise.all([0, 1, 2, 3, 4].map(() => ca.issueClient()));
    const rank = new Map(ids.map((id, i) => [id.fingerprint256, i]));
    const source = new MemorySource().serve(ids[0] as IssuedCert, server.caPem);
    const r = createTlsResolver({ source, mode: 'on-access' });
    open.push(r);
    let generation = 0;
    r.on('rotated', () => {
      generation++;
    });
    const { startedIn, restore } = recordConnectionStarts(() => generation);

    const clients: Array<(url: string) => Promise<unknown>> = [
      (url) => getWithAgent(url, r.agent()),
      (url) => r.fetch(url).then((res) => res.json()),
      (url) => fetch(url, { dispatcher: r.dispatcher() } as unknown as RequestInit).then((res) => res.json()),
      (url) => axios.get(url, { httpsAgent: r.agent(), proxy: false }).then((res) => res.data),
      (url) => got(url, { agent: { https: r.agent() }, retry: { limit: 0 } }).json(),
    ];
    const failures: unknown[] = [];
    let stop = false;
    let n = 0;
    const loops = Array.from({ length: 10 }, async (_, i) => {
      const send = clients[i % clients.length] as (url: string) => Promise<unknown>;
      while (!stop) {
        const path = `/load?client=${i}&started=${generation}&n=${n++}`;
        await send(`${server.url}${path}`).catch((err: unknown) => failures.push(err));
      }
    });

    // Rotate after every 50 requests started, whatever the machine's speed.
    const afterRequests = async (count: number) => {
      const target = n + count;
      while (n < target && failures.length === 0) await sleep(2);
    };
    try {
      for (const next of ids.slice(1)) {
        await afterRequests(50);
        source.serve(next, server.caPem);
        await r.refresh();
      }
      await afterRequests(50);
    } finally {
      stop = true;
      await Promise.all(loops);
      restore();
    }

    expect(failures).toEqual([]);
    expect(generation).toBe(ids.length - 1);
    const load = server.requests.filter((q) => q.path.startsWith('/load'));
    expect(load.length).toBeGreaterThan(200);
    // Every identity carried traffic, and no request went out with an identity older than the one
    // current when it started (a reused old socket or a resumed old session would show up here).
    expect(new Set(load.map((q) => q.peerFingerprint256)).size).toBe(ids.length);
    const violations = load.filter(
      (q) => (rank.get(q.peerFingerprint256 ?? '') ?? -1) < startedGeneration(q.path),
    );
    expect(violations).toEqual([]);
    // A connection is one identity; resumed sessions never cross identities.
    const byConnection = new Map<number, Set<string | undefined>>();
    for (const q of load)
      byConnection.set(
        q.connectionId,
        (byConnection.get(q.connectionId) ?? new Set()).add(q.peerFingerprint256),
      );
    expect([...byConnection.values()].every((set) => set.size === 1)).toBe(true);
    // Every connection presented exactly the identity current when the client started it: none opened
    // after a rotation showed an older certificate (nor a newer one before it).
    const connections = server.connections.filter((c) => byConnection.has(c.id));
    const mismatched = connections
      .map((c) => ({
        connection: c.id,
        startedIn: startedIn.get(c.remotePort ?? -1),
        presented: rank.get(c.peerFingerprint256 ?? ''),
      }))
      .filter((c) => c.startedIn !== c.presented);
    expect(mismatched).toEqual([]);
    // Each rotation made the clients open new connections, each under the identity of its generation.
    expect(new Set(connections.map((c) => rank.get(c.peerFingerprint256 ?? ''))).size).toBe(ids.length);
  });

  it('idle connections of the old identity close at once, in-flight requests finish on theirs, and no old TLS session is resumed', async () => {
    const [a, b] = await Promise.all([ca.issueClient(), ca.issueClient()]);
    const source = new MemorySource().serve(a as IssuedCert, server.caPem);
    const r = createTlsResolver({ source, mode: 'on-access' });
    open.push(r);
    const agent = r.agent();
    const fetchJson = (path: string, init?: { headers: Record<string, string> }) =>
      r
        .fetch(`${server.url}${path}`, init)
        .then((res) => res.json() as Promise<{ fingerprint256: string; connectionId: number }>);

    // Two keep-alive connections per client, then one of each held in flight.
    await Promise.all([getWithAgent(`${server.url}/warm`, agent), getWithAgent(`${server.url}/warm`, agent)]);
    await Promise.all([fetchJson('/warm'), fetchJson('/warm')]);
    const slowAgent = getWithAgent(`${server.url}/slow-agent`, agent);
    const slowFetch = fetchJson('/slow-fetch');
    await vi.waitFor(() => expect(server.requests.filter((q) => q.path.startsWith('/slow'))).toHaveLength(2));
    const oldConnections = server.connections.filter((c) => c.peerFingerprint256 === a?.fingerprint256);
    expect(oldConnections.length).toBe(4);

    source.serve(b as IssuedCert, server.caPem);
    await r.refresh();
    const inFlight = new Set(
      server.requests.filter((q) => q.path.startsWith('/slow')).map((q) => q.connectionId),
    );
    // Idle old connections are gone well before the in-flight ones answer.
    await vi.waitFor(
      () =>
        expect(oldConnections.filter((c) => !inFlight.has(c.id)).every((c) => c.closedAt !== undefined)).toBe(
          true,
        ),
      { timeout: 700, interval: 10 },
    );

    const after = await Promise.all([
      getWithAgent(`${server.url}/after`, agent),
      fetchJson('/after', { headers: { connection: 'close' } }),
    ]);
    expect(after.map((x) => x.fingerprint256)).toEqual([b?.fingerprint256, b?.fingerprint256]);
    expect((await slowAgent).fingerprint256).toBe(a?.fingerprint256);
    expect((await slowFetch).fingerprint256).toBe(a?.fingerprint256);
    // Then the old connections that carried them close too, and only new-identity ones remain.
    await vi.waitFor(() => expect(oldConnections.every((c) => c.closedAt !== undefined)).toBe(true));
    const newConnections = server.connections.filter((c) => c.peerFingerprint256 === b?.fingerprint256);
    expect(newConnections.length).toBeGreaterThanOrEqual(2);
    expect(newConnections.some((c) => c.sessionReused)).toBe(false);
    // The control: sessions are cached and resumed within one identity, so the check above can fail.
    for (const list of Object.values(agent.freeSockets)) for (const socket of list ?? []) socket.destroy();
    await Promise.all([getWithAgent(`${server.url}/resumed`, agent), fetchJson('/resumed')]);
    const resumed = server.requests.filter((q) => q.path === '/resumed');
    expect(resumed.map((q) => [q.peerFingerprint256, q.sessionReused])).toEqual([
      [b?.fingerprint256, true],
      [b?.fingerprint256, true],
    ]);
  });

  it('with maxSockets: 1, a request queued behind one in flight on the old identity goes out with the new one', async () => {
    const [a, b] = await Promise.all([ca.issueClient(), ca.issueClient()]);
    const source = new MemorySource().serve(a as IssuedCert, server.caPem);
    const r = createTlsResolver({ source, mode: 'on-access', agentOptions: { maxSockets: 1 } });
    open.push(r);
    const agent = r.agent();
    await getWithAgent(`${server.url}/queued-warm`, agent);
    const slow = getWithAgent(`${server.url}/slow-queued`, agent);
    await vi.waitFor(() => expect(server.requests.some((q) => q.path === '/slow-queued')).toBe(true));
    source.serve(b as IssuedCert, server.caPem);
    await r.refresh();
    // Node hands a freed socket to the next request queued under its pool name: the old socket must
    // not be that request's (it started after the rotation).
    const queued = getWithAgent(`${server.url}/queued-after`, agent);
    expect((await slow).fingerprint256).toBe(a?.fingerprint256);
    expect((await queued).fingerprint256).toBe(b?.fingerprint256);
  });

  it('many rotations leave no sockets or undici Agents behind', async () => {
    const [a, b] = await Promise.all([ca.issueClient(), ca.issueClient()]);
    const source = new MemorySource().serve(a as IssuedCert, server.caPem);
    const r = createTlsResolver({ source, mode: 'on-access' });
    open.push(r);
    const agent = r.agent();
    const dispatcher = r.dispatcher() as unknown as { liveAgents(): number };
    const opened = server.connections.length;
    for (let i = 0; i < 60; i++) {
      source.serve((i % 2 === 0 ? b : a) as IssuedCert, server.caPem);
      await r.refresh();
      await getWithAgent(`${server.url}/churn`, agent);
      await (await r.fetch(`${server.url}/churn`)).text();
    }
    expect(server.connections.length - opened).toBe(120);
    const pooled = (pool: NodeJS.ReadOnlyDict<unknown[]>) =>
      Object.values(pool).reduce((sum, list) => sum + (list?.length ?? 0), 0);
    await vi.waitFor(() => {
      expect(pooled(agent.sockets) + pooled(agent.freeSockets)).toBeLessThanOrEqual(1);
      expect(dispatcher.liveAgents()).toBe(1);
      const mine = server.connections.slice(opened).filter((c) => c.closedAt === undefined);
      expect(mine.length).toBeLessThanOrEqual(2);
    });
  });
});
