// Load: many concurrent clients of four kinds — node:https through `agent()`, `fetch()`, undici's
// `request()` through `dispatcher()`, and `http2()` — against real mTLS servers for a bounded time,
// while the credential rotates several times in AWS Secrets Manager (the real SDK against the
// testkit emulator) and the emulator throttles, fails, stalls, resets and corrupts the refreshes
// around each rotation. Zero requests may fail; every request started after a rotation completed,
// and every connection opened after it, presents the new certificate (the servers report the
// certificate they saw). Prints requests/s, p50/p99 latency per client kind and memory before and
// after. Short mode in `npm test`; `MTLSKIT_LONG=1` runs minutes with more clients
// (docs/reliability.md, "Load").
import tls from 'node:tls';
import {
  createTlsResolver,
  type RefreshFailedEvent,
  type RotatingHttp2Client,
  type TlsResolver,
} from '@mtlskit/core';
import {
  type FaultSpec,
  type IssuedCert,
  type MtlsTestServer,
  startMtlsServer,
  TestCA,
  until,
} from '@mtlskit/testkit';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AwsHarness, startAwsHarness } from '../../packages/aws/src/__tests__/harness.js';
import { type H2Reply, type H2TestServer, startH2Server } from '../http2/server.js';
import { getWithAgent } from '../resolver/helpers.js';
import { envNumber, fullGc, LONG, machineLine, memory, mib, quantile } from './measure-support.js';

/** Seconds of load: 4 in `npm test`, 180 in long mode. */
const SECONDS = envNumber('MTLSKIT_LOAD_SECONDS', LONG ? 180 : 4);
/** Concurrent clients (spread over the four kinds): 16, or 64 in long mode. */
const CLIENTS = envNumber('MTLSKIT_LOAD_CLIENTS', LONG ? 64 : 16);
/** Rotations during the load: 4, or 30 in long mode. */
const ROTATIONS = envNumber('MTLSKIT_LOAD_ROTATIONS', LONG ? 30 : 4);

const SECRET = 'prod/load/mtls';
/** The source's deadline per call: a `slow` fault holds the answer longer, so the call times out. */
const SOURCE_TIMEOUT_MS = 1_000;

/**
 * The faults queued before each rotation, in turn: each fails the refreshes that would pick the
 * rotation up (the resolver keeps serving the last good certificate, backs off, and rotates once the
 * fault is used up). No `stale`: it serves the version before, which would rotate back.
 */
const FAULTS: FaultSpec[] = [
  { kind: 'throttled', times: 2 },
  { kind: 'serverError', status: 503, times: 2 },
  { kind: 'slow', delayMs: SOURCE_TIMEOUT_MS * 3 },
  { kind: 'reset' },
  { kind: 'malformed', operation: 'GetSecretValue' },
  { kind: 'corrupt', operation: 'GetSecretValue' },
  { kind: 'serverError', status: 500, operation: 'GetSecretValue', times: 3 },
];

type Kind = 'agent' | 'fetch' | 'dispatcher' | 'http2';
const KINDS: Kind[] = ['agent', 'fetch', 'dispatcher', 'http2'];

let ca: TestCA;
let server: MtlsTestServer;
let h2: H2TestServer;
let aws: AwsHarness;
const resolvers: TlsResolver[] = [];

beforeAll(async () => {
  ca = await TestCA.create({ commonName: 'load client CA' });
  // Both servers verify clients against `ca` and present a certificate `ca` issued, so one credential
  // (with `ca` as the server CA to trust) reaches both.
  server = await startMtlsServer({ clientCa: ca, serverCa: ca });
  h2 = await startH2Server(ca);
  aws = await startAwsHarness();
});
afterAll(async () => {
  await Promise.all(resolvers.map((r) => r.close()));
  await h2?.close();
  await server?.close();
  await aws?.close();
});

/** What the store holds for `cert`: a JSON bundle with the CA that verifies both servers. */
const bundle = (cert: IssuedCert) =>
  JSON.stringify({ cert: cert.fullChainPem, key: cert.keyPem, ca: ca.rootPem });

