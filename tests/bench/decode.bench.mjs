// Decode benchmark: what reading and validating one credential costs in each stored format, as a
// ratio to a bare tls.createSecureContext() of the same PEM (the least any client pays to use it).
// Also: what the alternatives for reading PKCS#12 cost on the same files (node-forge's full parser,
// pkijs), which is why core walks PKCS#12 itself on node:crypto. All in one run, variants interleaved.
import { X509Certificate } from 'node:crypto';
import { createRequire } from 'node:module';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { decodeMaterial, loadCredentials, validateCredentials } from '@mtlskit/core';
import { hasOpenssl, TestCA } from '@mtlskit/testkit';
import { fmtNs, machine, measure, writeSection } from './lib.mjs';

const ROUNDS = 7;
const ROUND_MS = 300;
const PASSPHRASE = 'benchmark passphrase';
const b64 = (data) => Buffer.from(data).toString('base64');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// The alternatives, resolved from the packages that depend on them.
const requireFromCore = createRequire(fileURLToPath(import.meta.resolve('@mtlskit/core')));
const requireFromTestkit = createRequire(fileURLToPath(import.meta.resolve('@mtlskit/testkit')));

const root = await TestCA.create({ keyType: 'rsa2048' });
const intermediate = await root.intermediate({ keyType: 'rsa2048' });
const leaf = await intermediate.issueClient({ keyType: 'rsa2048', validForSeconds: 365 * 86_400 });
const chainDer = Buffer.concat([leaf.certDer, new X509Certificate(leaf.chainPem).raw]);

const openssl = hasOpenssl();
const pfx = {
  modern: await leaf.pkcs12(PASSPHRASE),
  '3des': openssl ? await leaf.pkcs12(PASSPHRASE, { algorithm: '3des' }) : undefined,
  legacy: openssl ? await leaf.pkcs12(PASSPHRASE, { algorithm: 'legacy-rc2' }) : undefined,
  openssl: openssl ? await leaf.pkcs12(PASSPHRASE, { algorithm: 'openssl' }) : undefined,
};

/** Format name -> material, plus what Node itself would be given for this format when it can take it. */
const formats = [
  { name: 'PEM', material: { cert: leaf.fullChainPem, key: leaf.keyPem } },
  { name: 'Base64 PEM', material: { cert: b64(leaf.fullChainPem), key: b64(leaf.keyPem) } },
  { name: 'Base64 DER', material: { cert: b64(chainDer), key: b64(leaf.keyDer) } },
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

// Sanity: every format decodes to the same certificate before anything is timed.
const reference = await loadCredentials(formats[0].material);
for (const f of formats) {
  const c = await loadCredentials(f.material);
  if (c.version !== reference.version) throw new Error(`${f.name} decoded to another credential`);
}
// The first legacy decode loads node-forge's RC2/DES; time that once, outside the loop.
const firstLegacy = await (async () => {
  if (!pfx.legacy) return undefined;
  const started = performance.now();
  await loadCredentials({ pfx: pfx.legacy, passphrase: PASSPHRASE });
  return performance.now() - started;
})();

const baseline = () => tls.createSecureContext({ cert: leaf.fullChainPem, key: leaf.keyPem });
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
async function pkijsParse(file) {
  const pkijs = await import(requireFromTestkit.resolve('pkijs'));
  const { webcrypto } = await import('node:crypto');
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
const alternatives = {
  openssl: pfx.openssl && {
    forge: () => forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(pfx.openssl.toString('binary')), PASSPHRASE),
    pkijs: () => pkijsParse(pfx.openssl),
  },
  '3des': pfx['3des'] && {
    forge: () => forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(pfx['3des'].toString('binary')), PASSPHRASE),
    pkijs: () => pkijsParse(pfx['3des']),
  },
  legacy: pfx.legacy && {
    forge: () => forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(pfx.legacy.toString('binary')), PASSPHRASE),
    pkijs: () => pkijsParse(pfx.legacy),
  },
};
async function works(fn) {
  try {
    await fn();
    return true;
  } catch {
    return false;
  }
}

// Variants interleaved round by round, so drift on a shared machine hits them alike.
const variants = { baseline };
for (const f of formats) {
  variants[`decode:${f.name}`] = () => validateCredentials(decodeMaterial(f.material));
  variants[`load:${f.name}`] = () => loadCredentials(f.material);
  if (f.native && nativeOk(f.native)) variants[`native:${f.name}`] = () => tls.createSecureContext(f.native);
}
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
const ratio = (x) => (x === undefined ? '—' : `${(x / ns.baseline).toFixed(2)}×`);
const cell = (x) => (x === undefined ? 'refused' : `${fmtNs(x)} (${ratio(x)})`);

const rows = formats.map((f) => {
  const native = f.native ? cell(ns[`native:${f.name}`]) : 'n/a';
  return `| ${f.name} | ${fmtNs(ns[`decode:${f.name}`])} | **${ratio(ns[`decode:${f.name}`])}** | ${fmtNs(ns[`load:${f.name}`])} (${ratio(ns[`load:${f.name}`])}) | ${native} |`;
});
const altRows = Object.entries(alternatives)
  .filter(([, alt]) => alt)
  .map(([kind]) => {
    const name =
      kind === 'openssl'
        ? 'PKCS#12 modern, as `openssl pkcs12 -export` writes it (OpenSSL 3 defaults)'
        : formats.find((f) => f.material.pfx === pfx[kind])?.name;
    const ours = kind === 'openssl' ? ns['decode:openssl'] : ns[`decode:${name}`];
    const forgeNs = ns[`forge:${kind}`];
    const pkijsNs = ns[`pkijs:${kind}`];
    return `| ${name} | ${fmtNs(ours)} | ${forgeNs === undefined ? 'fails' : fmtNs(forgeNs)} | ${pkijsNs === undefined ? 'fails (no 3DES/RC2 in WebCrypto)' : fmtNs(pkijsNs)} |`;
  });

const md = `## Decode and validate, per stored format

Command: \`npm run bench -- decode\` (builds the packages, then runs
\`node --expose-gc tests/bench/decode.bench.mjs\`). Every number below comes from one run of it.

RSA-2048 client certificate with one intermediate. "Decode + validate" is \`validateCredentials(decodeMaterial(m))\`;
"loadCredentials" adds building the immutable credentials (version hash, PEM). Ratios are to a bare
\`tls.createSecureContext({ cert, key })\` of the same unencrypted PEM: **${fmtNs(ns.baseline)}** here. "Node itself" is
\`tls.createSecureContext\` given that format directly, where Node can read it (it cannot validate it, nor read
a legacy PKCS#12). Medians of ${ROUNDS} interleaved rounds of ${ROUND_MS} ms.

| format | decode + validate | ratio | loadCredentials | Node itself |
|---|---|---|---|---|
${rows.join('\n')}

${firstLegacy === undefined ? '' : `The first legacy PKCS#12 of a process also loads node-forge's RC2/DES modules: ${firstLegacy.toFixed(1)} ms for that first decode.\n`}
PKCS#12 readers on the same files (full read: MAC check, safes, key bag):

| file | mtlskit (node:crypto + RC2/DES on demand) | node-forge \`pkcs12FromAsn1\` | pkijs (WebCrypto, async) |
|---|---|---|---|
${altRows.join('\n')}

${machine()}`;

writeSection('decode', md);
console.log(md);
