// gRPC benchmark: sequential unary calls through `rotatingClient(resolver, create)` against the same
// grpc-js client built by hand with the same PEM (`credentials.createSsl`), over one channel each to a
// grpc-js server requiring client certificates. Variants interleaved in alternating rounds of one run,
// on the built packages.
import { createRequire } from 'node:module';
import os from 'node:os';
import { createTlsResolver } from '@mtlskit/core';
import { TestCA } from '@mtlskit/testkit';
import { fmtNs, interleaved, machine, writeSection } from './lib.mjs';

// tests/ does not depend on @mtlskit/grpc: the built package and the grpc-js it resolves (its dev
// dependency, standing in for the application's) are loaded from packages/grpc, one copy of each, so
// that grpc-js's `instanceof ChannelCredentials` holds as it does in an application.
const { rotatingClient } = await import('../../packages/grpc/dist/index.js');
const requireFromGrpc = createRequire(new URL('../../packages/grpc/package.json', import.meta.url));
const grpc = requireFromGrpc('@grpc/grpc-js');
const grpcVersion = requireFromGrpc('@grpc/grpc-js/package.json').version;

// Many short rounds: on a loaded machine the median of per-round ratios then settles.
const ROUNDS = 200;
const PER_ROUND = 25;

// A service without a .proto: raw bytes in and out, so both variants do exactly the same work.
const bytes = { serialize: (b) => b, deserialize: (b) => b };
const service = {
  echo: {
    path: '/mtlskit.bench.Echo/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: bytes.serialize,
    requestDeserialize: bytes.deserialize,
    responseSerialize: bytes.serialize,
    responseDeserialize: bytes.deserialize,
  },
};
const Echo = grpc.makeGenericClientConstructor(service, 'Echo');

const ca = await TestCA.create();
const serverCert = await ca.issueServer({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
const server = new grpc.Server();
const peers = new Set();
server.addService(service, {
  echo: (call, callback) => {
    peers.add(call.getPeer());
    callback(null, call.request);
  },
});
const port = await new Promise((resolve, reject) =>
  server.bindAsync(
    '127.0.0.1:0',
    grpc.ServerCredentials.createSsl(
      Buffer.from(ca.rootPem),
      [{ cert_chain: Buffer.from(serverCert.fullChainPem), private_key: Buffer.from(serverCert.keyPem) }],
      true,
    ),
    (err, p) => (err ? reject(err) : resolve(p)),
  ),
);
const target = `localhost:${port}`;

const client = await ca.issueClient({ keyType: 'rsa2048' });
const pem = { cert: client.fullChainPem, key: client.keyPem, ca: ca.rootPem };
const resolver = createTlsResolver({ source: { id: 'bench:memory', load: async () => ({ ...pem }) } });

const rotating = await rotatingClient(resolver, (creds) => new Echo(target, creds));
const handBuilt = () =>
  new Echo(
    target,
    grpc.credentials.createSsl(Buffer.from(pem.ca), Buffer.from(pem.key), Buffer.from(pem.cert)),
  );
const hand = handBuilt();
// A second hand-built client, measured alongside: its ratio to the first is this run's noise.
const hand2 = handBuilt();
const payload = Buffer.from('bench');
const call = (c) => () =>
  new Promise((resolve, reject) => c.echo(payload, (err, reply) => (err ? reject(err) : resolve(reply))));

const unary = await interleaved(
  { resolver: call(rotating), hand: call(hand), hand2: call(hand2) },
  ROUNDS,
  PER_ROUND,
);
const connections = peers.size;

rotating.close();
hand.close();
hand2.close();
await resolver.close();
server.forceShutdown();

const pass = (ok) => (ok ? 'met' : '**missed**');
const ratio = unary.medianRatio('hand', 'resolver');
const totals = unary.wall.hand / unary.wall.resolver;
const noise = unary.medianRatio('hand2', 'hand');
const md = `## gRPC

Command: \`npm run bench -- grpc\` (builds the packages, then runs
\`node --expose-gc tests/bench/grpc.bench.mjs\`). Every number below comes from one run of it.

${machine()}, ${os.cpus().length} CPUs, load average ${os.loadavg()[0].toFixed(1)}. \`@grpc/grpc-js\` ${grpcVersion}: sequential unary calls (5 bytes
each way) over one channel on loopback to a grpc-js server requiring client certificates (RSA-2048
client key), ${ROUNDS} rounds of ${PER_ROUND} calls per variant, order alternating each round. The ratio is a throughput
ratio (higher is better for the resolver): the median over rounds of the ratio within each round (the
ratio of the totals in brackets). A second hand-built client runs in the same rounds: its ratio to the
first (\`A/A\`, ideally 1) shows how far this run's noise alone moves a ratio. The last column is CPU
time of the process (client and server) per call.

| measurement | \`rotatingClient\` | hand-built | ratio | target | A/A | CPU per call |
|---|---|---|---|---|---|---|
| unary call via \`rotatingClient(resolver, create)\` vs the same client with \`credentials.createSsl(ca, key, cert)\` (same PEM) | ${fmtNs(unary.wall.resolver)} | ${fmtNs(unary.wall.hand)} | ${ratio.toFixed(3)}× (${totals.toFixed(3)}×) | ≥ 0.97× (${pass(ratio >= 0.97)}) | ${noise.toFixed(3)}× | ${fmtNs(unary.cpu.resolver)} vs ${fmtNs(unary.cpu.hand)} |

The server saw ${connections} client connections (one per client). \`rotatingClient\`'s cost over the
bare client is a property lookup through its Proxy per call.
`;

writeSection('grpc', md);
console.log(md);
