// Google Secret Manager benchmark: the cold first load — a fresh Node process importing @mtlskit/gcp,
// then its first load(), which imports the Google client (google-gax, protobufs), builds it, connects
// and calls AccessSecretVersion — over gRPC and over the REST fallback, against the loopback emulator.
// Beside it: importing @mtlskit/gcp alone (the client stays unloaded until the first call), importing
// the Google client alone, and a warm second load() in the same process. Fresh processes, interleaved.
import { execFile } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startGcpSecretManagerEmulator, TestCA } from '@mtlskit/testkit';
import { machine, writeSection } from './lib.mjs';

// MTLSKIT_BENCH_ROUNDS shortens a run; MTLSKIT_BENCH_STDOUT=1 prints the section without writing docs/benchmarks.md.
const ROUNDS = Number(process.env.MTLSKIT_BENCH_ROUNDS ?? 9);
const STDOUT_ONLY = process.env.MTLSKIT_BENCH_STDOUT === '1';
const sorted = (xs) => [...xs].sort((a, b) => a - b);
const median = (xs) => sorted(xs)[Math.floor(xs.length / 2)];
const ms = (x) => `${x.toFixed(1)} ms`;
const gcpPackage = fileURLToPath(import.meta.resolve('@mtlskit/gcp'));

// What each fresh process does; it prints its timings as JSON. `import.meta.resolve` from the gcp
// package finds the Google client and its google-gax (not dependencies of tests/).
const CHILD = `
const t0 = performance.now();
const { createRequire } = await import('node:module');
const require = createRequire(process.env.GCP_PACKAGE);
const mode = process.env.MODE;
if (mode === 'sdk') {
  await import(require.resolve('@google-cloud/secret-manager'));
  console.log(JSON.stringify({ import: performance.now() - t0 }));
  process.exit(0);
}
const { gcpSecretManagerSource } = await import(process.env.GCP_PACKAGE);
const imported = performance.now() - t0;
if (mode === 'import') { console.log(JSON.stringify({ import: imported })); process.exit(0); }
// Getters: the source spreads these options when it builds the client, on its first call, after
// importing the Google client — so google-gax is loaded by load(), as in an application.
const gax = () => require(require.resolve('google-gax', { paths: [require.resolve('@google-cloud/secret-manager')] }));
const common = { apiEndpoint: '127.0.0.1', universeDomain: 'googleapis.com' };
const clientOptions = mode === 'grpc'
  ? { ...common, port: Number(process.env.GRPC_PORT), get sslCreds() { return gax().grpc.credentials.createInsecure(); } }
  : { ...common, port: Number(process.env.REST_PORT), protocol: 'http', get authClient() { return new (gax().googleAuthLibrary.PassThroughClient)(); } };
const source = gcpSecretManagerSource({ name: process.env.NAME, transport: mode, clientOptions });
const t1 = performance.now();
const first = await source.load();
const t2 = performance.now();
await source.load();
const t3 = performance.now();
await source.close();
if (first.version !== '1') throw new Error('unexpected version ' + first.version);
console.log(JSON.stringify({ import: imported, first: t2 - t1, warm: t3 - t2, total: t2 - t0 }));
`;

const ca = await TestCA.create();
const cert = await ca.issueClient({ commonName: 'bench' });
const emulator = await startGcpSecretManagerEmulator();
const NAME = 'projects/mtlskit-test/secrets/bench';
emulator.putSecret(NAME, JSON.stringify({ cert: cert.fullChainPem, key: cert.keyPem }));

// Asynchronous: the emulator answers from this process's event loop.
async function run(mode) {
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', CHILD], {
    env: {
      ...process.env,
      MODE: mode,
      GCP_PACKAGE: gcpPackage,
      GRPC_PORT: String(emulator.grpcPort),
      REST_PORT: String(emulator.port),
      NAME,
      METADATA_SERVER_DETECTION: 'none',
      NO_PROXY: '127.0.0.1,localhost',
    },
    encoding: 'utf8',
  });
  return JSON.parse(stdout.trim().split('\n').at(-1));
}

const modes = ['import', 'sdk', 'grpc', 'rest'];
const results = Object.fromEntries(modes.map((m) => [m, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (const mode of round % 2 ? [...modes].reverse() : modes) results[mode].push(await run(mode));
}
await emulator.close();

const pick = (mode, key) => median(results[mode].map((r) => r[key]));
const section = `## Google Secret Manager: cold first load

Command: \`npm run bench -- gcp\` (builds the packages, then runs \`node tests/bench/gcp.bench.mjs\`).
Every number below comes from one run of it.

${machine()}, ${cpus().length} CPUs, load average ${loadavg()[0].toFixed(1)} at the end of the run
(a shared machine: absolute times stretch with it). Each figure is the median of ${ROUNDS} fresh Node processes per variant, variants
interleaved, against the testkit's loopback emulator (so no network latency: what remains is the
client's own start-up). "First load()" covers importing \`@google-cloud/secret-manager\` (google-gax,
protobufs), building the client, connecting and one AccessSecretVersion with its CRC32C check.

| measurement | gRPC | REST fallback |
|---|---|---|
| \`import('@mtlskit/gcp')\` (with @mtlskit/core; the Google client not loaded yet) | ${ms(pick('import', 'import'))} | (same) |
| \`import('@google-cloud/secret-manager')\` alone, for comparison | ${ms(pick('sdk', 'import'))} | (same) |
| first \`load()\`: client import + construction + connection + first access | ${ms(pick('grpc', 'first'))} | ${ms(pick('rest', 'first'))} |
| second \`load()\` in the same process (warm) | ${ms(pick('grpc', 'warm'))} | ${ms(pick('rest', 'warm'))} |
| process start of the script to the first credential material | ${ms(pick('grpc', 'total'))} | ${ms(pick('rest', 'total'))} |

Importing the package costs little because the Google client is imported on the first call; a
process that never reads Secret Manager never pays for it.`;

if (STDOUT_ONLY) console.log(section);
else {
  writeSection('gcp', section);
  console.log(section);
}
