// What a resolver reports, read through the real OpenTelemetry SDK (a MeterProvider with a manual
// reader, a tracer provider with an in-memory exporter) and real diagnostics_channel subscribers:
// the figures across a first load, a failed refresh, a recovery and a rotation; a named set on two
// sources; and no attribute, span or channel message that names the source's path or carries
// anything of the key. Certificates from the testkit CA, sources reading real files and variables.
import diagnostics_channel from 'node:diagnostics_channel';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type IssuedCert, leakCheck, TestCA } from '@mtlskit/testkit';
import type { Attributes } from '@opentelemetry/api';
import {
  AggregationTemporality,
  type DataPoint,
  type Histogram,
  MeterProvider,
  MetricReader,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { removeTranspiledCore, runNode, transpiledCore } from '../sources/__tests__/node-child.js';
import { envSource } from '../sources/env.js';
import { createTlsResolvers } from './named.js';
import { createTlsResolver, type TlsResolver } from './resolver.js';
import { CHANNELS } from './telemetry.js';

/** Collects on demand, as a Prometheus scrape would. */
class ManualReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

interface Point {
  attributes: Attributes;
  value: number | Histogram;
}

/** Every data point by instrument name, from one collection. */
async function collect(reader: MetricReader): Promise<Map<string, Point[]>> {
  const { resourceMetrics, errors } = await reader.collect();
  expect(errors).toEqual([]);
  const out = new Map<string, Point[]>();
  for (const scope of resourceMetrics.scopeMetrics) {
    expect(scope.scope.name).toBe('mtlskit');
    for (const metric of scope.metrics) {
      const points = (metric.dataPoints as DataPoint<number | Histogram>[]).map((p) => ({
        attributes: p.attributes,
        value: p.value,
      }));
      out.set(metric.descriptor.name, [...(out.get(metric.descriptor.name) ?? []), ...points]);
    }
  }
  return out;
}

/** The one value of `name` whose attributes include `match` (throws when there is not exactly one). */
function pointValue(metrics: Map<string, Point[]>, name: string, match: Attributes = {}): number | undefined {
  const points = (metrics.get(name) ?? []).filter((p) =>
    Object.entries(match).every(([k, v]) => p.attributes[k] === v),
  );
  if (points.length === 0) return undefined;
  expect(points).toHaveLength(1);
  const value = points[0]!.value;
  return typeof value === 'number' ? value : value.count;
}

const ALLOWED_ATTRIBUTES = new Set([
  'mtlskit.credential.name',
  'mtlskit.source.scheme',
  'mtlskit.load.outcome',
  'error.type',
]);

/** Messages of every channel, by channel name. */
function subscribeAll(): {
  messages: Array<[string, unknown]>;
  /** The messages published on one channel, in order. */
  on(name: string): unknown[];
  stop(): void;
} {
  const messages: Array<[string, unknown]> = [];
  const names = [
    ...['start', 'end', 'asyncStart', 'asyncEnd', 'error'].map((sub) => `tracing:${CHANNELS.load}:${sub}`),
    CHANNELS.rotated,
    CHANNELS.expiring,
    CHANNELS.refreshFailed,
  ];
  const listeners = names.map((name) => {
    // A copy: the load message is one object that grows as the load goes.
    const listener = (message: unknown) => messages.push([name, structuredClone(message)]);
    diagnostics_channel.subscribe(name, listener);
    return [name, listener] as const;
  });
  return {
    messages,
    on: (name) => messages.filter(([n]) => n === name).map(([, m]) => m),
    stop: () => {
      for (const [name, listener] of listeners) diagnostics_channel.unsubscribe(name, listener);
    },
  };
}

let ca: TestCA;
let a: IssuedCert;
let b: IssuedCert;
let temp: string;
let dir: string;
let reader: ManualReader;
let meterProvider: MeterProvider;
let spans: InMemorySpanExporter;
let tracerProvider: BasicTracerProvider;
const open: Array<{ close(): Promise<void> }> = [];

/** The file source's directory: its name is recognisable, so a path in a figure would be found. */
const PATH_MARKER = 'vault-path-marker-7f3a';

function writeCredential(c: IssuedCert): void {
  writeFileSync(join(dir, 'tls.crt'), c.fullChainPem);
  writeFileSync(join(dir, 'tls.key'), c.keyPem, { mode: 0o600 });
}

beforeAll(async () => {
  ca = await TestCA.create();
  [a, b] = await Promise.all([ca.issueClient(), ca.issueClient({ validForSeconds: 40 * 86_400 })]);
  temp = mkdtempSync(join(tmpdir(), 'mtlskit-telemetry-'));
});

afterAll(async () => {
  rmSync(temp, { recursive: true, force: true });
  await removeTranspiledCore();
});

beforeEach(() => {
  dir = mkdtempSync(join(temp, `${PATH_MARKER}-`));
  reader = new ManualReader();
  meterProvider = new MeterProvider({ readers: [reader] });
  spans = new InMemorySpanExporter();
  tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((r) => r.close()));
  await meterProvider.shutdown();
  await tracerProvider.shutdown();
});

