// docs/errors.md describes exactly the codes of core's ERROR_CODES — no more, no fewer — each under
// its own `### \`CODE\`` heading with a "Retryable:" line that agrees with ERROR_CODES, and lists
// each once in its summary table with the same retryability.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES } from '@mtlskit/core';
import { describe, expect, it } from 'vitest';

const page = readFileSync(fileURLToPath(new URL('../../docs/errors.md', import.meta.url)), 'utf8');
const codes = Object.keys(ERROR_CODES).sort();

/** `### \`CODE\`` sections: code → the text up to the next heading. */
const sections = new Map(
  [...page.matchAll(/^### `([A-Z_]+)`\n([\s\S]*?)(?=^#{1,3} |(?![\s\S]))/gm)].map(
    ([, code = '', body = '']) => [code, body],
  ),
);
/** Summary table rows: | [`CODE`](#anchor) | yes/no | … |. */
const rows = [...page.matchAll(/^\| \[`([A-Z_]+)`\]\(#([a-z_]+)\) \| (yes|no) \|/gm)];

describe('docs/errors.md', () => {
  it('has a section for every code of ERROR_CODES, and for nothing else', () => {
    expect([...sections.keys()].sort()).toEqual(codes);
    expect([...page.matchAll(/^### `([A-Z_]+)`/gm)]).toHaveLength(codes.length); // none twice
  });

  it('lists every code once in its table, linking to its section', () => {
    expect(rows.map((r) => r[1]).sort()).toEqual(codes);
    for (const [, code = '', anchor] of rows) expect(anchor).toBe(code.toLowerCase());
  });

  it.each(codes)('%s: retryability as in ERROR_CODES, a meaning and a fix', (code) => {
    const { retryable } = ERROR_CODES[code as keyof typeof ERROR_CODES];
    const body = sections.get(code) ?? '';
    const stated = /^Retryable: \**(yes|no)\**/m.exec(body)?.[1];
    expect(stated, `${code} has no "Retryable:" line`).toBeDefined();
    expect(stated === 'yes').toBe(retryable);
    expect(rows.find((r) => r[1] === code)?.[3] === 'yes').toBe(retryable);
    expect(body).toMatch(/\*\*Means\.\*\* \S/);
    expect(body).toMatch(/\*\*Fix\.\*\* \S/);
  });
});
