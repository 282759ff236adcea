// The Google client is slow to import (docs/benchmarks.md): @mtlskit/gcp must load it on the first
// call to Secret Manager, not when the package is imported or a source is configured. Run on the
// built dist in a fresh process, where the CommonJS module cache tells what was loaded.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startGcpSecretManagerEmulator } from '@mtlskit/testkit';
import { describe, expect, it } from 'vitest';

const dist = fileURLToPath(new URL('../../packages/gcp/dist/index.js', import.meta.url));

const CHILD = `
import { createRequire } from 'node:module';
const require = createRequire(process.env.GCP_DIST);
const loaded = () => Object.keys(require.cache).filter((k) => /google-gax|@google-cloud/.test(k)).length;
const { gcpSecretManagerSource } = await import(process.env.GCP_DIST);
const afterImport = loaded();
// A getter: the source reads client options when it builds the client, after importing it.
const gax = () => require(require.resolve('google-gax', { paths: [require.resolve('@google-cloud/secret-manager')] }));
const source = gcpSecretManagerSource({
  name: 'projects/mtlskit-test/secrets/lazy',
  transport: 'rest',
  clientOptions: {
    apiEndpoint: '127.0.0.1', port: Number(process.env.PORT), protocol: 'http', universeDomain: 'googleapis.com',
    get authClient() { return new (gax().googleAuthLibrary.PassThroughClient)(); },
  },
});
const afterConfigure = loaded();
const material = await source.load();
const afterLoad = loaded();
await source.close();
console.log(JSON.stringify({ afterImport, afterConfigure, afterLoad, version: material.version }));
`;

describe('@mtlskit/gcp (built dist)', () => {
  it('imports the Google client on the first call, not on import or configuration', async () => {
    const emulator = await startGcpSecretManagerEmulator();
    try {
      emulator.putSecret('lazy', 'payload');
      // Asynchronous, so this process's emulator can answer the child.
      const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', CHILD], {
        encoding: 'utf8',
        env: { ...process.env, GCP_DIST: dist, PORT: String(emulator.port), NODE_NO_WARNINGS: '1' },
      });
      const result = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}');
      expect(result).toMatchObject({ afterImport: 0, afterConfigure: 0, version: '1' });
      expect(result.afterLoad).toBeGreaterThan(10);
    } finally {
      await emulator.close();
    }
  });
});
