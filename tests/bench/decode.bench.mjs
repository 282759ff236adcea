// Decode benchmark: what reading and validating one credential costs in each stored format, as a
// ratio to a bare tls.createSecureContext() of the same PEM (the least any client pays to use it).
// Also: what the alternatives for reading PKCS#12 cost on the same files (node-forge's full parser,
// pkijs), which is why core walks PKCS#12 itself on node:crypto. All in one run, variants interleaved.
import { createPrivateKey, webcrypto, X509Certificate } from 'node:crypto';
import { createRequire } from 'node:module';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { loadCredentials, validateCredentials } from '@mtlskit/core';
import { decodeMaterial } from '@mtlskit/core/decode';
import { hasOpenssl, TestCA } from '@mtlskit/testkit';
import { fmtNs, machine, measure, writeSection } from './lib.mjs';

// MTLSKIT_BENCH_ROUNDS / MTLSKIT_BENCH_MS shorten a run (e.g. 1 and 20 to check that it works);
// MTLSKIT_BENCH_STDOUT=1 prints the section without writing docs/benchmarks.md.
const ROUNDS = Number(process.env.MTLSKIT_BENCH_ROUNDS ?? 7);
const ROUND_MS = Number(process.env.MTLSKIT_BENCH_MS ?? 300);
const STDOUT_ONLY = process.env.MTLSKIT_BENCH_STDOUT === '1';
const PASSPHRASE = 'benchmark passphrase';
const b64 = (data) => Buffer.from(data).toString('base64');
const sorted = (xs) => [...xs].sort((a, b) => a - b);
const median = (xs) => sorted(xs)[Math.floor(xs.length / 2)];

// The alternatives, resolved from the packages that depend on them.
const requireFromCore = createRequire(fileURLToPath(import.meta.resolve('@mtlskit/core')));
const requireFromTestkit = createRequire(fileURLToPath(import.meta.resolve('@mtlskit/testkit')));

const root = await TestCA.create({ keyType: 'rsa2048' });
const intermediate = await root.intermediate({ keyType: 'rsa2048' });
const leaf = await intermediate.issueClient({ keyType: 'rsa2048', validForSeconds: 365 * 86_400 });
const chainDer = Buffer.concat([leaf.certDer, new X509Certificate(leaf.chainPem).raw]);
// The other key types, each under the same RSA intermediate: only the leaf key changes.
const ecLeaf = await intermediate.issueClient({ keyType: 'ec-p256', validForSeconds: 365 * 86_400 });
const edLeaf = await intermediate.issueClient({ keyType: 'ed25519', validForSeconds: 365 * 86_400 });

const openssl = hasOpenssl();
const pfx = {
  modern: await leaf.pkcs12(PASSPHRASE),
  '3des': openssl ? await leaf.pkcs12(PASSPHRASE, { algorithm: '3des' }) : undefined,
  legacy: openssl ? await leaf.pkcs12(PASSPHRASE, { algorithm: 'legacy-rc2' }) : undefined,
  openssl: openssl ? await leaf.pkcs12(PASSPHRASE, { algorithm: 'openssl' }) : undefined,
};

/**
 * Format name -> material, plus what Node itself would be given for this format when it can take it;
 * `base`: the leaf whose bare createSecureContext the ratio is taken to (default the RSA one).
 */
const formats = [
  { name: 'PEM', material: { cert: leaf.fullChainPem, key: leaf.keyPem } },
  {
    name: 'PEM with literal `\\n` (an environment variable)',
    material: { cert: leaf.fullChainPem.replace(/\n/g, '\\n'), key: leaf.keyPem.replace(/\n/g, '\\n') },
  },
  { name: 'Base64 PEM', material: { cert: b64(leaf.fullChainPem), key: b64(leaf.keyPem) } },
  { name: 'Base64 DER', material: { cert: b64(chainDer), key: b64(leaf.keyDer) } },
  { name: 'DER bytes', material: { cert: chainDer, key: leaf.keyDer } },
  {
    name: 'JSON bundle (Kubernetes names, Base64 values)',
    material: { bundle: JSON.stringify({ 'tls.crt': b64(leaf.fullChainPem), 'tls.key': b64(leaf.keyPem) }) },
  },
  { name: 'EC P-256 leaf, PEM', base: 'ec', material: { cert: ecLeaf.fullChainPem, key: ecLeaf.keyPem } },
  { name: 'Ed25519 leaf, PEM', base: 'ed25519', material: { cert: edLeaf.fullChainPem, key: edLeaf.keyPem } },
  {
    name: 'encrypted PKCS#8 (PBES2 AES-256, 2048 it.)',
    material: { cert: leaf.fullChainPem, key: leaf.encryptedPkcs8Pem(PASSPHRASE), passphrase: PASSPHRASE },
    native: { cert: leaf.fullChainPem, key: leaf.encryptedPkcs8Pem(PASSPHRASE), passphrase: PASSPHRASE },
  },
  {
    name: 'traditional encrypted (Proc-Type, AES-256)',
    material: {
      cert: leaf.fullChainPem,
      key: leaf.encryptedTraditionalPem(PASSPHRASE),
      passphrase: PASSPHRASE,
    },
    native: {
      cert: leaf.fullChainPem,
      key: leaf.encryptedTraditionalPem(PASSPHRASE),
      passphrase: PASSPHRASE,
    },
  },
  {
    name: 'PKCS#12 modern (AES-256, PBKDF2, SHA-256 MAC)',
    material: { pfx: pfx.modern, passphrase: PASSPHRASE },
    native: { pfx: pfx.modern, passphrase: PASSPHRASE },
  },
  pfx['3des'] && {
    name: 'PKCS#12 3DES (SHA-1 MAC)',
    material: { pfx: pfx['3des'], passphrase: PASSPHRASE },
    native: { pfx: pfx['3des'], passphrase: PASSPHRASE },
  },
  pfx.legacy && {
    name: 'PKCS#12 legacy (RC2-40 + 3DES)',
    material: { pfx: pfx.legacy, passphrase: PASSPHRASE },
    native: { pfx: pfx.legacy, passphrase: PASSPHRASE },
  },
].filter(Boolean);

