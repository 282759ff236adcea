// @mtlskit/tsyringe as published (the built dist, not the sources), from an ES module and from
// CommonJS: tsyringe has no `exports` map and is CommonJS, so both the named ESM imports and
// require(esm) of this package must reach the one tsyringe the application uses. Each child process
// makes a real mTLS call through an injected resolver and disposes its container.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type IssuedCert, leakCheck, type MtlsTestServer, startMtlsServer, TestCA } from '@mtlskit/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const dist = fileURLToPath(new URL('../../packages/tsyringe/dist/index.js', import.meta.url));

let server: MtlsTestServer;
let client: IssuedCert;
let dir: string;

beforeAll(async () => {
  const ca = await TestCA.create();
  client = await ca.issueClient({ commonName: 'dist' });
  server = await startMtlsServer({ clientCa: ca });
  dir = mkdtempSync(join(tmpdir(), 'mtlskit-tsyringe-dist-'));
  writeFileSync(join(dir, 'tls.crt'), client.certPem);
  writeFileSync(join(dir, 'tls.key'), client.keyPem, { mode: 0o600 });
  writeFileSync(join(dir, 'ca.crt'), server.caPem);
});
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('@mtlskit/tsyringe, built', () => {
  it('is built (npm run build)', () => {
    expect(existsSync(dist), `${dist} is missing: run npm run build first`).toBe(true);
  });

  for (const file of ['tsyringe-app.mjs', 'tsyringe-app.cjs']) {
    it(`${file}: imports, injects, calls over mTLS and disposes`, async () => {
      const { stdout, stderr, code } = await leakCheck([client.keyPem]).runNode(
        [fixture(file), dir, server.url],
        {
          env: { NODE_NO_WARNINGS: '1' },
        },
      );
      expect(stderr).toBe('');
      expect(code).toBe(0);
      expect(JSON.parse(stdout)).toMatchObject({ seen: client.fingerprint256, closed: true, same: true });
    });
  }

  it('without a Reflect polyfill loaded first, importing fails with tsyringe’s own instruction', async () => {
    const { stderr, code } = await leakCheck([client.keyPem]).runNode([fixture('tsyringe-no-polyfill.mjs')]);
    expect(code).not.toBe(0);
    expect(stderr).toContain('tsyringe requires a reflect polyfill');
  });
});
