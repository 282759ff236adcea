// Resolver benchmarks: what the rotating agent and dispatcher cost against hand-built ones with the
// same PEM, what a cached credentials()/agent() call costs against one request, what keep-alive buys
// over an agent without it (the Mangopay SDK's own), and whether 10,000 rotations leave anything
// behind. Every ratio is measured within one run, variants interleaved, on the built packages.
import https from 'node:https';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import { createTlsResolver } from '@mtlskit/core';
import { startMtlsServer, TestCA } from '@mtlskit/testkit';
import { fmtNs, httpsGet as get, interleaved, machine, measure, writeSection } from './lib.mjs';

// The undici the resolver itself uses, so both sides of the fetch comparison run the same code.
const undici = createRequire(fileURLToPath(import.meta.resolve('@mtlskit/core')))('undici');

// Many short rounds of sequential requests, the order alternating each round, summed per variant:
// on a shared machine drift, GC and neighbours' load then fall on every variant alike.
const ROUNDS = 40;
const PER_ROUND = 100;
const ROTATIONS = Number(process.env.BENCH_ROTATIONS ?? 10_000);

function gc() {
  if (typeof globalThis.gc === 'function') return globalThis.gc();
  v8.setFlagsFromString('--expose-gc');
  globalThis.gc = vm.runInNewContext('gc');
  return globalThis.gc();
}

/** ns per call (wall time) of each variant: ROUNDS rounds of PER_ROUND sequential calls, order alternating. */
const perCall = async (variants) => (await interleaved(variants, ROUNDS, PER_ROUND)).wall;

function countPooled(pool) {
  return Object.values(pool).reduce((sum, list) => sum + (list?.length ?? 0), 0);
}

function openSocketHandles() {
  return process.getActiveResourcesInfo().filter((name) => /TCP|TLS|Pipe/.test(name)).length;
}

const ca = await TestCA.create();
const server = await startMtlsServer({ clientCa: ca, keepAliveTimeout: 60_000 });
const client = await ca.issueClient({ keyType: 'rsa2048' });
const pem = { cert: client.fullChainPem, key: client.keyPem, ca: server.caPem };
const source = { id: 'bench:memory', load: async () => ({ ...pem }) };
const resolver = createTlsResolver({ source });
await resolver.credentials();
const url = `${server.url}/bench`;

// --- keep-alive throughput: agent() vs a hand-built https.Agent, fetch() vs a hand-built undici Agent
const handAgent = new https.Agent({ keepAlive: true, ...pem });
const noKeepAlive = new https.Agent({ keepAlive: false, ...pem });
const handDispatcher = new undici.Agent({ connect: { ...pem } });
const agent = resolver.agent();

const http1 = await perCall({
  resolverAgent: () => get(url, agent),
  handAgent: () => get(url, handAgent),
});
const fetches = await perCall({
  resolverFetch: () => resolver.fetch(url).then((res) => res.arrayBuffer()),
  handFetch: () => undici.fetch(url, { dispatcher: handDispatcher }).then((res) => res.arrayBuffer()),
});
const keepAliveOff = await perCall({
  resolverAgent: () => get(url, agent),
  noKeepAlive: () => get(url, noKeepAlive),
});
const cached = {
  credentials: await measure(() => resolver.credentials(), { ms: 500, batch: 1000 }),
  agentCall: await measure(() => resolver.agent(), { ms: 500, batch: 1000 }),
};

const agentRatio = http1.handAgent / http1.resolverAgent;
const fetchRatio = fetches.handFetch / fetches.resolverFetch;
const keepAliveRatio = keepAliveOff.noKeepAlive / keepAliveOff.resolverAgent;
const credentialsShare = cached.credentials / http1.resolverAgent;
const agentShare = cached.agentCall / http1.resolverAgent;

handAgent.destroy();
noKeepAlive.destroy();
await handDispatcher.close();

