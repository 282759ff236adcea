// The aws-sm: scheme reached through core's registry alone: nothing in this file imports
// @mtlskit/aws, so the registry must import it on demand (its import registers the scheme). Once in
// this test process, and once in a plain Node.js process running the built packages as published.
// (packages/aws/src/index.test.ts covers the other way in: an explicit `import '@mtlskit/aws'`.)
// Both stay on loopback: this process records its connections, the child records its own with the
// testkit's tracker (preloaded) and exits non-zero if one left loopback.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { listSchemes, loadCredentials, sourceFromReference } from '@mtlskit/core';
import {
  type AwsSecretsManagerEmulator,
  type IssuedCert,
  startAwsSecretsManagerEmulator,
  TestCA,
  trackConnections,
} from '@mtlskit/testkit';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

const CREDENTIALS = { AWS_ACCESS_KEY_ID: 'AKIDREGISTRYTEST', AWS_SECRET_ACCESS_KEY: 'registry-test-secret' };
const packagesDir = fileURLToPath(new URL('../../packages', import.meta.url));

let alice: IssuedCert;
let emulator: AwsSecretsManagerEmulator;
let reference: string;

beforeAll(async () => {
  alice = await (await TestCA.create()).issueClient({ commonName: 'alice' });
  emulator = await startAwsSecretsManagerEmulator({ region: 'eu-west-1' });
  emulator.putSecret('prod/mtls', JSON.stringify({ cert: alice.certPem, key: alice.keyPem }));
  reference = `aws-sm://prod/mtls?region=eu-west-1&endpoint=${emulator.url}&maxAttempts=1`;
});
afterAll(async () => {
  vi.unstubAllEnvs();
  await emulator.close();
});

const awsScheme = () => listSchemes().find((s) => s.scheme === 'aws-sm');

describe('sourceFromReference("aws-sm://…") without importing @mtlskit/aws', () => {
  it('imports the package on demand, which registers the scheme, and the source reads the secret', async () => {
    expect(awsScheme()).toMatchObject({ packageName: '@mtlskit/aws', available: false });
    for (const [name, value] of Object.entries(CREDENTIALS)) vi.stubEnv(name, value);
    vi.stubEnv('AWS_CONFIG_FILE', '/nonexistent/mtlskit-aws-config');
    vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', '/nonexistent/mtlskit-aws-credentials');

    const net = trackConnections();
    try {
      const source = await sourceFromReference(reference);
      try {
        expect(awsScheme()?.available).toBe(true);
        expect((await loadCredentials(source)).fingerprint256).toBe(alice.fingerprint256);
      } finally {
        await source.close?.();
      }
      expect(net.connections.map((c) => c.port)).toContain(emulator.port);
      expect(net.offLoopback()).toEqual([]);
    } finally {
      net.stop();
    }
  });

  it('works the same in a Node.js application that depends on both packages (built dist)', async () => {
    const app = mkdtempSync(join(tmpdir(), 'mtlskit-aws-app-'));
    try {
      mkdirSync(join(app, 'node_modules', '@mtlskit'), { recursive: true });
      for (const name of ['core', 'aws']) {
        symlinkSync(join(packagesDir, name), join(app, 'node_modules', '@mtlskit', name), 'dir');
      }
      // Preloaded before the application: records the process's connections from its first one,
      // reports them on stderr at exit, and fails the process if one left loopback.
      const tracker = pathToFileURL(join(packagesDir, 'testkit', 'dist', 'emulators', 'network.js')).href;
      writeFileSync(
        join(app, 'loopback-only.mjs'),
        `import { trackConnections } from ${JSON.stringify(tracker)};
const net = trackConnections();
process.on('exit', () => {
  const away = net.offLoopback();
  process.stderr.write('connections ' + JSON.stringify({ ports: net.connections.map((c) => c.port), away }) + '\\n');
  if (away.length > 0) process.exitCode = 70;
});
`,
      );
      writeFileSync(
        join(app, 'main.mjs'),
        `import { listSchemes, loadCredentials, sourceFromReference } from '@mtlskit/core';
const before = listSchemes().find((s) => s.scheme === 'aws-sm').available;
const source = await sourceFromReference(process.env.MTLS_SOURCE);
const credentials = await loadCredentials(source);
await source.close();
console.log(JSON.stringify({ before, id: source.id, fingerprint256: credentials.fingerprint256 }));
`,
      );
      const run = promisify(execFile)(
        process.execPath,
        ['--import', './loopback-only.mjs', join(app, 'main.mjs')],
        {
          cwd: app,
          env: {
            ...process.env,
            ...CREDENTIALS,
            MTLS_SOURCE: reference,
            AWS_CONFIG_FILE: '/nonexistent/mtlskit-aws-config',
            AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/mtlskit-aws-credentials',
          },
        },
      );
      // A non-zero exit (a connection off loopback) rejects with the child's stderr in the message.
      const { stdout, stderr } = await run;
      const report = /^connections (.*)$/m.exec(stderr)?.[1];
      expect(report, `the child's connection report, in: ${stderr}`).toBeDefined();
      const seen = JSON.parse(report ?? '{}') as { ports: number[]; away: unknown[] };
      expect(seen.ports).toContain(emulator.port);
      expect(seen.away).toEqual([]);
      expect(JSON.parse(stdout)).toEqual({
        before: false,
        id: reference,
        fingerprint256: alice.fingerprint256,
      });
      expect(emulator.log.last()).toMatchObject({ operation: 'GetSecretValue', remoteAddress: '127.0.0.1' });
    } finally {
      rmSync(app, { recursive: true, force: true });
    }
  });
});
