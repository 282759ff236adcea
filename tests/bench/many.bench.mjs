// Many credentials in one process: what each credential costs, loaded and able to hand out a TLS
// context, in time and in memory retained, against the least a careful hand-built equivalent does
// (parse the certificate with X509Certificate, parse the key with createPrivateKey, check the pair
// with checkPrivateKey, build one tls.createSecureContext). Each measurement runs in a fresh child
// process (so no two share a heap), the variants alternating round by round (lib.mjs interleaved()).
//
// The credentials: one RSA-2048 client certificate per credential, issued by one RSA-2048 test root
// (given as each credential's `ca`, as a platform holding one client certificate per tenant for one
// API would have), for a handful of RSA-2048 keys (16 by default; generating a key costs ~100 ms,
// signing a certificate a few: 10,000 distinct keys would take longer than the measurement).
import { spawnSync } from 'node:child_process';
import { createPrivateKey, webcrypto, X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { fmtNs, interleaved, machine, writeSection } from './lib.mjs';

// MTLSKIT_BENCH_CREDENTIALS (default 10,000), MTLSKIT_BENCH_ROUNDS (default 3), MTLSKIT_BENCH_KEYS
// (default 16) shorten a run; MTLSKIT_BENCH_STDOUT=1 prints the section without writing docs/benchmarks.md.
const COUNT = Number(process.env.MTLSKIT_BENCH_CREDENTIALS ?? 10_000);
const ROUNDS = Number(process.env.MTLSKIT_BENCH_ROUNDS ?? 3);
const KEYS = Number(process.env.MTLSKIT_BENCH_KEYS ?? 16);
const STDOUT_ONLY = process.env.MTLSKIT_BENCH_STDOUT === '1';
const SELF = fileURLToPath(import.meta.url);

// ---- child: load COUNT credentials one way, report time and retained memory ---------------------

/**
 * Each variant returns a function that loads credential `i` and returns what it keeps to hand out a
 * TLS context; `materialOf(i)` gives that credential's material as a fresh copy, as a secret store's
 * response would be, so that what a variant retains is all the measurement sees.
 */
const VARIANTS = {
  // The least a careful hand-built equivalent does, keeping the certificate (for its expiry) and the context.
  async handBuilt(materialOf) {
    return (i) => {
      const m = materialOf(i);
      const cert = new X509Certificate(m.cert);
      const key = createPrivateKey(m.key);
      if (!cert.checkPrivateKey(key)) throw new Error('key mismatch');
      const secureContext = tls.createSecureContext({
        cert: m.cert,
        key: m.key,
        ca: m.ca,
        minVersion: 'TLSv1.2',
      });
      return { cert, secureContext };
    };
  },
  // A named set (made for every name up front), each credential's resolver made on first use and
  // asked for its SecureContext.
  async mtlskit(materialOf, count, core = '@mtlskit/core') {
    const { createTlsResolvers } = await import(core);
    const config = {};
    for (let i = 0; i < count; i++) {
      config[`tenant-${i}`] = { id: `memory:tenant-${i}`, load: async () => materialOf(i) };
    }
    const set = createTlsResolvers(config);
    return async (i) => {
      const resolver = set.get(`tenant-${i}`);
      await resolver.secureContext();
      return resolver;
    };
  },
  // The same through another build of @mtlskit/core (MTLSKIT_BENCH_BASELINE_CORE: its dist/index.js),
  // e.g. the one before a change, measured in the same alternating rounds.
  async baseline(materialOf, count) {
    return VARIANTS.mtlskit(materialOf, count, pathToFileURL(process.env.MTLSKIT_BENCH_BASELINE_CORE).href);
  },
};

/** Full collections until what they free has been given back (ArrayBuffer memory is freed concurrently). */
async function gc() {
  for (let i = 0; i < 4; i++) {
    globalThis.gc();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function retained() {
  const m = process.memoryUsage();
  return { heapExternal: m.heapUsed + m.external, rss: m.rss };
}

async function child(variant, file, count) {
  const all = JSON.parse(readFileSync(file, 'utf8'));
  // Each load gets fresh strings, as a secret store's response would be.
  const copy = (s) => JSON.parse(JSON.stringify(s));
  const materialOf = (i) => {
    const d = all[i % all.length];
    return { cert: copy(d.cert), key: copy(d.key), ca: copy(d.ca) };
  };
  const load = await VARIANTS[variant](materialOf, count);
  // Everything imported and one credential loaded outside the measurement (one-time costs), then the
  // rest measured from a collected heap.
  const kept = [await load(0)];
  await gc();
  const before = retained();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 1; i < count; i++) kept.push(await load(i));
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  await gc();
  const after = retained();
  const n = count - 1;
  process.stdout.write(
    `${JSON.stringify({
      wallNs: (wallMs * 1e6) / n,
      cpuNs: ((cpu.user + cpu.system) * 1e3) / n,
      bytes: (after.heapExternal - before.heapExternal) / n,
      rssBytes: (after.rss - before.rss) / n,
      kept: kept.length,
    })}\n`,
  );
}

if (process.argv[2] === 'child') {
  await child(process.argv[3], process.argv[4], Number(process.argv[5]));
  process.exit(0);
}

// ---- parent: make the credentials, run the children in alternating rounds ------------------------

/** Makes the credentials: a certificate of its own for each, for one of KEYS keys. */
async function makeCredentials() {
  const { TestCA } = await import('@mtlskit/testkit');
  const x509 = await import(
    createRequire(fileURLToPath(import.meta.resolve('@mtlskit/testkit'))).resolve('@peculiar/x509')
  );
  x509.cryptoProvider.set(webcrypto);
  const RSA = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  const genStarted = performance.now();
  const root = await TestCA.create({ keyType: 'rsa2048', commonName: 'bench API root CA' });
  // KEYS RSA-2048 keys, each with a CSR; then one certificate per credential, signed by the root for
  // one of those CSRs: every credential is a certificate of its own.
  const keys = [];
  for (let i = 0; i < KEYS; i++) {
    const leaf = await root.issueClient({ keyType: 'rsa2048' });
    const pair = {
      privateKey: await webcrypto.subtle.importKey('pkcs8', leaf.keyDer, RSA, true, ['sign']),
      publicKey: await webcrypto.subtle.importKey(
        'spki',
        leaf.x509.publicKey.export({ type: 'spki', format: 'der' }),
        RSA,
        true,
        ['verify'],
      ),
    };
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: 'CN=bench tenant',
      keys: pair,
      signingAlgorithm: RSA,
    });
    keys.push({ keyPem: leaf.keyPem, csrPem: csr.toString('pem') });
  }
  const credentials = [];
  for (let i = 0; i < COUNT; i++) {
    const { keyPem, csrPem } = keys[i % KEYS];
    const name = `tenant-${i}.api.example`;
    const signed = await root.signCsr(csrPem, {
      commonName: name,
      dnsNames: [name],
      validForSeconds: 365 * 86_400,
    });
    credentials.push({ cert: signed.certPem, key: keyPem, ca: root.rootPem });
  }
  const genMs = performance.now() - genStarted;
  return { credentials, genMs };
}

