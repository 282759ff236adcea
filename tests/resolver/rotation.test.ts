// Rotation as the server sees it: the agent and dispatcher handed out once keep working and present
// the new identity on every connection opened and every request started after a rotation, with zero
// failed requests under load; idle old connections close, in-flight ones finish, no old TLS session
// is resumed, nothing piles up.
import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import type https from 'node:https';
import tls from 'node:tls';
import { createTlsResolver, type TlsResolver, type TlsResolverOptions } from '@mtlskit/core';
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

/**
 * Records, by request path, the value of `generation()` when each request was handed to the agent
 * (`addRequest`) or the dispatcher (`dispatch`): the moment its connection pool, hence its identity,
 * is chosen. axios, got and fetch hand a request over asynchronously, some time after the caller
 * asked for it, so a label taken before sending would miss a rotation in between.
 */
function recordDispatches(
  agent: https.Agent,
  dispatcher: object,
  generation: () => number,
): { dispatchedIn: Map<string, number>; restore(): void } {
  const dispatchedIn = new Map<string, number>();
  const a = agent as unknown as { addRequest(req: ClientRequest, options: object): void };
  const addRequest = a.addRequest;
  a.addRequest = function (this: unknown, req: ClientRequest, options: object) {
    dispatchedIn.set(req.path, generation());
    return addRequest.call(this, req, options);
  };
  const d = dispatcher as { dispatch(options: { path: string }, handler: unknown): boolean };
  const dispatch = d.dispatch;
  d.dispatch = function (this: unknown, options: { path: string }, handler: unknown) {
    dispatchedIn.set(options.path, generation());
    return dispatch.call(this, options, handler);
  };
  return {
    dispatchedIn,
    restore: () => {
      Reflect.deleteProperty(a, 'addRequest');
      Reflect.deleteProperty(d, 'dispatch');
    },
  };
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

/** Two identities, an on-access resolver serving the first (only refresh() rotates it), and its agent. */
async function servingFirstOfTwo(options: Partial<TlsResolverOptions> = {}) {
  const [a, b] = await Promise.all([ca.issueClient(), ca.issueClient()]);
  const source = new MemorySource().serve(a, server.caPem);
  const r = createTlsResolver({ source, mode: 'on-access', ...options });
  open.push(r);
  return { a, b, source, r, agent: r.agent() };
}

describe('rotation', () => {
  it('under load from five kinds of client and four rotations: zero failed requests, and the server saw the new certificate on every connection opened and every request dispatched after each rotation', async () => {
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
    const dispatches = recordDispatches(r.agent(), r.dispatcher(), () => generation);

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
        const path = `/load?client=${i}&n=${n++}`;
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
      dispatches.restore();
    }

    expect(failures).toEqual([]);
    expect(generation).toBe(ids.length - 1);
    const load = server.requests.filter((q) => q.path.startsWith('/load'));
    expect(load.length).toBeGreaterThan(200);
    // Every identity carried traffic, and every request was seen by the agent or the dispatcher.
    expect(new Set(load.map((q) => q.peerFingerprint256)).size).toBe(ids.length);
    expect(load.filter((q) => !dispatches.dispatchedIn.has(q.path))).toEqual([]);
    // No request went out with an identity older than the one current when it was dispatched (a
    // reused old socket or a resumed old session would show up here), and rotations did land while
    // requests were being dispatched (so the check had something to catch).
    const dispatchedIn = (path: string) => dispatches.dispatchedIn.get(path) ?? -1;
    const violations = load
      .map((q) => ({
        path: q.path,
        dispatchedIn: dispatchedIn(q.path),
        presented: rank.get(q.peerFingerprint256 ?? ''),
      }))
      .filter((q) => (q.presented ?? -1) < q.dispatchedIn);
    expect(violations).toEqual([]);
    expect(new Set(load.map((q) => dispatchedIn(q.path))).size).toBe(ids.length);
    // No request dispatched after a rotation went out on a connection opened before it: each request's
    // connection was started in the request's generation or later.
    const connectionById = new Map(server.connections.map((c) => [c.id, c]));
    const startedGeneration = (connectionId: number) =>
      startedIn.get(connectionById.get(connectionId)?.remotePort ?? -1) ?? -1;
    const oldConnectionReused = load
      .map((q) => ({
        path: q.path,
        dispatchedIn: dispatchedIn(q.path),
        connectionStartedIn: startedGeneration(q.connectionId),
      }))
      .filter((q) => q.connectionStartedIn < q.dispatchedIn);
    expect(oldConnectionReused).toEqual([]);
    // Every connection presented exactly the identity current when the client started it: none opened
    // after a rotation showed an older certificate (nor a newer one before it).
    const used = new Set(load.map((q) => q.connectionId));
    const connections = server.connections.filter((c) => used.has(c.id));
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
    const { a, b, source, r, agent } = await servingFirstOfTwo();
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
    const oldConnections = server.connections.filter((c) => c.peerFingerprint256 === a.fingerprint256);
    expect(oldConnections.length).toBe(4);

    source.serve(b, server.caPem);
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
    expect(after.map((x) => x.fingerprint256)).toEqual([b.fingerprint256, b.fingerprint256]);
    expect((await slowAgent).fingerprint256).toBe(a.fingerprint256);
    expect((await slowFetch).fingerprint256).toBe(a.fingerprint256);
    // Then the old connections that carried them close too, and only new-identity ones remain.
    await vi.waitFor(() => expect(oldConnections.every((c) => c.closedAt !== undefined)).toBe(true));
    const newConnections = server.connections.filter((c) => c.peerFingerprint256 === b.fingerprint256);
    expect(newConnections.length).toBeGreaterThanOrEqual(2);
    expect(newConnections.some((c) => c.sessionReused)).toBe(false);
    // The control: sessions are cached and resumed within one identity, so the check above can fail.
    // Each attempt opens new connections (free sockets destroyed, `connection: close`); a TLS 1.3
    // ticket can arrive after a short-lived connection is gone, so a few attempts are allowed, and
    // each client must resume at least once, always as the new identity.
    const resumedBy = { agent: false, fetch: false };
    for (let attempt = 1; attempt <= 4 && !(resumedBy.agent && resumedBy.fetch); attempt++) {
      for (const list of Object.values(agent.freeSockets)) for (const socket of list ?? []) socket.destroy();
      await Promise.all([
        getWithAgent(`${server.url}/resumed-agent-${attempt}`, agent),
        fetchJson(`/resumed-fetch-${attempt}`, { headers: { connection: 'close' } }),
      ]);
      for (const q of server.requests.filter((x) => x.path.endsWith(`-${attempt}`))) {
        expect(q.peerFingerprint256).toBe(b.fingerprint256);
        if (q.sessionReused) resumedBy[q.path.startsWith('/resumed-agent') ? 'agent' : 'fetch'] = true;
      }
    }
    expect(resumedBy).toEqual({ agent: true, fetch: true });
  });

  it('with maxSockets: 1, a rotation does not make later requests wait for the old connection: maxSockets counts per identity, so a request made after the rotation goes out at once on a new connection with the new identity', async () => {
    const { a, b, source, r, agent } = await servingFirstOfTwo({ agentOptions: { maxSockets: 1 } });
    const warm = await getWithAgent(`${server.url}/queued-warm`, agent);
    // The only socket the old identity may have is busy for a second...
    const slow = getWithAgent(`${server.url}/slow-queued`, agent);
    await vi.waitFor(() => expect(server.requests.some((q) => q.path === '/slow-queued')).toBe(true));
    // ...and a request made before the rotation waits for it, as maxSockets: 1 says.
    const queuedBefore = getWithAgent(`${server.url}/queued-before`, agent);
    source.serve(b, server.caPem);
    await r.refresh();
    const after = getWithAgent(`${server.url}/queued-after`, agent);
    const first = await Promise.race([slow.then(() => 'slow'), after.then(() => 'after')]);
    expect(first).toBe('after');
    const [slowReply, afterReply, beforeReply] = await Promise.all([slow, after, queuedBefore]);
    expect(slowReply).toMatchObject({ fingerprint256: a.fingerprint256, connectionId: warm.connectionId });
    expect(afterReply.fingerprint256).toBe(b.fingerprint256);
    expect(afterReply.connectionId).not.toBe(warm.connectionId);
    // The request queued before the rotation was started before it: it may take the old socket when
    // that frees; it must simply succeed.
    expect(beforeReply.status).toBe(200);
    expect([a.fingerprint256, b.fingerprint256]).toContain(beforeReply.fingerprint256);
  });

  it('many rotations leave no sockets or undici Agents behind', async () => {
    const { a, b, source, r, agent } = await servingFirstOfTwo();
    const dispatcher = r.dispatcher() as unknown as { liveAgents(): number };
    const opened = server.connections.length;
    for (let i = 0; i < 60; i++) {
      source.serve(i % 2 === 0 ? b : a, server.caPem);
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
