// Cold start to the first request: whole fresh Node processes that read an RSA-2048 client credential
// from environment variables (Base64 PEM), make one mTLS request to a loopback server and exit, through
// mtlskit (`agent()`, `fetch()`) and through what a careful user builds by hand from the same PEM (an
// https.Agent, an undici Agent). Variants alternate in rounds of one run (tests/bench/lib.mjs'
// interleaved()); each child also reports when its imports were done and when its response ended.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startMtlsServer, TestCA } from '@mtlskit/testkit';
import { fmtNs, interleaved, machine, writeSection } from './lib.mjs';

const ROUNDS = Number(process.env.COLDSTART_ROUNDS ?? 20);
const PER_ROUND = Number(process.env.COLDSTART_PER_ROUND ?? 3);

const loadAtStart = os.loadavg()[0];
const ca = await TestCA.create();
const server = await startMtlsServer({ clientCa: ca });
const client = await ca.issueClient({ keyType: 'rsa2048' });
const b64 = (text) => Buffer.from(text).toString('base64');
// What a deployment puts in the environment: Base64 of each PEM, as envSource() reads by default.
const env = {
  ...process.env,
  MTLS_CERT: b64(client.fullChainPem),
  MTLS_KEY: b64(client.keyPem),
  MTLS_CA: b64(server.caPem),
  TARGET_URL: `${server.url}/coldstart`,
};
// Children import the same builds this bench resolves (core's dist, the workspace's undici 7).
const CORE = import.meta.resolve('@mtlskit/core');
const UNDICI = import.meta.resolve('undici');

// Each child prints `importsDone responseDone cpu` (ms since its process started; its CPU time, user
// and system, in ms) and exits at once, so that no variant is timed on how it closes pooled sockets or
// timers.
const report = `const cpu = process.cpuUsage();
process.stdout.write(\`\${imported.toFixed(2)} \${performance.now().toFixed(2)} \${(cpu.user + cpu.system) / 1000}\\n\`);
process.exit(0);`;
const httpsGet = (agent) => `https
  .get(process.env.TARGET_URL, { agent: ${agent} }, (res) => {
    res.resume();
    res.on('end', () => {
      ${report}
    });
  })
  .on('error', (err) => {
    console.error(err);
    process.exit(1);
  });`;
const viaCore = (core) => ({
  'agent()': `import https from 'node:https';
import { createTlsResolver, envSource } from '${core}';
const imported = performance.now();
const resolver = createTlsResolver({ source: envSource() });
${httpsGet('resolver.agent()')}`,
  'fetch()': `import { createTlsResolver, envSource } from '${core}';
const imported = performance.now();
const resolver = createTlsResolver({ source: envSource() });
const res = await resolver.fetch(process.env.TARGET_URL);
await res.arrayBuffer();
${report}`,
  'import @mtlskit/core': `import '${core}';
const imported = performance.now();
${report}`,
});
// COLDSTART_BEFORE=path/to/another/build/of/core/dist/index.js adds that build's variants to the same
// rounds (how the figures before this work were measured: see docs/benchmarks.md).
const BEFORE = process.env.COLDSTART_BEFORE;
const CHILDREN = {
  'https.Agent': `import https from 'node:https';
const imported = performance.now();
const pem = (name) => Buffer.from(process.env[name], 'base64');
const agent = new https.Agent({ cert: pem('MTLS_CERT'), key: pem('MTLS_KEY'), ca: pem('MTLS_CA') });
${httpsGet('agent')}`,
  'undici Agent': `import { Agent, fetch } from '${UNDICI}';
const imported = performance.now();
const pem = (name) => Buffer.from(process.env[name], 'base64');
const dispatcher = new Agent({ connect: { cert: pem('MTLS_CERT'), key: pem('MTLS_KEY'), ca: pem('MTLS_CA') } });
const res = await fetch(process.env.TARGET_URL, { dispatcher });
await res.arrayBuffer();
${report}`,
  // What importing alone costs, against a process that imports nothing.
  'node, no import': `const imported = performance.now();
${report}`,
  ...viaCore(CORE),
  ...(BEFORE === undefined
    ? {}
    : Object.fromEntries(
        Object.entries(viaCore(pathToFileURL(BEFORE).href)).map(([k, v]) => [`${k} before`, v]),
      )),
};

const dir = mkdtempSync(join(os.tmpdir(), 'mtlskit-coldstart-'));
const files = {};
for (const [i, [name, code]] of Object.entries(CHILDREN).entries()) {
  files[name] = join(dir, `child${i}.mjs`);
  writeFileSync(files[name], code);
}

/** Child-reported times per variant: [importsDone, responseDone] of every run. */
const reported = Object.fromEntries(Object.keys(CHILDREN).map((k) => [k, []]));

function run(name) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [files[name]], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`${name}: the child exited with ${code}`));
      reported[name].push(out.trim().split(' ').map(Number));
      resolve();
    });
  });
}