// MTLSKIT_BENCH_FILE keeps the credentials made (test keys, mode 0600) for the next run to reuse.
const dir = mkdtempSync(join(tmpdir(), 'mtlskit-many-'));
const kept = process.env.MTLSKIT_BENCH_FILE;
const file = kept ?? join(dir, 'credentials.json');
let genMs;
if (kept !== undefined && existsSync(kept) && JSON.parse(readFileSync(kept, 'utf8')).length >= COUNT) {
  genMs = undefined;
} else {
  const made = await makeCredentials();
  genMs = made.genMs;
  writeFileSync(file, JSON.stringify(made.credentials), { mode: 0o600 });
}

const BASELINE = process.env.MTLSKIT_BENCH_BASELINE_CORE;
const results = { handBuilt: [], mtlskit: [], ...(BASELINE ? { baseline: [] } : {}) };
function runChild(variant) {
  const r = spawnSync(process.execPath, ['--expose-gc', SELF, 'child', variant, file, String(COUNT)], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  if (r.status !== 0) throw new Error(`${variant} child failed: ${r.stderr}`);
  const out = JSON.parse(r.stdout.trim().split('\n').at(-1));
  if (out.kept !== COUNT) throw new Error(`${variant} kept ${out.kept} of ${COUNT}`);
  results[variant].push(out);
}
// The machine's load (1-minute average) at the start and the end: on a shared machine, what the time
// ratio has to be read against.
const loadAt = { start: loadavg()[0] };
try {
  // interleaved() runs one warm-up call of each, then alternates the order every round.
  await interleaved(Object.fromEntries(Object.keys(results).map((v) => [v, () => runChild(v)])), ROUNDS, 1);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
loadAt.end = loadavg()[0];
// The warm-up round is dropped: only the alternating rounds count.
for (const k of Object.keys(results)) results[k] = results[k].slice(1);

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};
/** The median over rounds of `variant`'s figure over the hand-built one's in the same round. */
const ratio = (field, variant = 'mtlskit') =>
  median(results[variant].map((r, i) => r[field] / results.handBuilt[i][field]));
const med = (variant, field) => median(results[variant].map((r) => r[field]));
const kib = (b) => `${(b / 1024).toFixed(1)} KiB`;
/** The target cell: `≤ 1.3× (met)` for the figures the target is on (CPU time, RSS), `report` for the others. */
const targetCell = (field, limit) =>
  limit === undefined ? 'report' : `≤ ${limit}× (${ratio(field) <= limit ? 'met' : '**missed**'})`;
const row = (label, field, fmt, limit) =>
  `| ${label} | ${fmt(med('handBuilt', field))} | ${fmt(med('mtlskit', field))} | ${ratio(field).toFixed(2)}× |` +
  (BASELINE ? ` ${fmt(med('baseline', field))} | ${ratio(field, 'baseline').toFixed(2)}× |` : '') +
  ` ${targetCell(field, limit)} |`;
const head = BASELINE
  ? '| per credential | hand-built | mtlskit | ratio | baseline | ratio | target |\n|---|---|---|---|---|---|---|'
  : '| per credential | hand-built | mtlskit | ratio | target |\n|---|---|---|---|---|';

const section = `
## Many credentials

${COUNT.toLocaleString('en')} credentials in one process, each loaded and able to hand out a TLS context:
mtlskit through a named set (\`createTlsResolvers\` over ${COUNT.toLocaleString('en')} in-memory sources,
then \`set.get(name).secureContext()\` for each, one after the other) against the least a careful
hand-built equivalent does (\`new X509Certificate(cert)\`, \`createPrivateKey(key)\`,
\`checkPrivateKey\`, one \`tls.createSecureContext({ cert, key, ca })\`, keeping the certificate and
the context). Each credential is an RSA-2048 client certificate and key with its RSA-2048 root as
\`ca\` (PEM): a certificate of its own for each credential, for one of ${KEYS} keys, all made by the
testkit CA${genMs === undefined ? '' : ` (${(genMs / 1000).toFixed(1)} s)`}; each load is given fresh strings, as a secret store's response would be. Each figure comes from a fresh process (\`--expose-gc\`),
the variants alternating (order reversed each round) over ${ROUNDS} rounds; the figures are medians, the ratios medians of the ratio
within each round. Memory: heap used + external after a full GC, per credential (RSS, which also
counts OpenSSL's own allocations, beside it). Target: ≤ 1.3× the CPU time and the RSS growth (the memory the process takes).${
  BASELINE
    ? ` "Baseline": the same named set through another build of @mtlskit/core, ${process.env.MTLSKIT_BENCH_BASELINE_LABEL ?? `at ${BASELINE}`}, in the same rounds.`
    : ''
}

${head}
${row('wall time', 'wallNs', fmtNs)}
${row('CPU time', 'cpuNs', fmtNs, 1.3)}
${row('heap + external retained', 'bytes', kib)}
${row('RSS growth', 'rssBytes', kib, 1.3)}

mtlskit / hand-built in each round: CPU ${results.mtlskit.map((r, i) => (r.cpuNs / results.handBuilt[i].cpuNs).toFixed(2)).join(', ')}; RSS ${results.mtlskit.map((r, i) => (r.rssBytes / results.handBuilt[i].rssBytes).toFixed(2)).join(', ')}.

Run: \`npm run build && node --expose-gc tests/bench/many.bench.mjs\`
(\`MTLSKIT_BENCH_CREDENTIALS=2000 MTLSKIT_BENCH_ROUNDS=1\` for a quick check; \`MTLSKIT_BENCH_FILE=/tmp/many.json\`
keeps the generated credentials for the next run; \`MTLSKIT_BENCH_BASELINE_CORE=DIR/dist/index.js\` adds another
build of core as a column). ${machine()}; load average (1 min) ${loadAt.start.toFixed(1)} at the start, ${loadAt.end.toFixed(1)} at the end.
`;

if (STDOUT_ONLY) console.log(section);
else {
  writeSection('many', section);
  console.log(section);
}
