// The built package as a fresh process imports it (packages/core/dist, as `npm run build` makes it):
// what importing core costs at a cold start is mostly what it loads, so the build's promises are
// checked here — one bundle per entry point, nothing loaded that the first request does not need.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const dist = fileURLToPath(new URL('../dist/', import.meta.url));

/** Runs `body` in a fresh `node` after an ESM loader hook that prints every file it loads from dist. */
function probe(body: string): { files: string[]; result: Record<string, unknown> } {
  if (!existsSync(`${dist}index.js`))
    throw new Error('packages/core/dist is missing: run `npm run build` first');
  const hook = `import { writeSync } from 'node:fs';
    export async function load(url, context, next) {
      if (url.startsWith(${JSON.stringify(`file://${dist}`)})) writeSync(1, 'LOADED ' + url.slice(${`file://${dist}`.length}) + '\\n');
      return next(url, context);
    }`;
  const script = `
    import { register, createRequire } from 'node:module';
    register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hook)}));
    ${body}
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: dist,
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  expect(r.stderr).toBe('');
  const lines = r.stdout.trim().split('\n');
  return {
    files: lines.filter((l) => l.startsWith('LOADED ')).map((l) => l.slice(7)),
    result: JSON.parse(lines.filter((l) => !l.startsWith('LOADED ')).at(-1) ?? '{}'),
  };
}

/** What the probe reports after its body: builtins and packages loaded. */
const report = `
  const required = Object.keys(createRequire(import.meta.url).cache);
  console.log(JSON.stringify({
    http2: process.moduleLoadList.includes('NativeModule http2'),
    undici: required.some((k) => k.includes('undici')),
    otel: required.some((k) => k.includes('@opentelemetry')),
    forge: required.some((k) => k.includes('node-forge')),
  }));
`;

describe('the built @mtlskit/core in a fresh process', () => {
  it('importing it reads its entry file and one bundle, and loads no http2, undici, node-forge or OpenTelemetry', () => {
    const { files, result } = probe(`await import(${JSON.stringify(`${dist}index.js`)});${report}`);
    expect(files).toEqual(['index.js', 'core.js']);
    expect(result).toEqual({ http2: false, undici: false, otel: false, forge: false });
  });

  it('the three entry points share the one bundle: an adapter and an application see the same classes', () => {
    const { files, result } = probe(`
      const index = await import(${JSON.stringify(`${dist}index.js`)});
      const adapter = await import(${JSON.stringify(`${dist}adapter.js`)});
      const decode = await import(${JSON.stringify(`${dist}decode.js`)});
      console.log(JSON.stringify({
        sameError: index.MtlsError === adapter.MtlsError,
        sameFormat: index.formatReference === adapter.formatReference,
        decodes: typeof decode.decodeMaterial,
      }));
    `);
    // decode.js imports the readers of password-protected material (its decodeMaterial is synchronous).
    expect(files.sort()).toEqual(['adapter.js', 'core.js', 'decode.js', 'encrypted.js', 'index.js']);
    expect(result).toEqual({ sameError: true, sameFormat: true, decodes: 'function' });
  });

  it('a resolver loads a credential from the environment with nothing of OpenTelemetry or http2 loaded', async () => {
    const { TestCA } = await import('@mtlskit/testkit');
    const ca = await TestCA.create();
    const client = await ca.issueClient({ keyType: 'rsa2048' });
    const { files, result } = probe(`
      process.env.MTLS_CERT = ${JSON.stringify(Buffer.from(client.fullChainPem).toString('base64'))};
      process.env.MTLS_KEY = ${JSON.stringify(Buffer.from(client.keyPem).toString('base64'))};
      const { createTlsResolver, envSource } = await import(${JSON.stringify(`${dist}index.js`)});
      const resolver = createTlsResolver({ source: envSource() });
      const credentials = await resolver.credentials();
      resolver.agent();
      await resolver.close();
      if (credentials.fingerprint256 !== ${JSON.stringify(client.fingerprint256)}) throw new Error('not the credential');
      ${report}
    `);
    expect(result).toEqual({ http2: false, undici: false, otel: false, forge: false });
    expect(files).toEqual(['index.js', 'core.js']);
  });

  it('a PKCS#12 loads the readers of password-protected material on its first load; decodeMaterial has them at once', async () => {
    const { TestCA } = await import('@mtlskit/testkit');
    const ca = await TestCA.create();
    const client = await ca.issueClient({ keyType: 'ec-p256' });
    const pfx = (await client.pkcs12('s3cret')).toString('base64');
    const { files, result } = probe(`
      const { loadCredentials } = await import(${JSON.stringify(`${dist}index.js`)});
      console.log('LOADED after import');
      const material = { pfx: Buffer.from(${JSON.stringify(pfx)}, 'base64'), passphrase: 's3cret' };
      const loaded = await loadCredentials(material);
      const { decodeMaterial } = await import(${JSON.stringify(`${dist}decode.js`)});
      const decoded = decodeMaterial(material);
      console.log(JSON.stringify({
        loaded: loaded.fingerprint256 === ${JSON.stringify(client.fingerprint256)},
        decoded: decoded.leaf.fingerprint256 === ${JSON.stringify(client.fingerprint256)},
      }));
    `);
    expect(files).toEqual(['index.js', 'core.js', 'after import', 'encrypted.js', 'decode.js']);
    expect(result).toEqual({ loaded: true, decoded: true });
  });
});
