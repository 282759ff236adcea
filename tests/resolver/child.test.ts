// A resolver inside a child process, as published (the built dist): the script exits on its own
// without close(), and NODE_DEBUG=tls,https,http,net output never shows the key or its passphrase.
import { fileURLToPath } from 'node:url';
import { type IssuedCert, leakCheck, type MtlsTestServer, startMtlsServer, TestCA } from '@mtlskit/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('./fixtures/child.mjs', import.meta.url));
const passphrase = 'child-process-passphrase-4242';

let ca: TestCA;
let client: IssuedCert;
let encryptedKey: string;
let server: MtlsTestServer;

beforeAll(async () => {
  ca = await TestCA.create();
  client = await ca.issueClient({ keyType: 'rsa2048' });
  encryptedKey = client.encryptedPkcs8Pem(passphrase);
  // Idle connections stay open on the server's side for a minute: the child cannot be waiting for them.
  server = await startMtlsServer({ clientCa: ca, keepAliveTimeout: 60_000 });
});
afterAll(async () => {
  await server.close();
});

function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    CHILD_URL: server.url,
    MTLS_CERT: client.fullChainPem,
    MTLS_KEY: encryptedKey,
    MTLS_PASSPHRASE: passphrase,
    MTLS_CA: server.caPem,
    MTLS_SOURCE: '',
    NODE_DEBUG: '',
    ...extra,
  };
}

function lastJsonLine(stdout: string): Record<string, unknown> {
  const line = stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(line) as Record<string, unknown>;
}

describe('a resolver in a child process', () => {
  it('a script that never calls close() exits on its own once its requests are done', async () => {
    const checker = leakCheck([passphrase]);
    const started = performance.now();
    const { code, stdout, stderr } = await checker.runNode([script], { env: childEnv(), timeoutMs: 20_000 });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(lastJsonLine(stdout)).toEqual({
      viaAgent: 200,
      viaFetch: 200,
      viaGlobalFetch: 200,
      ready: true,
      fingerprint256: client.fingerprint256,
    });
    expect(performance.now() - started).toBeLessThan(15_000);
    expect(server.requests.filter((q) => q.path.startsWith('/child')).length).toBeGreaterThanOrEqual(3);
  });

  it('NODE_DEBUG=tls,https,http,net output of the agent and fetch contains neither the key nor its passphrase', async () => {
    const checker = leakCheck([passphrase, encryptedKey, client.keyPem, client.traditionalKeyPem()]);
    // runNode fails the test, naming the secret and the encoding, if any of them is in stdout or stderr.
    const { code, stdout, stderr } = await checker.runNode([script], {
      env: childEnv({ NODE_DEBUG: 'tls,https,http,net' }),
      timeoutMs: 20_000,
    });
    expect(code).toBe(0);
    expect(lastJsonLine(stdout)).toMatchObject({ viaAgent: 200, viaFetch: 200, viaGlobalFetch: 200 });
    // The debug output really was on, and really covered the agent's connection setup.
    expect(stderr).toMatch(/^HTTPS \d+: createConnection/m);
    expect(stderr).toMatch(/^TLS \d+: client/m);
    expect(stderr).toMatch(/^HTTP \d+: /m);
  });
});