// --- 10,000 rotations: sockets, agents and heap must not grow
const [idA, idB] = await Promise.all([ca.issueClient(), ca.issueClient()]);
let flip = 0;
const rotating = {
  id: 'bench:rotating',
  load: async () => {
    const id = flip++ % 2 === 0 ? idA : idB;
    return { cert: id.fullChainPem, key: id.keyPem, ca: server.caPem };
  },
};
const rotor = createTlsResolver({ source: rotating, mode: 'on-access' });
const rotorAgent = rotor.agent();
const rotorDispatcher = rotor.dispatcher();
const snapshot = () => ({
  heap: process.memoryUsage().heapUsed,
  handles: openSocketHandles(),
  pooled: countPooled(rotorAgent.sockets) + countPooled(rotorAgent.freeSockets),
  agents: rotorDispatcher.liveAgents(),
  serverSockets: server.openSockets(),
});
async function rotate(times) {
  for (let i = 0; i < times; i++) {
    await rotor.refresh();
    if (i % 100 === 0) {
      await get(url, rotorAgent);
      await (await rotor.fetch(url)).arrayBuffer();
    }
  }
}
await rotate(500);
await new Promise((resolve) => setTimeout(resolve, 200));
gc();
const start = snapshot();
const rotationStarted = performance.now();
await rotate(ROTATIONS);
const rotationMs = performance.now() - rotationStarted;
await new Promise((resolve) => setTimeout(resolve, 200));
gc();
const end = snapshot();
const heapGrowth = end.heap / start.heap - 1;

await rotor.close();
await resolver.close();
await server.close();

const pass = (ok) => (ok ? 'met' : '**missed**');
const md = `## Resolver

Command: \`npm run bench -- resolver\` (builds the packages, then runs
\`node --expose-gc tests/bench/resolver.bench.mjs\`). Every number below comes from one run of it.

${machine()}. Sequential requests over loopback to a node:https mTLS server (RSA-2048 client key,
TLS 1.3), ${ROUNDS} rounds of ${PER_ROUND} requests per variant, order alternating each round. Ratios are throughput ratios
(higher is better for the resolver).

| measurement | resolver | baseline | ratio | target |
|---|---|---|---|---|
| keep-alive request via \`agent()\` vs a hand-built \`https.Agent\` (same PEM) | ${fmtNs(http1.resolverAgent)} | ${fmtNs(http1.handAgent)} | ${agentRatio.toFixed(3)}× | ≥ 0.97× (${pass(agentRatio >= 0.97)}) |
| keep-alive request via \`fetch()\` vs undici \`fetch\` with a hand-built undici Agent | ${fmtNs(fetches.resolverFetch)} | ${fmtNs(fetches.handFetch)} | ${fetchRatio.toFixed(3)}× | ≥ 0.97× (${pass(fetchRatio >= 0.97)}) |
| \`agent()\` vs an Agent with keep-alive off (what the Mangopay SDK builds) | ${fmtNs(keepAliveOff.resolverAgent)} | ${fmtNs(keepAliveOff.noKeepAlive)} | ${keepAliveRatio.toFixed(1)}× | report |
| cached \`credentials()\` call, as a share of one keep-alive request | ${fmtNs(cached.credentials)} | ${fmtNs(http1.resolverAgent)} | ${(credentialsShare * 100).toFixed(3)} % | < 1 % (${pass(credentialsShare < 0.01)}) |
| \`agent()\` call, as a share of one keep-alive request | ${fmtNs(cached.agentCall)} | ${fmtNs(http1.resolverAgent)} | ${(agentShare * 100).toFixed(4)} % | < 1 % (${pass(agentShare < 0.01)}) |

${ROTATIONS.toLocaleString('en')} rotations (two EC P-256 identities alternating; a request through \`agent()\` and one
through \`fetch()\` every 100 rotations) in ${(rotationMs / 1000).toFixed(1)} s, ${((rotationMs / ROTATIONS) * 1000).toFixed(0)} µs per rotation:

| after GC | at start | after ${ROTATIONS.toLocaleString('en')} rotations |
|---|---|---|
| heap used | ${(start.heap / 1048576).toFixed(1)} MiB | ${(end.heap / 1048576).toFixed(1)} MiB (${heapGrowth >= 0 ? '+' : ''}${(heapGrowth * 100).toFixed(1)} %, target within 10 %: ${pass(Math.abs(heapGrowth) <= 0.1)}) |
| open socket handles in the process | ${start.handles} | ${end.handles} |
| sockets pooled by \`agent()\` | ${start.pooled} | ${end.pooled} |
| live undici Agents behind \`dispatcher()\` | ${start.agents} | ${end.agents} |
| sockets open on the server | ${start.serverSockets} | ${end.serverSockets} |
`;

writeSection('resolver', md);
console.log(md);