function resolver(name?: string): TlsResolver {
  const r = createTlsResolver({
    source: `file:${dir}`,
    mode: 'on-access',
    meterProvider,
    tracerProvider,
    ...(name === undefined ? {} : { name }),
  });
  open.push(r);
  return r;
}

const seconds = (d: Date) => d.getTime() / 1000;

describe('OpenTelemetry metrics and spans', () => {
  it('a first load, a failed refresh, a recovery and a rotation, figure by figure', async () => {
    writeCredential(a);
    const r = resolver('payments');
    const id = { 'mtlskit.credential.name': 'payments', 'mtlskit.source.scheme': 'file' };

    // Before any load: nothing to report but "not stale".
    let m = await collect(reader);
    expect(pointValue(m, 'mtlskit.credential.not_after')).toBeUndefined();
    expect(pointValue(m, 'mtlskit.credential.last_success')).toBeUndefined();
    expect(pointValue(m, 'mtlskit.credential.stale', id)).toBe(0);

    // First load.
    const before = Date.now() / 1000;
    const first = await r.credentials();
    m = await collect(reader);
    expect(pointValue(m, 'mtlskit.credential.not_after', id)).toBe(seconds(first.notAfter));
    expect(pointValue(m, 'mtlskit.credential.not_after', id)).toBe(seconds(a.notAfter));
    const firstSuccess = pointValue(m, 'mtlskit.credential.last_success', id)!;
    expect(firstSuccess).toBeGreaterThanOrEqual(Math.floor(before));
    expect(firstSuccess).toBeLessThanOrEqual(Date.now() / 1000);
    expect(pointValue(m, 'mtlskit.credential.stale', id)).toBe(0);
    expect(pointValue(m, 'mtlskit.credential.loads', { ...id, 'mtlskit.load.outcome': 'success' })).toBe(1);
    expect(pointValue(m, 'mtlskit.credential.loads', { 'mtlskit.load.outcome': 'failure' })).toBeUndefined();
    expect(pointValue(m, 'mtlskit.credential.load.duration', id)).toBe(1);
    expect(pointValue(m, 'mtlskit.credential.rotations')).toBeUndefined();

    // A failed refresh: the key no longer matches the certificate. The old credential is served.
    writeFileSync(join(dir, 'tls.key'), b.keyPem, { mode: 0o600 });
    await expect(r.refresh()).rejects.toMatchObject({ code: 'KEY_MISMATCH' });
    m = await collect(reader);
    expect(pointValue(m, 'mtlskit.credential.stale', id)).toBe(1);
    expect(pointValue(m, 'mtlskit.credential.not_after', id)).toBe(seconds(a.notAfter));
    expect(pointValue(m, 'mtlskit.credential.last_success', id)).toBe(firstSuccess);
    expect(
      pointValue(m, 'mtlskit.credential.loads', {
        ...id,
        'mtlskit.load.outcome': 'failure',
        'error.type': 'KEY_MISMATCH',
      }),
    ).toBe(1);
    expect(pointValue(m, 'mtlskit.credential.load.duration', id)).toBe(2);
    expect(r.health().stale).toBe(true);

    // Recovery: the same credential again. Not stale, not a rotation.
    writeCredential(a);
    await new Promise((resolve) => setTimeout(resolve, 5));
    await r.refresh();
    m = await collect(reader);
    expect(pointValue(m, 'mtlskit.credential.stale', id)).toBe(0);
    expect(pointValue(m, 'mtlskit.credential.last_success', id)).toBeGreaterThan(firstSuccess);
    expect(pointValue(m, 'mtlskit.credential.loads', { ...id, 'mtlskit.load.outcome': 'success' })).toBe(2);
    expect(pointValue(m, 'mtlskit.credential.rotations')).toBeUndefined();

    // Rotation: a new certificate, expiring sooner.
    writeCredential(b);
    const rotated = await r.refresh();
    expect(rotated.fingerprint256).toBe(b.fingerprint256);
    m = await collect(reader);
    expect(pointValue(m, 'mtlskit.credential.rotations', id)).toBe(1);
    expect(pointValue(m, 'mtlskit.credential.not_after', id)).toBe(seconds(b.notAfter));
    expect(pointValue(m, 'mtlskit.credential.loads', { ...id, 'mtlskit.load.outcome': 'success' })).toBe(3);
    expect(pointValue(m, 'mtlskit.credential.load.duration', id)).toBe(4);

    // Every data point carries the name and scheme, and no other attribute than the four allowed.
    for (const points of m.values()) {
      for (const p of points) {
        expect(p.attributes).toMatchObject(id);
        for (const key of Object.keys(p.attributes)) expect(ALLOWED_ATTRIBUTES).toContain(key);
      }
    }

    // A span per load, the failed one with error.type and an error status.
    const finished = spans.getFinishedSpans();
    expect(finished.map((s) => s.name)).toEqual(Array(4).fill('mtlskit.credential.load'));
    expect(finished.map((s) => s.instrumentationScope.name)).toEqual(Array(4).fill('mtlskit'));
    expect(finished.map((s) => s.status.code)).toEqual([0, 2, 0, 0]);
    expect(finished[1]!.attributes).toEqual({ ...id, 'error.type': 'KEY_MISMATCH' });
    for (const span of [finished[0]!, finished[2]!, finished[3]!]) expect(span.attributes).toEqual(id);
  });

  it('a lone resolver is named default; a source built in code with an unknown id is custom', async () => {
    writeCredential(a);
    await resolver().credentials();
    const custom = createTlsResolver({
      source: { id: `${PATH_MARKER}:inline`, load: async () => ({ cert: a.certPem, key: a.keyPem }) },
      mode: 'on-access',
      meterProvider,
      tracerProvider,
    });
    open.push(custom);
    await custom.credentials();
    const m = await collect(reader);
    const scheme = (name: string) =>
      (m.get(name) ?? []).map((p) => p.attributes['mtlskit.source.scheme']).sort();
    expect(scheme('mtlskit.credential.not_after')).toEqual(['custom', 'file']);
    expect(
      (m.get('mtlskit.credential.not_after') ?? []).map((p) => p.attributes['mtlskit.credential.name']),
    ).toEqual(['default', 'default']);
  });

  it('a named set on two sources reports one series per name, each with its scheme', async () => {
    writeCredential(a);
    const env = { MTLS_CERT: Buffer.from(b.fullChainPem).toString('base64'), MTLS_KEY: b.keyPem };
    const set = createTlsResolvers(
      { files: `file:${dir}`, vars: envSource({ env }) },
      { mode: 'on-access', meterProvider, tracerProvider },
    );
    open.push(set);
    await Promise.all([set.get('files').credentials(), set.get('vars').credentials()]);
    const m = await collect(reader);
    const files = { 'mtlskit.credential.name': 'files', 'mtlskit.source.scheme': 'file' };
    const vars = { 'mtlskit.credential.name': 'vars', 'mtlskit.source.scheme': 'env' };
    expect(pointValue(m, 'mtlskit.credential.not_after', files)).toBe(seconds(a.notAfter));
    expect(pointValue(m, 'mtlskit.credential.not_after', vars)).toBe(seconds(b.notAfter));
    expect(pointValue(m, 'mtlskit.credential.loads', { ...files, 'mtlskit.load.outcome': 'success' })).toBe(
      1,
    );
    expect(pointValue(m, 'mtlskit.credential.loads', { ...vars, 'mtlskit.load.outcome': 'success' })).toBe(1);
    expect(m.get('mtlskit.credential.not_after')).toHaveLength(2);
    expect(
      spans
        .getFinishedSpans()
        .map((s) => s.attributes['mtlskit.credential.name'])
        .sort(),
    ).toEqual(['files', 'vars']);
  });
});

