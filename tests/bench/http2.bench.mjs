// HTTP/2 benchmarks: sequential requests over one h2 session through the resolver's rotating clients
// (`resolver.http2(authority)`, and undici's `dispatcher({ allowH2: true })`) against the same clients
// built by hand with the same PEM (`http2.connect`, an undici Agent with allowH2). Variants interleaved
// in alternating rounds of one run, on the built packages.
import http2 from 'node:http2';
import { createRequire } from 'node:module';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { createTlsResolver } from '@mtlskit/core';
import { TestCA } from '@mtlskit/testkit';
import { fmtNs, interleaved, machine, writeSection } from './lib.mjs';

// The undici the resolver itself uses, so both sides of the comparison run the same code.
const undici = createRequire(fileURLToPath(import.meta.resolve('@mtlskit/core')))('undici');

// Many short rounds: on a loaded machine the median of per-round ratios then settles.
const ROUNDS = 200;
const PER_ROUND = 25;

const ca = await TestCA.create();
const serverCert = await ca.issueServer({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
const server = http2.createSecureServer({
  cert: serverCert.fullChainPem,
  key: serverCert.keyPem,
  ca: ca.rootPem,
  requestCert: true,
  rejectUnauthorized: true,
  // h2 only (no allowHTTP1): a client that fell back to http/1.1 would fail, not be measured.
});
const reply = JSON.stringify({ ok: true });
const sessions = new Set();
server.on('session', (session) => {
  sessions.add(session);
  session.on('close', () => sessions.delete(session));
});
server.on('stream', (stream) => {
  stream.respond({ ':status': 200, 'content-type': 'application/json' });
  stream.end(reply);
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `https://localhost:${server.address().port}`;

const client = await ca.issueClient({ keyType: 'rsa2048' });
const pem = { cert: client.fullChainPem, key: client.keyPem, ca: ca.rootPem };
const resolver = createTlsResolver({ source: { id: 'bench:memory', load: async () => ({ ...pem }) } });
await resolver.credentials();

/** One GET on `session` (a ClientHttp2Session, or anything with its request()), body read to the end. */
const get = (session) =>
  new Promise((resolve, reject) => {
    const stream = session.request({ ':path': '/bench' });
    stream.on('error', reject);
    stream.on('end', resolve);
    stream.resume();
    stream.end();
  });

const rotating = resolver.http2(url);
// The same client without its retry of refused streams (Node's stream handed out untouched): what the
// retry costs until a refusal.
const noRetry = resolver.http2(url, { retryRefusedStreams: false });
const handSession = http2.connect(url, pem);
// A second hand-built session, measured alongside: its ratio to the first is this run's noise.
const handSession2 = http2.connect(url, pem);
const node = await interleaved(
  {
    resolver: () => get(rotating),
    noRetry: () => get(noRetry),
    hand: () => get(handSession),
    hand2: () => get(handSession2),
  },
  ROUNDS,
  PER_ROUND,
);

const h2Dispatcher = resolver.dispatcher({ allowH2: true });
const handDispatcher = new undici.Agent({ allowH2: true, connect: { ...pem } });
const handDispatcher2 = new undici.Agent({ allowH2: true, connect: { ...pem } });
const fetchOn = (dispatcher) => () =>
  undici.fetch(`${url}/bench`, { dispatcher }).then((res) => res.arrayBuffer());
const viaUndici = await interleaved(
  { resolver: fetchOn(h2Dispatcher), hand: fetchOn(handDispatcher), hand2: fetchOn(handDispatcher2) },
  ROUNDS,
  PER_ROUND,
);
const sessionsAtEnd = sessions.size;
await Promise.all([rotating.close(), noRetry.close()]);
await Promise.all([handSession, handSession2].map((s) => new Promise((resolve) => s.close(resolve))));
await Promise.all([handDispatcher.close(), handDispatcher2.close()]);
await resolver.close();
await new Promise((resolve) => {
  for (const s of sessions) s.destroy();
  server.close(resolve);
});

// What the retry of refused streams costs until a refusal, and the noise to judge it by.
const retryCost = node.medianRatio('noRetry', 'resolver');
const nodeNoise = node.medianRatio('hand2', 'hand');
const pass = (ok) => (ok ? 'met' : '**missed**');
const row = (label, m) => {
  const ratio = m.medianRatio('hand', 'resolver');
  const totals = m.wall.hand / m.wall.resolver;
  const noise = m.medianRatio('hand2', 'hand');
  return `| ${label} | ${fmtNs(m.wall.resolver)} | ${fmtNs(m.wall.hand)} | ${ratio.toFixed(3)}× (${totals.toFixed(3)}×) | ≥ 0.97× (${pass(ratio >= 0.97)}) | ${noise.toFixed(3)}× | ${fmtNs(m.cpu.resolver)} vs ${fmtNs(m.cpu.hand)} |`;
};
const md = `## HTTP/2

Command: \`npm run bench -- http2\` (builds the packages, then runs
\`node --expose-gc tests/bench/http2.bench.mjs\`). Every number below comes from one run of it.

${machine()}, ${os.cpus().length} CPUs, load average ${os.loadavg()[0].toFixed(1)}. Sequential GETs over one HTTP/2
session on loopback to a node:http2 server requiring client certificates (RSA-2048 client key, TLS 1.3),
${ROUNDS} rounds of ${PER_ROUND} requests per variant, order alternating each round. Ratios are throughput ratios
(higher is better for the resolver): the median over rounds of the ratio within each round (the ratio
of the totals in brackets). A second hand-built client runs in the same rounds: its ratio to the first
(\`A/A\`, ideally 1) shows how far this run's noise alone moves a ratio. The last column is CPU time
of the process (client and server) per request.

| measurement | resolver | hand-built | ratio | target | A/A | CPU per request |
|---|---|---|---|---|---|---|
${row('request via `resolver.http2(url)` vs a hand-built `http2.connect(url, { cert, key, ca })` session', node)}
${row('undici `fetch` via `dispatcher({ allowH2: true })` vs a hand-built undici Agent with `allowH2` (same PEM)', viaUndici)}

The server speaks h2 only, so every request measured was HTTP/2; it held ${sessionsAtEnd} sessions at the end, one per client.
\`resolver.http2()\`'s cost over the bare session: one epoch check and one \`touch()\` per request, and
the watch for a refused stream (sent again if the server refuses it unprocessed: REFUSED_STREAM, GOAWAY):
the stream handed out is Node's own, with its \`emit\`, \`write\` and \`end\` wrapped until its response;
only a refusal costs more. The same client with \`retryRefusedStreams: false\` (Node's stream untouched)
ran in the same rounds: the client that retries reached ${retryCost.toFixed(3)}× its requests/s (it reached
${node.medianRatio('hand', 'noRetry').toFixed(3)}× the hand-built session's; CPU per request ${fmtNs(node.cpu.noRetry)}), a difference ${Math.abs(1 - retryCost) <= Math.abs(1 - nodeNoise) ? 'no larger than' : 'larger than'}
this run's noise (\`A/A\` ${nodeNoise.toFixed(3)}×).
`;

writeSection('http2', md);
console.log(md);
