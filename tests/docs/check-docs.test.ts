// The docs check (scripts/check-docs.mjs) on markdown written here: it reports a snippet that does
// not compile at the markdown line at fault, under both lib settings, and skips a `nocheck` block;
// it refuses a relative link in a package's README (dead on npm) and a link to a path that does not exist.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('../../scripts/check-docs.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'mtlskit-check-docs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function check(markdown: string, name = `doc-${Math.random().toString(36).slice(2)}.md`) {
  const file = join(dir, name);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, markdown);
  const run = spawnSync(process.execPath, [script, '--files', file], { encoding: 'utf8', timeout: 120_000 });
  return { status: run.status, out: `${run.stdout}${run.stderr}` };
}

// Each run compiles every snippet twice against the built packages: tens of seconds on a busy machine.
describe('scripts/check-docs.mjs', { timeout: 180_000 }, () => {
  it("reports the global fetch given dispatcher(): TS2769 with TypeScript's DOM lib, TS2322 with Node's", () => {
    const { status, out } = check(
      [
        '# Title',
        '',
        '```ts',
        "import { createTlsResolver } from '@mtlskit/core';",
        '',
        "const mtls = createTlsResolver({ source: 'env:' });",
        "await fetch('https://example.com', { dispatcher: mtls.dispatcher() });",
        '```',
        '',
      ].join('\n'),
    );
    expect(status).toBe(1);
    expect(out).toMatch(/with TypeScript defaults \(DOM lib\):\n\s+\S+\.md:7:\d+ TS2769/);
    expect(out).toMatch(/with Node only \(lib ES2023\):\n\s+\S+\.md:7:\d+ TS2322/);
  });

  it("passes the resolver's fetch and undici's, a placeholder from the page, and skips a nocheck fragment", () => {
    const { status, out } = check(
      [
        '```ts',
        "import { fetch } from 'undici';",
        '',
        "await mtls.fetch('https://example.com');",
        "await fetch('https://example.com', { dispatcher: mtls.dispatcher() });",
        '```',
        '',
        '```ts nocheck',
        'this is not TypeScript',
        '```',
        '',
        '```sh',
        'npm test',
        '```',
      ].join('\n'),
    );
    expect(out).toContain('Docs snippets: 1 compiled');
    expect(out).toContain('1 marked nocheck');
    expect(status).toBe(0);
  });

  it('reports an undefined name and a strict-mode error, not only import problems', () => {
    const { status, out } = check(
      ['```typescript', 'const n: number = notDefinedAnywhere;', 'function f(x) { return x; }', '```'].join(
        '\n',
      ),
    );
    expect(status).toBe(1);
    expect(out).toMatch(/\.md:2:\d+ TS2304: Cannot find name 'notDefinedAnywhere'/);
    expect(out).toMatch(/\.md:3:\d+ TS7006/);
  });

  it("refuses a package README's relative link and a repository link to a missing path", () => {
    const repo = 'https://github.com/mtlskit/mtlskit/tree/main';
    const { status, out } = check(
      [
        '# @mtlskit/demo',
        'See [the resolver](../../docs/resolver.md), [emulators](src/emulators/README.md),',
        `[a page that is not there](${repo}/docs/nowhere.md), [errors](${repo}/docs/resolver.md#errors),`,
        '[a section](#errors) and [npm](https://www.npmjs.com/package/@mtlskit/core).',
      ].join('\n'),
      'packages/demo/README.md',
    );
    expect(status).toBe(1);
    expect(out).toMatch(/README\.md:2: \.\.\/\.\.\/docs\/resolver\.md is relative: on npm it points nowhere/);
    expect(out).toMatch(/README\.md:2: src\/emulators\/README\.md is relative/);
    expect(out).toMatch(/README\.md:3: \S+nowhere\.md names docs\/nowhere\.md, which does not exist/);
    expect(out).not.toMatch(/resolver\.md#errors|#errors is|npmjs/);
  });
});