/**
 * One request of a kind; resolves with the fingerprint the server reported, rejects on any failure.
 * The HTTP/2 workers share one client, as an application's do (one session per identity).
 */
function sender(r: TlsResolver, kind: Kind, client: RotatingHttp2Client): () => Promise<string | null> {
  const url = `${server.url}/load/${kind}`;
  switch (kind) {
    case 'agent':
      return async () => {
        const reply = await getWithAgent(url, r.agent());
        if (reply.status !== 200) throw new Error(`status ${reply.status}`);
        return reply.fingerprint256;
      };
    case 'fetch':
      return async () => {
        const res = await r.fetch(url);
        if (res.status !== 200) throw new Error(`status ${res.status}`);
        return ((await res.json()) as { fingerprint256: string | null }).fingerprint256;
      };
    case 'dispatcher':
      return async () => {
        const res = await request(url, { dispatcher: r.dispatcher() });
        if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
        return ((await res.body.json()) as { fingerprint256: string | null }).fingerprint256;
      };
    case 'http2':
      return () =>
        new Promise((resolve, reject) => {
          const stream = client.request({ ':path': '/load/http2' });
          let status = 0;
          let body = '';
          stream.setEncoding('utf8');
          stream.on('response', (headers) => {
            status = Number(headers[':status']);
          });
          stream.on('data', (chunk: string) => {
            body += chunk;
          });
          stream.on('end', () => {
            if (status !== 200) reject(new Error(`status ${status}`));
            else {
              try {
                resolve((JSON.parse(body) as H2Reply).fingerprint256);
              } catch (err) {
                reject(err);
              }
            }
          });
          stream.on('error', reject);
        });
  }
}

/**
 * Records, by local port, when each client TLS connection was started and in which generation (the
 * identity is chosen then). Node has no diagnostics channel for `tls.connect`, which node:https,
 * undici and node:http2 all call, so it is wrapped; `restore()` undoes that.
 */
function recordConnectionStarts(generation: () => number) {
  const original = tls.connect;
  const starts = new Map<number, Array<{ at: number; generation: number }>>();
  tls.connect = ((...args: Parameters<typeof tls.connect>) => {
    const entry = { at: Date.now(), generation: generation() };
    const socket = original(...args);
    socket.once('connect', () => {
      if (socket.localPort === undefined) return;
      const list = starts.get(socket.localPort) ?? [];
      list.push(entry);
      starts.set(socket.localPort, list);
    });
    return socket;
  }) as typeof tls.connect;
  return {
    /** The generation of the last connection from `port` started at or before `openedAt`. */
    generationOf(port: number | undefined, openedAt: number): number | undefined {
      const list = starts.get(port ?? -1) ?? [];
      return list.filter((s) => s.at <= openedAt).at(-1)?.generation;
    },
    restore: () => {
      tls.connect = original;
    },
  };
}

/**
 * What the requests of one kind showed, kept small (a long run makes a hundred thousand): latencies,
 * the generations requests were started in and presented, and every request that presented a
 * certificate older than the one current when it was started.
 */
interface Tally {
  ms: number[];
  startedIn: Set<number>;
  presented: Set<number>;
  older: Array<{ startedIn: number; presented: number }>;
}