describe('diagnostics channels', () => {
  it('trace each load and report each event with metadata only', async () => {
    const channels = subscribeAll();
    try {
      writeCredential(a);
      const r = resolver('payments');
      await r.credentials();
      writeFileSync(join(dir, 'tls.key'), b.keyPem, { mode: 0o600 });
      await r.refresh().catch(() => {});
      writeCredential(b);
      await r.refresh();
      const base = { name: 'payments', scheme: 'file' };
      const load = (sub: string) => channels.on(`tracing:${CHANNELS.load}:${sub}`);
      expect(load('start')).toHaveLength(3);
      expect(load('end')).toHaveLength(3);
      expect(load('asyncEnd')).toEqual([
        // The first use found a refresh due: a load that would probe, had it a version to compare.
        { ...base, probe: true, outcome: 'success', changed: true },
        {
          ...base,
          probe: false,
          outcome: 'failure',
          errorType: 'KEY_MISMATCH',
          error: { code: 'KEY_MISMATCH', retryable: false },
        },
        { ...base, probe: false, outcome: 'success', changed: true },
      ]);
      expect(load('error')).toHaveLength(1);
      expect(channels.on(CHANNELS.refreshFailed)).toEqual([
        { ...base, code: 'KEY_MISMATCH', retryable: false, stale: true, retryInMs: expect.any(Number) },
      ]);
      expect(channels.on(CHANNELS.rotated)).toEqual([
        {
          ...base,
          previousFingerprint256: a.fingerprint256,
          fingerprint256: b.fingerprint256,
          notAfter: b.notAfter,
        },
      ]);
    } finally {
      channels.stop();
    }
  });

  it('reach a resolver with no provider that was built, and loaded, before anyone subscribed', async () => {
    writeCredential(a);
    // No provider: the resolver builds its telemetry only once something listens.
    const r = createTlsResolver({ source: `file:${dir}`, mode: 'on-access', name: 'late' });
    open.push(r);
    await r.credentials();
    const channels = subscribeAll();
    try {
      writeCredential(b);
      await r.refresh();
      const base = { name: 'late', scheme: 'file' };
      expect(channels.on(`tracing:${CHANNELS.load}:asyncEnd`)).toEqual([
        { ...base, probe: false, outcome: 'success', changed: true },
      ]);
      expect(channels.on(CHANNELS.rotated)).toEqual([
        {
          ...base,
          previousFingerprint256: a.fingerprint256,
          fingerprint256: b.fingerprint256,
          notAfter: b.notAfter,
        },
      ]);
    } finally {
      channels.stop();
    }
  });

  it('report expiring for a certificate inside its warning window', async () => {
    const channels = subscribeAll();
    try {
      // 30 days of life, one left: inside the window of a third of its lifetime.
      const day = 86_400_000;
      const soon = await ca.issueClient({
        notBefore: new Date(Date.now() - 29 * day),
        notAfter: new Date(Date.now() + day),
      });
      writeCredential(soon);
      const r = resolver('short');
      await r.credentials();
      // The warning is due at once: the next use notices it.
      await r.credentials();
      const expiring = channels.on(CHANNELS.expiring);
      expect(expiring).toEqual([
        {
          name: 'short',
          scheme: 'file',
          fingerprint256: soon.fingerprint256,
          notAfter: soon.notAfter,
          expiresInMs: expect.any(Number),
        },
      ]);
    } finally {
      channels.stop();
    }
  });
});

