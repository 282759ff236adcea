// docs/benchmarks.md opens with a Targets table generated from the sections the benchmarks wrote
// (tests/bench/summary.mjs). It must match those sections: a benchmark rerun without the summary, or a
// hand edit of either, fails here. The parser is also checked on a made-up page.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without types
import { targetRows, withSummary } from '../bench/summary.mjs';

const doc = readFileSync(fileURLToPath(new URL('../../docs/benchmarks.md', import.meta.url)), 'utf8');

describe('docs/benchmarks.md Targets', () => {
  it('is what the benchmark sections say (run node tests/bench/summary.mjs after a benchmark)', () => {
    expect(withSummary(doc)).toBe(doc);
  });

  it('lists every design target measured as a ratio: keep-alive, cached call, rotations, cold start, per credential, HTTP/2, gRPC, Mangopay', () => {
    const table = doc.slice(doc.indexOf('<!-- bench:summary -->'), doc.indexOf('<!-- /bench:summary -->'));
    for (const section of ['Resolver', 'Cold start', 'Many credentials', 'HTTP/2', 'gRPC', 'Mangopay SDK'])
      expect(table, section).toContain(`[${section}](`);
  });

  it('reads met and missed targets, the figure and the run from a table with a target column', () => {
    const rows = targetRows(
      'x',
      [
        '## X',
        'Node v20.1.0, linux/x64, measured 2026-01-02T03:04Z, 2 CPUs, load average 1.5. More text.',
        '| measurement | a | b | ratio | target |',
        '|---|---|---|---|---|',
        '| one | 1 | 2 | 0.99× | ≥ 0.97× (met) |',
        '| two | 1 | 2 | 0.90× (0.8×) | ≥ 0.97× (**missed**) |',
        '| three | 1 | 2 | 1× | report |',
      ].join('\n'),
    );
    expect(rows).toEqual([
      {
        section: 'x',
        measurement: 'one',
        figure: '0.99×',
        target: '≥ 0.97×',
        met: true,
        when: 'v20.1.0, 2026-01-02T03:04Z, load 1.5',
      },
      {
        section: 'x',
        measurement: 'two',
        figure: '0.90× (0.8×)',
        target: '≥ 0.97×',
        met: false,
        when: 'v20.1.0, 2026-01-02T03:04Z, load 1.5',
      },
    ]);
  });
});