describe('load', () => {
  it(`${CLIENTS} concurrent clients (node:https, fetch, undici request, http2) for ${SECONDS} s through ${ROTATIONS} rotations in AWS Secrets Manager with throttling, 5xx, timeouts, resets and corrupt reads: zero failed requests, the new certificate on every request and connection after each rotation`, {
    timeout: (SECONDS + ROTATIONS * 10 + 60) * 1000,
  }, async () => {
    const certs = await Promise.all(
      Array.from({ length: ROTATIONS + 1 }, (_, i) => ca.issueClient({ commonName: `load ${i}` })),
    );
    const rank = new Map(certs.map((c, i) => [c.fingerprint256, i]));
    aws.emulator.putSecret(SECRET, bundle(certs[0] as IssuedCert));
    const source = aws.source({ secretId: SECRET, timeoutMs: SOURCE_TIMEOUT_MS });
    const r = createTlsResolver({
      source,
      refreshIntervalMs: 100,
      backoff: { initialMs: 50, maxMs: 400 },
      loadTimeoutMs: SOURCE_TIMEOUT_MS * 2,
    });
    resolvers.push(r);
    let generation = 0;
    const rotations: Array<{ to: number; at: number }> = [];
    r.on('rotated', (e) => {
      generation = rank.get(e.fingerprint256) ?? Number.NaN;
      rotations.push({ to: generation, at: Date.now() });
    });
    const refreshFailures: RefreshFailedEvent[] = [];
    r.on('refreshFailed', (e) => refreshFailures.push(e));
    await r.credentials();

    await fullGc();
    const before = memory();
    const connections = recordConnectionStarts(() => generation);
    const tallies = new Map<Kind, Tally>(
      KINDS.map((kind) => [kind, { ms: [], startedIn: new Set(), presented: new Set(), older: [] }]),
    );
    const failures: Array<{ kind: Kind; error: string }> = [];
    let running = true;
    const h2client = r.http2(h2.url);
    const workers = Array.from({ length: CLIENTS }, async (_, i) => {
      const kind = KINDS[i % KINDS.length] as Kind;
      const send = sender(r, kind, h2client);
      const tally = tallies.get(kind) as Tally;
      while (running) {
        const startedIn = generation;
        const started = performance.now();
        try {
          const fingerprint = await send();
          tally.ms.push(performance.now() - started);
          const presented = rank.get(fingerprint ?? '') ?? -1;
          tally.startedIn.add(startedIn);
          tally.presented.add(presented);
          if (presented < startedIn) tally.older.push({ startedIn, presented });
        } catch (err) {
          failures.push({ kind, error: String((err as Error)?.message ?? err) });
        }
      }
    });

    // The server's record of each request (with a copy of the client certificate) is not used here:
    // it is emptied as the load runs, so that the memory figures are the clients'.
    const forget = setInterval(() => {
      server.requests.length = 0;
    }, 250);
    const loadStarted = performance.now();
    const injected = [];
    try {
      const spacing = (SECONDS * 1000) / (ROTATIONS + 1);
      for (let i = 1; i <= ROTATIONS; i++) {
        await new Promise((resolve) => setTimeout(resolve, spacing * i - (performance.now() - loadStarted)));
        injected.push(aws.emulator.fail({ ...(FAULTS[(i - 1) % FAULTS.length] as FaultSpec) }));
        aws.emulator.putSecret(SECRET, bundle(certs[i] as IssuedCert));
        await until(() => generation === i || failures.length > 0, `rotation ${i}`, 15_000);
        if (failures.length > 0) break;
      }
      // On a busy machine the last rotation can land at the very end: the load goes on until every
      // kind has been answered with the last certificate.
      await until(
        () => failures.length > 0 || [...tallies.values()].every((t) => t.presented.has(ROTATIONS)),
        'a request of each kind with the last certificate',
        15_000,
      );
      const rest = SECONDS * 1000 - (performance.now() - loadStarted);
      if (rest > 0) await new Promise((resolve) => setTimeout(resolve, rest));
    } finally {
      running = false;
      await Promise.all(workers);
      clearInterval(forget);
      server.requests.length = 0;
      connections.restore();
    }
    const elapsedMs = performance.now() - loadStarted;
    await fullGc();
    const after = memory();

    const perKind = [...tallies].map(([kind, tally]) => {
      const ms = [...tally.ms].sort((a, b) => a - b);
      return `${kind} ${ms.length} p50 ${quantile(ms, 0.5).toFixed(1)} ms p99 ${quantile(ms, 0.99).toFixed(1)} ms`;
    });
    const all = [...tallies.values()].flatMap((t) => t.ms).sort((a, b) => a - b);
    console.log(
      [
        `load: ${LONG ? 'long' : 'short'} mode, ${CLIENTS} clients, ${(elapsedMs / 1000).toFixed(1)} s, ${ROTATIONS} rotations`,
        `${all.length} requests, ${failures.length} failed, ${((all.length / elapsedMs) * 1000).toFixed(0)} requests/s`,
        `p50 ${quantile(all, 0.5).toFixed(1)} ms, p99 ${quantile(all, 0.99).toFixed(1)} ms, max ${all.at(-1)?.toFixed(1)} ms`,
        ...perKind,
        `refreshes failed ${refreshFailures.length} (${[...new Set(refreshFailures.map((e) => e.error.code))].join(', ')})`,
        `connections opened ${server.connections.length} (HTTP/1.1), ${h2.sessions.size} (HTTP/2)`,
        `heap after GC ${mib(before.heapUsed)} → ${mib(after.heapUsed)}, external ${mib(before.external)} → ${mib(after.external)}, RSS ${mib(before.rss)} → ${mib(after.rss)}`,
        machineLine(),
      ].join('\n  '),
    );

    expect(failures.slice(0, 5)).toEqual([]);
    expect(rotations.map((x) => x.to)).toEqual(Array.from({ length: ROTATIONS }, (_, i) => i + 1));
    // Every fault was taken by a refresh and failed it; the resolver served the last good
    // certificate meanwhile, and ends healthy.
    expect(injected.map((f) => f.remaining)).toEqual(injected.map(() => 0));
    expect(refreshFailures.length).toBeGreaterThanOrEqual(ROTATIONS);
    expect(refreshFailures.every((e) => e.stale)).toBe(true);
    // A probe can also time out under the load itself (the machine is shared): the resolver then
    // serves the last certificate and recovers at the next attempt, as for an injected fault.
    await until(() => !r.health().stale, 'the resolver healthy again', 10_000);
    expect(r.health()).toMatchObject({ ready: true, fingerprint256: certs.at(-1)?.fingerprint256 });
    expect(r.health().lastError).toBeUndefined();

    // Every request started after a rotation completed presented that rotation's certificate or a
    // later one.
    // (A certificate the server saw that is none of these would count as -1, older than any.)
    // Every generation carried traffic, and every kind went through rotations to the last one (on a
    // busy machine a generation can be too short for each kind to complete a request in it).
    const every = Array.from({ length: ROTATIONS + 1 }, (_, g) => g);
    const union = (pick: (t: Tally) => Set<number>) =>
      [...new Set([...tallies.values()].flatMap((t) => [...pick(t)]))].sort((a, b) => a - b);
    expect(union((t) => t.presented)).toEqual(every);
    expect(union((t) => t.startedIn)).toEqual(every);
    for (const [kind, tally] of tallies) {
      expect({ kind, older: tally.older.slice(0, 5) }).toEqual({ kind, older: [] });
      expect({ kind, last: tally.presented.has(ROTATIONS), several: tally.presented.size > 1 }).toEqual({
        kind,
        last: true,
        several: true,
      });
    }
    // Every HTTP/1.1 connection opened presented the identity current when the client started it:
    // none started after a rotation showed an older certificate (the server's own record).
    // (Every connection the server saw was started by these clients, during the load.)
    const mismatched = server.connections
      .map((c) => ({
        connection: c.id,
        startedIn: connections.generationOf(c.remotePort, c.openedAt),
        presented: rank.get(c.peerFingerprint256 ?? ''),
      }))
      .filter((c) => c.presented === undefined || c.startedIn !== c.presented);
    expect(mismatched).toEqual([]);
    const generationsOpened = new Set(
      server.connections.map((c) => rank.get(c.peerFingerprint256 ?? '')).filter((g) => g !== undefined),
    );
    expect(generationsOpened.size).toBe(ROTATIONS + 1);
    // Old HTTP/2 sessions were retired: one per identity was opened, and only the current one stays.
    expect(h2.sessions.size).toBe(ROTATIONS + 1);
    await until(() => h2client.liveSessions() === 1, 'old HTTP/2 sessions closed');
    await until(() => [...h2.sessions.values()].filter((s) => !s.closed).length === 1, 'one open session');
  });
});