// Sanity: every format decodes to the same certificate as the PEM of its leaf before anything is timed.
const leaves = { rsa: leaf, ec: ecLeaf, ed25519: edLeaf };
const references = {};
for (const [base, l] of Object.entries(leaves)) {
  references[base] = (await loadCredentials({ cert: l.fullChainPem, key: l.keyPem })).version;
}
for (const f of formats) {
  const c = await loadCredentials(f.material);
  if (c.version !== references[f.base ?? 'rsa']) throw new Error(`${f.name} decoded to another credential`);
}
// The first legacy decode loads node-forge's RC2/DES; time that once, outside the loop.
const firstLegacy = await (async () => {
  if (!pfx.legacy) return undefined;
  const started = performance.now();
  await loadCredentials({ pfx: pfx.legacy, passphrase: PASSPHRASE });
  return performance.now() - started;
})();

const baselineOf = (l) => () => tls.createSecureContext({ cert: l.fullChainPem, key: l.keyPem });
const nativeOk = (opts) => {
  try {
    tls.createSecureContext(opts);
    return true;
  } catch {
    return false;
  }
};

// node-forge's complete PKCS#12 reader and pkijs's, on the same files.
const forge = requireFromCore('node-forge');
let pkijsModule;
async function pkijsParse(file) {
  // Imported on first use (outside the timed rounds: works() below calls it first), not per call.
  pkijsModule ??= await import(requireFromTestkit.resolve('pkijs'));
  const pkijs = pkijsModule;
  const engine = new pkijs.CryptoEngine({ name: 'bench', crypto: webcrypto });
  const password = new TextEncoder().encode(PASSPHRASE).buffer;
  const p = pkijs.PFX.fromBER(new Uint8Array(file).buffer);
  await p.parseInternalValues({ password, checkIntegrity: true }, engine);
  const safe = p.parsedValue.authenticatedSafe;
  await safe.parseInternalValues({ safeContents: safe.safeContents.map(() => ({ password })) }, engine);
  for (const contents of safe.parsedValue.safeContents) {
    for (const bag of contents.value.safeBags) {
      if (bag.bagId === '1.2.840.113549.1.12.10.1.2')
        await bag.bagValue.parseInternalValues({ password }, engine);
    }
  }
}
const alternatives = Object.fromEntries(
  ['openssl', '3des', 'legacy'].map((kind) => {
    const file = pfx[kind];
    return [
      kind,
      file && {
        forge: () => forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(file.toString('binary')), PASSPHRASE),
        pkijs: () => pkijsParse(file),
      },
    ];
  }),
);
async function works(fn) {
  try {
    await fn();
    return true;
  } catch {
    return false;
  }
}

