// The example of docs/getting-started.md ("4. Use it") runs, as written, in a fresh Node process:
// the block is taken from the page, its two placeholders (the ClientId and the API URL) are pointed
// at the testkit's real mTLS server, TypeScript's types are stripped, and it runs against the built
// packages with the credential in MTLS_CERT / MTLS_KEY / MTLS_CA, as the page tells a reader to store
// it. The server must then have seen every client of the example present that very certificate,
// the process must exit on its own, and its output must hold no key material. (check-docs compiles
// the same block; this proves it works.)
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { leakCheck, startMtlsServer, TestCA } from '@mtlskit/testkit';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const page = readFileSync(fileURLToPath(new URL('../../docs/getting-started.md', import.meta.url)), 'utf8');
const testsDir = fileURLToPath(new URL('..', import.meta.url));

/** The first ```ts block under the heading `heading`. */
function blockUnder(markdown: string, heading: string): string {
  const section = markdown.slice(markdown.indexOf(`\n${heading}\n`));
  const block = /```ts\n([\s\S]*?)\n```/.exec(section)?.[1];
  if (block === undefined) throw new Error(`no ts block under ${heading}`);
  return block;
}

describe('docs/getting-started.md', () => {
  it('"4. Use it" runs as written: every client presents the certificate to a real mTLS server', async () => {
    const clientId = 'getting-started';
    const ca = await TestCA.create();
    const issued = await ca.issueClient({
      keyType: 'rsa2048',
      subject: `CN=${clientId}.sandbox.mangopay.com, O=Mangopay, C=LU`,
      dnsNames: [`${clientId}.sandbox.mangopay.com`],
    });
    const server = await startMtlsServer({ clientCa: ca });
    try {
      const url = `${server.url}/v2.01/${clientId}/users`;
      let code = blockUnder(page, '## 4. Use it');
      const placeholders = [
        [/^const clientId = '[^']*';.*$/m, `const clientId = ${JSON.stringify(clientId)};`],
        [/^const url = '[^']*';.*$/m, `const url = ${JSON.stringify(url)};`],
      ] as const;
      for (const [pattern, value] of placeholders) {
        expect(code, `the example no longer has the placeholder ${pattern}`).toMatch(pattern);
        code = code.replace(pattern, value);
      }
      // The page fires https.get and got without awaiting them: a failure of either is an unhandled
      // error, which ends the child with a non-zero code and a stack on stderr.
      const js = ts.transpileModule(code, {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
      }).outputText;
      const b64 = (text: string) => Buffer.from(text).toString('base64');
      const env = {
        MTLS_SOURCE: 'env:',
        MTLS_CERT: b64(issued.fullChainPem),
        MTLS_KEY: b64(issued.keyPem),
        MTLS_CA: b64(server.caPem),
      };
      const leaks = leakCheck([issued.keyPem]);
      const run = await leaks.runNode(['--input-type=module', '-'], {
        cwd: testsDir,
        env,
        input: `${js}\nprocess.on('exit', () => console.log('example finished'));\n`,
        timeoutMs: 60_000,
      });
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('example finished');

      // mtls.fetch, https.get, got and undici's fetch each made one request (axios.create only builds
      // a client); every one presented the certificate stored in MTLS_CERT.
      const seen = server.requests.filter((r) => r.path === `/v2.01/${clientId}/users`);
      expect(seen).toHaveLength(4);
      for (const request of seen) expect(request.peerFingerprint256).toBe(issued.fingerprint256);
    } finally {
      await server.close();
    }
  });
});
