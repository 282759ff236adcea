// OpenTelemetry's cost: keep-alive requests and cached credentials() calls through a resolver built
// after a MeterProvider (with a reader collecting every second) and a TracerProvider were registered
// globally, against a resolver built before, which got the API's no-op meter and tracer. Variants
// interleaved in alternating rounds of one run, on the built packages.
import { createRequire } from 'node:module';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { createTlsResolver } from '@mtlskit/core';
import { startMtlsServer, TestCA } from '@mtlskit/testkit';
import { fmtNs, httpsGet, interleaved, machine, measure, writeSection } from './lib.mjs';

// The OpenTelemetry packages core is tested with, from core's own dependencies: the API is the copy
// core loads (it keeps its global providers on globalThis, so any 1.x copy would see them too).
const requireFromCore = createRequire(fileURLToPath(import.meta.resolve('@mtlskit/core')));
const api = requireFromCore('@opentelemetry/api');
const sdkMetrics = requireFromCore('@opentelemetry/sdk-metrics');
const sdkTrace = requireFromCore('@opentelemetry/sdk-trace-base');

const ROUNDS = 200;
const PER_ROUND = 25;

const ca = await TestCA.create();
const server = await startMtlsServer({ clientCa: ca, keepAliveTimeout: 60_000 });
const client = await ca.issueClient({ keyType: 'rsa2048' });
const pem = { cert: client.fullChainPem, key: client.keyPem, ca: server.caPem };
const source = (id) => ({ id, load: async () => ({ ...pem }) });

// Built before any provider is registered: the API hands them no-op instruments. The second one,
// measured alongside, gives the A/A ratio: how far this run's noise alone moves a ratio.
const without = createTlsResolver({ source: source('bench:without'), name: 'without' });
const without2 = createTlsResolver({ source: source('bench:without2'), name: 'without2' });

const exporter = new sdkMetrics.InMemoryMetricExporter(sdkMetrics.AggregationTemporality.CUMULATIVE);
const meterProvider = new sdkMetrics.MeterProvider({
  readers: [new sdkMetrics.PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 1000 })],
});
const tracerProvider = new sdkTrace.BasicTracerProvider({
  spanProcessors: [new sdkTrace.SimpleSpanProcessor(new sdkTrace.InMemorySpanExporter())],
});
api.metrics.setGlobalMeterProvider(meterProvider);
api.trace.setGlobalTracerProvider(tracerProvider);
const withOtel = createTlsResolver({ source: source('bench:with'), name: 'with' });
const resolvers = { with: withOtel, without, without2 };
await Promise.all(Object.values(resolvers).map((r) => r.credentials()));

const url = `${server.url}/bench`;
const get = (agent) => () => httpsGet(url, agent);

const requests = await interleaved(
  Object.fromEntries(Object.entries(resolvers).map(([name, r]) => [name, get(r.agent())])),
  ROUNDS,
  PER_ROUND,
);
// Cached credentials() calls: SETS sets of one short measurement of each resolver, the order reversed
// every other set; a ratio is the median of the sets' ratios, a time the median of its measurements.
const SETS = 40;
const sets = [];
const names = Object.keys(resolvers);
for (let i = 0; i < SETS; i++) {
  const set = {};
  for (const name of i % 2 === 0 ? names : [...names].reverse()) {
    set[name] = await measure(() => resolvers[name].credentials(), { ms: 50, warmup: 10, batch: 1000 });
  }
  sets.push(set);
}
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const cached = {
  with: median(sets.map((t) => t.with)),
  without: median(sets.map((t) => t.without)),
  ratio: median(sets.map((t) => t.without / t.with)),
  noise: median(sets.map((t) => t.without2 / t.without)),
};

await meterProvider.forceFlush();
const exported = exporter
  .getMetrics()
  .flatMap((m) => m.scopeMetrics.flatMap((s) => s.metrics.map((x) => x.descriptor.name)));
const instruments = [...new Set(exported)].filter((n) => n.startsWith('mtlskit.')).length;

await Promise.all(Object.values(resolvers).map((r) => r.close()));
await meterProvider.shutdown();
await tracerProvider.shutdown();
await server.close();

const pass = (ok) => (ok ? 'met' : '**missed**');
const requestRatio = requests.medianRatio('without', 'with');
const credentialsRatio = cached.ratio;
const md = `## OpenTelemetry

Command: \`npm run bench -- otel\` (builds the packages, then runs
\`node --expose-gc tests/bench/otel.bench.mjs\`). Every number below comes from one run of it.

${machine()}, ${os.cpus().length} CPUs, load average ${os.loadavg()[0].toFixed(1)}. Resolvers with the same credential:
one built after a global MeterProvider (\`@opentelemetry/sdk-metrics\`, a periodic reader collecting every
second) and TracerProvider were registered, two built before (the API's no-op meter and tracer; the second
gives the \`A/A\` column, ideally 1: how far this run's noise alone moves a ratio).
Sequential keep-alive requests through \`agent()\` over loopback to a node:https mTLS server (RSA-2048
client key, TLS 1.3), ${ROUNDS} rounds of ${PER_ROUND} per variant, order alternating each round; the ratio is the median
over rounds of the ratio within each round (of the totals in brackets). Cached \`credentials()\`: ${SETS} sets
of one 50 ms measurement per resolver, order alternating, the median of the sets' ratios (times: the medians). Ratios are throughput ratios (higher is better with OpenTelemetry).

| measurement | with a MeterProvider | without | ratio | target | A/A |
|---|---|---|---|---|---|
| keep-alive request via \`agent()\` | ${fmtNs(requests.wall.with)} | ${fmtNs(requests.wall.without)} | ${requestRatio.toFixed(3)}× (${(requests.wall.without / requests.wall.with).toFixed(3)}×) | ≥ 0.97× (${pass(requestRatio >= 0.97)}) | ${requests.medianRatio('without2', 'without').toFixed(3)}× |
| cached \`credentials()\` call | ${fmtNs(cached.with)} | ${fmtNs(cached.without)} | ${credentialsRatio.toFixed(3)}× | ≥ 0.97× (${pass(credentialsRatio >= 0.97)}) | ${cached.noise.toFixed(3)}× |

The reader exported ${instruments} \`mtlskit.*\` instruments, so the resolver with OpenTelemetry was recording.
Neither path records anything per request or per cached call: instruments move on loads, rotations and
collections only.
`;

writeSection('otel', md);
console.log(md);