// Variants interleaved round by round, so drift on a shared machine hits them alike.
const variants = {};
for (const [base, l] of Object.entries(leaves)) variants[`baseline:${base}`] = baselineOf(l);
for (const f of formats) {
  variants[`decode:${f.name}`] = () => validateCredentials(decodeMaterial(f.material));
  variants[`load:${f.name}`] = () => loadCredentials(f.material);
  if (f.native && nativeOk(f.native)) variants[`native:${f.name}`] = () => tls.createSecureContext(f.native);
}
// What OpenSSL alone takes to import the same RSA key, by how it is handed over: most of each row.
const pkcs1Der = createPrivateKey(leaf.keyPem).export({ type: 'pkcs1', format: 'der' });
variants['import:pkcs8-der'] = () => createPrivateKey({ key: leaf.keyDer, format: 'der', type: 'pkcs8' });
variants['import:pkcs1-der'] = () => createPrivateKey({ key: pkcs1Der, format: 'der', type: 'pkcs1' });
if (pfx.openssl) {
  variants['decode:openssl'] = () =>
    validateCredentials(decodeMaterial({ pfx: pfx.openssl, passphrase: PASSPHRASE }));
}
for (const [kind, alt] of Object.entries(alternatives)) {
  if (!alt) continue;
  if (await works(alt.forge)) variants[`forge:${kind}`] = alt.forge;
  if (await works(alt.pkijs)) variants[`pkijs:${kind}`] = alt.pkijs;
}
const samples = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, fn] of Object.entries(variants)) {
    samples[name].push(await measure(fn, { ms: ROUND_MS, warmup: round === 0 ? 150 : 30 }));
  }
}
const ns = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]));
/** The spread of a variant's rounds: fastest–slowest. */
const spread = (name) => {
  const xs = sorted(samples[name] ?? []);
  return xs.length < 2 ? '' : ` <sub>${fmtNs(xs[0])}–${fmtNs(xs[xs.length - 1])}</sub>`;
};
const ratio = (x, base = 'rsa') => (x === undefined ? '—' : `${(x / ns[`baseline:${base}`]).toFixed(2)}×`);
const cell = (x, base) => (x === undefined ? 'refused' : `${fmtNs(x)} (${ratio(x, base)})`);
const timed = (name) => `${fmtNs(ns[name])}${spread(name)}`;

const rows = formats.map((f) => {
  const native = f.native ? cell(ns[`native:${f.name}`], f.base) : 'n/a';
  const decode = `decode:${f.name}`;
  const load = `load:${f.name}`;
  return `| ${f.name} | ${timed(decode)} | **${ratio(ns[decode], f.base)}** | ${timed(load)} (${ratio(ns[load], f.base)}) | ${native} |`;
});
const altRows = Object.entries(alternatives)
  .filter(([, alt]) => alt)
  .map(([kind]) => {
    const name =
      kind === 'openssl'
        ? 'PKCS#12 modern, as `openssl pkcs12 -export` writes it (OpenSSL 3 defaults)'
        : formats.find((f) => f.material.pfx === pfx[kind])?.name;
    const ours = kind === 'openssl' ? 'decode:openssl' : `decode:${name}`;
    const forgeName = `forge:${kind}`;
    const pkijsName = `pkijs:${kind}`;
    return `| ${name} | ${timed(ours)} | ${ns[forgeName] === undefined ? 'fails' : timed(forgeName)} | ${ns[pkijsName] === undefined ? 'fails (no 3DES/RC2 in WebCrypto)' : timed(pkijsName)} |`;
  });

const md = `## Decode and validate, per stored format

Command: \`npm run bench -- decode\` (builds the packages, then runs
\`node --expose-gc tests/bench/decode.bench.mjs\`). Every number below comes from one run of it.

RSA-2048 client certificate with one RSA-2048 intermediate (the EC P-256 and Ed25519 rows: a leaf of that
key type under the same intermediate). "Decode + validate" is \`validateCredentials(decodeMaterial(m))\`;
"loadCredentials" adds building the immutable credentials (version hash, PEM). Ratios are to a bare
\`tls.createSecureContext({ cert, key })\` of the same leaf's unencrypted PEM: **${fmtNs(ns['baseline:rsa'])}** here
(EC P-256 ${fmtNs(ns['baseline:ec'])}, Ed25519 ${fmtNs(ns['baseline:ed25519'])}). "Node itself" is
\`tls.createSecureContext\` given that format directly, where Node can read it (it cannot validate it, nor read
a legacy PKCS#12). Medians of ${ROUNDS} interleaved rounds of ${ROUND_MS} ms, with the fastest and slowest
round in small type.

| format | decode + validate | ratio | loadCredentials | Node itself |
|---|---|---|---|---|
${rows.join('\n')}

A large part of each RSA row is OpenSSL importing the key, and its structure matters: mtlskit hands
every key to \`createPrivateKey\` as DER, which takes ${timed('import:pkcs8-der')} for the PKCS#8 form of this
key and ${timed('import:pkcs1-der')} for its PKCS#1 form. A traditional \`Proc-Type\` key decrypts to PKCS#1,
which is why that row is the cheapest.

${firstLegacy === undefined ? '' : `The first legacy PKCS#12 of a process also loads node-forge's RC2/DES modules: ${firstLegacy.toFixed(1)} ms for that first decode.\n`}
PKCS#12 readers on the same files (full read: MAC check, safes, key bag):

| file | mtlskit (node:crypto + RC2/DES on demand) | node-forge \`pkcs12FromAsn1\` | pkijs (WebCrypto, async) |
|---|---|---|---|
${altRows.join('\n')}

${machine()}`;

if (!STDOUT_ONLY) writeSection('decode', md);
console.log(md);
