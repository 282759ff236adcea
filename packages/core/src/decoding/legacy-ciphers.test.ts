// The legacy ciphers as published: the built ESM dist finds node-forge's RC2/DES relative to itself
// (createRequire(import.meta.url) in the synchronous decodeMaterial, import() in loadCredentials),
// from a process started anywhere, and loads them only when a file needs them. The dist runs in a
// child process, as a user's program would run it; in CI it is built before the tests (`npm test`).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasOpenssl, type IssuedCert, TestCA } from '@mtlskit/testkit';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

const DIST = fileURLToPath(new URL('../../dist/index.js', import.meta.url));
const PASSPHRASE = 'legacy dist passphrase';

// Reports whether node-forge was in the CommonJS module cache before and after one decode.
const CHILD = `
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { sep } from 'node:path';
import { pathToFileURL } from 'node:url';
const [dist, pfxPath, mode] = process.argv.slice(2);
const core = await import(pathToFileURL(dist).href);
const decoding = await import(pathToFileURL(dist.replace(/index.js$/, 'decode.js')).href);
const cache = createRequire(import.meta.url).cache;
const forgeLoaded = () => Object.keys(cache).some((k) => k.includes(sep + 'node-forge' + sep));
const before = forgeLoaded();
const material = { pfx: readFileSync(pfxPath), passphrase: process.env.PFX_PASSPHRASE };
const found = mode === 'sync' ? decoding.decodeMaterial(material) : await core.loadCredentials(material);
const leaf = found.leaf;
console.log(JSON.stringify({
  before,
  after: forgeLoaded(),
  fingerprint: leaf.fingerprint256,
  keyType: found.key.asymmetricKeyType,
  findings: found.findings.map((f) => f.code),
}));
`;

let dir: string;
let leaf: IssuedCert;
let pfxPath: string;

const runnable = existsSync(DIST) && hasOpenssl();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mtlskit-legacy-dist-'));
  if (!runnable) return;
  leaf = await (await TestCA.create()).issueClient({ keyType: 'ec-p256', validForSeconds: 90 * 86_400 });
  pfxPath = join(dir, 'legacy.p12');
  writeFileSync(pfxPath, await leaf.pkcs12(PASSPHRASE, { algorithm: 'legacy-rc2' }));
  writeFileSync(join(dir, 'child.mjs'), CHILD);
}, 60_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('legacy PKCS#12 from the built dist (needs `npm run build` and the openssl CLI)', () => {
  test.skipIf(!runnable).each([
    ['the synchronous decodeMaterial (createRequire)', 'sync'],
    ['loadCredentials (dynamic import)', 'async'],
  ])('%s reads an EC legacy file, loading node-forge only then', (_name, mode) => {
    // cwd is outside the repository: resolution must start from the dist file, not the working directory.
    const out = execFileSync(process.execPath, [join(dir, 'child.mjs'), DIST, pfxPath, mode], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, PFX_PASSPHRASE: PASSPHRASE, NODE_NO_WARNINGS: '1' },
    });
    expect(JSON.parse(out)).toEqual({
      before: false,
      after: true,
      fingerprint: leaf.fingerprint256,
      keyType: 'ec',
      findings: ['LEGACY_PKCS12'],
    });
  });
});