describe('no secret material in figures, spans or channel messages', () => {
  it('holds across loads, a failure and a rotation', async () => {
    const channels = subscribeAll();
    try {
      writeCredential(a);
      const r = resolver('payments');
      await r.credentials();
      writeFileSync(join(dir, 'tls.key'), 'not a key at all', { mode: 0o600 });
      await r.refresh().catch(() => {});
      writeCredential(b);
      await r.refresh();
      const m = await collect(reader);
      const finished: ReadableSpan[] = spans.getFinishedSpans();
      const leaks = leakCheck([
        a.keyPem,
        b.keyPem,
        a.keyDer,
        b.keyDer,
        PATH_MARKER,
        dir,
        // A fingerprint is no secret, but as an attribute it would make a series per certificate.
        a.fingerprint256,
        b.fingerprint256,
      ]);
      leaks.check(Object.fromEntries(m), 'metric data points');
      leaks.check(
        finished.map((s) => ({
          name: s.name,
          attributes: s.attributes,
          status: s.status,
          events: s.events,
          links: s.links,
        })),
        'spans',
      );
      expect(finished.length).toBe(3);
      // Channel messages may carry fingerprints (the events do): check them for keys and paths.
      leakCheck([a.keyPem, b.keyPem, a.keyDer, b.keyDer, PATH_MARKER, dir]).check(
        channels.messages,
        'diagnostics channel messages',
      );
      expect(channels.messages.length).toBeGreaterThan(0);
    } finally {
      channels.stop();
    }
  });
});

