// CommonJS users load the ESM-only build through require(esm) (Node >= 20.19). This test runs the
// built dist, not the sources: it is the package as published.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const coreDir = fileURLToPath(new URL('../../packages/core', import.meta.url));
const fixture = fileURLToPath(new URL('../fixtures/require-core.cjs', import.meta.url));
const temp = mkdtempSync(join(tmpdir(), 'mtlskit-cjs-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

describe('@mtlskit/core from CommonJS (built dist)', () => {
  it('require() returns the same module as import, and MtlsError instanceof holds both ways', () => {
    const copy = join(temp, 'core-copy');
    cpSync(coreDir, copy, { recursive: true, filter: (src) => !src.includes('node_modules') });
    const out = execFileSync(process.execPath, [fixture, copy], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      encoding: 'utf8',
      env: { ...process.env, NODE_NO_WARNINGS: '1' },
    });
    const result = JSON.parse(out);
    expect(result).toMatchObject({
      requireType: 'object',
      sameClass: true,
      cjsErrorIsEsmInstance: true,
      esmErrorIsCjsInstance: true,
      code: 'KEY_MISMATCH',
      retryable: false,
      copyIsDistinctClass: true,
      copyErrorIsInstance: true,
    });
    expect(result.exports).toContain('MtlsError');
    expect(result.exports).toContain('ERROR_CODES');
  });
});