const result = await interleaved(
  Object.fromEntries(Object.keys(CHILDREN).map((name) => [name, () => run(name)])),
  ROUNDS,
  PER_ROUND,
);
await server.close();
rmSync(dir, { recursive: true, force: true });

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
// The warm-up round's runs are in `reported` too; they are few against ROUNDS × PER_ROUND.
const imports = (name) => median(reported[name].map(([i]) => i)) * 1e6;
const response = (name) => median(reported[name].map(([i, r]) => r - i)) * 1e6;
const cpu = (name) => median(reported[name].map(([, , c]) => c)) * 1e6;
/** From the process's start to its response's end, by its own clock (no spawn, no exit). */
const toResponse = (name) => median(reported[name].map(([, r]) => r)) * 1e6;

const pass = (ok) => (ok ? 'met' : '**missed**');
const row = (label, name, base, target) => {
  const ratio = result.medianRatio(name, base);
  const cell = `${ratio.toFixed(3)}× (${(result.wall[name] / result.wall[base]).toFixed(3)}×)`;
  const goal = target === undefined ? 'report' : `≤ ${target.toFixed(2)}× (${pass(ratio <= target)})`;
  const cpuRatio = `${(cpu(name) / cpu(base)).toFixed(3)}×`;
  const responseRatio = `${(toResponse(name) / toResponse(base)).toFixed(3)}×`;
  return `| ${label} | ${fmtNs(result.wall[name])} | ${fmtNs(result.wall[base])} | ${cell} | ${responseRatio} | ${cpuRatio} | ${goal} |`;
};
const times = (name) =>
  `| ${name} | ${fmtNs(result.wall[name])} | ${fmtNs(imports(name))} | ${fmtNs(response(name))} | ${fmtNs(cpu(name))} |`;

const md = `## Cold start

Command: \`npm run bench -- coldstart\` (builds the packages, then runs
\`node --expose-gc tests/bench/coldstart.bench.mjs\`). Every number below comes from one run of it.

${machine()}, ${os.cpus().length} CPUs, load average ${loadAtStart.toFixed(1)} at the start, ${os.loadavg()[0].toFixed(1)} at the end. Each run is a whole new
\`node\` process that reads an RSA-2048 client certificate (issued by a test root CA), its PKCS#8 key and
the server's CA from \`MTLS_CERT\`, \`MTLS_KEY\`, \`MTLS_CA\` (Base64 of PEM), makes one GET over loopback to a
node:https mTLS server (TLS 1.3), reads the response and exits. Through mtlskit:
\`createTlsResolver({ source: envSource() })\`, then \`agent()\` with \`https.get\`, or \`fetch()\`; by hand, from
the same variables: \`new https.Agent({ cert, key, ca })\`, or undici 7's \`fetch\` with
\`new Agent({ connect: { cert, key, ca } })\`. ${ROUNDS} rounds of ${PER_ROUND} processes per variant, order
alternating each round; the ratio is the median over rounds of the ratio within each round (of the totals in
brackets).${
  BEFORE === undefined
    ? ''
    : ` Rows marked "before" run the same children over another build of core, given as
\`COLDSTART_BEFORE=${BEFORE}\`, in the same rounds.`
} Time is from spawning the process to its exit; "to the response's end" is the ratio of the medians of
the time each process reports from its start to its response's end (no spawn, no exit); the CPU time ratio is that of the medians of each
process's own CPU time (user and system, as it reports it before exiting), which a loaded machine stretches
less than the wall time.

| cold start to the first response | mtlskit | by hand | ratio | to the response's end, ratio | CPU time ratio | target |
|---|---|---|---|---|---|---|
${row('`agent()` vs a hand-built `https.Agent`', 'agent()', 'https.Agent', 1.15)}
${row('`fetch()` vs a hand-built undici Agent', 'fetch()', 'undici Agent', 1.1)}
${row('a process importing `@mtlskit/core` alone vs one importing nothing', 'import @mtlskit/core', 'node, no import')}
${
  BEFORE === undefined
    ? ''
    : [
        row('before: `agent()` vs a hand-built `https.Agent`', 'agent() before', 'https.Agent'),
        row('before: `fetch()` vs a hand-built undici Agent', 'fetch() before', 'undici Agent'),
        row(
          'before: importing `@mtlskit/core` alone vs importing nothing',
          'import @mtlskit/core before',
          'node, no import',
        ),
        row('now vs before: `agent()`', 'agent()', 'agent() before'),
        row('now vs before: `fetch()`', 'fetch()', 'fetch() before'),
        row(
          'now vs before: importing `@mtlskit/core`',
          'import @mtlskit/core',
          'import @mtlskit/core before',
        ),
      ].join('\n')
}

Where the time goes, as each process reports it (medians; from the process's start):

| variant | spawn to exit | imports done | then to the response's end | CPU time of the process |
|---|---|---|---|---|
${Object.keys(CHILDREN).map(times).join('\n')}
`;

writeSection('coldstart', md);
console.log(md);