describe('without @opentelemetry/api installed, or with nothing registered', () => {
  /** A script that loads a credential through a copy of core and says whether OpenTelemetry was loaded. */
  const script = (core: string, certDir: string) => `
    import diagnostics_channel from 'node:diagnostics_channel';
    import { createRequire } from 'node:module';
    import { createTlsResolver } from ${JSON.stringify(`${core}/index.js`)};
    const seen = [];
    diagnostics_channel.subscribe('tracing:mtlskit:credential:load:asyncEnd', (m) => seen.push(m.outcome));
    const resolver = createTlsResolver({ source: ${JSON.stringify(`file:${certDir}`)}, name: 'alone' });
    const credentials = await resolver.credentials();
    await resolver.close();
    const loaded = Object.keys(createRequire(import.meta.url).cache).filter((k) => k.includes('@opentelemetry'));
    console.log(JSON.stringify({ fingerprint: credentials.fingerprint256, seen, otel: loaded.length > 0 }));
  `;

  it('core imports, loads credentials and publishes to its channels, loading nothing of OpenTelemetry', async () => {
    writeCredential(a);
    const withApi = await transpiledCore();
    // The same copy of core, its node_modules holding only its own dependencies.
    const bare = mkdtempSync(join(temp, 'core-without-otel-'));
    for (const entry of readdirSync(withApi)) {
      if (entry !== 'node_modules') cpSync(join(withApi, entry), join(bare, entry), { recursive: true });
    }
    mkdirSync(join(bare, 'node_modules'));
    for (const dep of ['undici', 'node-forge']) {
      symlinkSync(join(withApi, 'node_modules', dep), join(bare, 'node_modules', dep));
    }

    // pnpm's bin shims put its hoisted store on NODE_PATH, where the API would be found.
    const nodePath = process.env.NODE_PATH;
    delete process.env.NODE_PATH;
    const without = await runNode(script(bare, dir)).finally(() => {
      if (nodePath !== undefined) process.env.NODE_PATH = nodePath;
    });
    expect(without.stderr).toBe('');
    expect(JSON.parse(without.stdout)).toEqual({
      fingerprint: a.fingerprint256,
      seen: ['success'],
      otel: false,
    });
    // The control: the same script over the copy that can see the API. With nothing registered, it is
    // not loaded either (requiring it is most of what OpenTelemetry costs a cold start)...
    const withIt = await runNode(script(withApi, dir));
    expect(withIt.stderr).toBe('');
    expect(JSON.parse(withIt.stdout)).toEqual({
      fingerprint: a.fingerprint256,
      seen: ['success'],
      otel: false,
    });
  });

  it('with the API installed, a provider registered after the resolver was built gets the next load', async () => {
    writeCredential(a);
    const core = await transpiledCore();
    const out = await runNode(`
      import { createRequire } from 'node:module';
      import { createTlsResolver } from ${JSON.stringify(`${core}/index.js`)};
      const require = createRequire(${JSON.stringify(`${core}/index.js`)});
      const loaded = () => Object.keys(require.cache).some((k) => k.includes('@opentelemetry'));
      const resolver = createTlsResolver({ source: ${JSON.stringify(`file:${dir}`)}, name: 'late' });
      await resolver.credentials();
      const before = loaded();
      const { trace } = require('@opentelemetry/api');
      const { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
      const exporter = new InMemorySpanExporter();
      trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
      await resolver.refresh();
      await resolver.close();
      const spans = exporter.getFinishedSpans().map((s) => [s.name, s.attributes['mtlskit.credential.name']]);
      console.log(JSON.stringify({ before, spans }));
    `);
    expect(out.stderr).toBe('');
    expect(JSON.parse(out.stdout)).toEqual({
      before: false,
      spans: [['mtlskit.credential.load', 'late']],
    });
  });
});
