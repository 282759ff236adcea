// The "Targets" section at the top of docs/benchmarks.md: every performance target of the design,
// each with the figure a benchmark measured in one run (its own section holds the command, the raw
// numbers and the machine), or the test that proves it when it is a yes/no property rather than a ratio.
//
// The rows are read from the sections the benchmarks wrote, never typed by hand: a table whose
// header has a `target` column contributes each row whose target cell says `(met)`, `(missed)` or
// `(**missed**)`; a cell written `…target within 10 %: met)` contributes its row too. So rerunning one
// benchmark and then this script (`npm run bench` does it last) keeps the summary true.
//
// Usage: node tests/bench/summary.mjs          rewrites the section
//        node tests/bench/summary.mjs --check  exits 1 if the section is not what the sections say
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const DOC = `${root}docs/benchmarks.md`;

/**
 * Targets proven by tests rather than measured as ratios: the test file and the title of the test
 * (checked to exist, so a renamed test fails this script instead of leaving a stale claim).
 */
const PROVEN = [
  {
    target: '1,000 concurrent cold resolves → exactly 1 source load',
    file: 'packages/core/src/resolver/resolver.test.ts',
    title: '1,000 concurrent cold calls share exactly one source load',
  },
  {
    target:
      'Rotation under load: 0 failed requests; every connection opened after rotation shows the new identity',
    file: 'tests/resolver/rotation.test.ts',
    title: 'under load from five kinds of client and four rotations: zero failed requests',
  },
  {
    target:
      'The same under injected source faults, many concurrent clients (also HTTP/2), long mode for minutes',
    file: 'tests/hardening/load.test.ts',
    title: 'concurrent clients (node:https, fetch, undici request, http2)',
  },
];

/** Splits a markdown table row into trimmed cells (no escaped pipes appear in these tables). */
function cells(line) {
  return line
    .trim()
    .replace(/^\||\|$/g, '')
    .split('|')
    .map((c) => c.trim());
}

/** The sections written by benchmarks: name → body. */
export function sections(doc) {
  const found = [];
  const re = /<!-- bench:([\w-]+) -->\n([\s\S]*?)<!-- \/bench:\1 -->/g;
  for (let m = re.exec(doc); m; m = re.exec(doc))
    if (m[1] !== 'summary') found.push({ name: m[1], body: m[2] });
  return found;
}

/** Every row of `body` that states a target and whether it was met. */
export function targetRows(name, body) {
  const lines = body.split('\n');
  const measured = /measured (\d{4}-\d\d-\d\dT\d\d:\d\dZ)/.exec(body)?.[1] ?? '?';
  const load = /load average(?: \(1 min\))? (\d+(?:\.\d+)?)/.exec(body)?.[1];
  const node = /Node (v\d+\.\d+\.\d+)/.exec(body)?.[1] ?? '?';
  const rows = [];
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].startsWith('|') || !lines[i + 1]?.startsWith('|---')) continue;
    const header = cells(lines[i]).map((h) => h.toLowerCase());
    const targetAt = header.indexOf('target');
    const ratioAt = header.indexOf('ratio');
    for (let j = i + 2; j < lines.length && lines[j].startsWith('|'); j++) {
      const row = cells(lines[j]);
      let target;
      let figure;
      if (targetAt >= 0 && /\((?:\*\*)?(met|missed)(?:\*\*)?\)/.test(row[targetAt] ?? '')) {
        target = row[targetAt];
        figure = ratioAt >= 0 ? row[ratioAt] : row[targetAt - 1];
      } else {
        const inline = row.find((c) => /target [^:]+: (met|missed)/.test(c));
        if (!inline) continue;
        const t = /target ([^:]+): (met|missed)/.exec(inline);
        target = `${t[1].trim()} (${t[2] === 'met' ? 'met' : '**missed**'})`;
        figure = inline.replace(/\s*\(.*$/, '') + ` ${/\(([^,]+),/.exec(inline)?.[1] ?? ''}`.trimEnd();
        figure = `${row[1]} → ${figure}`;
        row[0] = `${row[0]}, ${header.at(-1)}`;
      }
      const met = /\((?:\*\*)?met(?:\*\*)?\)/.test(target);
      // A table headed "per credential" names its rows "CPU time", "RSS growth": say per what.
      if (header[0].startsWith('per ')) row[0] = `${row[0]} ${header[0]}`;
      rows.push({
        section: name,
        measurement: row[0],
        figure,
        target: target.replace(/\s*\((?:\*\*)?(met|missed)(?:\*\*)?\)\s*$/, ''),
        met,
        when: `${node}, ${measured}${load ? `, load ${load}` : ''}`,
      });
    }
  }
  return rows;
}

/** A link to the section: its `## ` heading, as GitHub anchors it. */
function linkTo(name, body) {
  const title = /^## (.+)$/m.exec(body)?.[1] ?? name;
  const anchor = title
    .toLowerCase()
    .replace(/[^\w\- ]/g, '')
    .replace(/ /g, '-');
  return `[${title}](#${anchor})`;
}

/** The section's markdown. */
export function summary(doc) {
  const rows = sections(doc).flatMap(({ name, body }) =>
    targetRows(name, body).map((r) => ({ ...r, link: linkTo(name, body) })),
  );
  const out = [
    '## Targets',
    '',
    'Every performance target of the design, with the figure measured for it. Each figure is a ratio (or',
    'a share) measured within one run of one benchmark, its variants in alternating rounds; the linked',
    "section gives that run's command, raw numbers and machine. This table is generated from those",
    'sections by `node tests/bench/summary.mjs` (`npm run bench` runs it last; a test fails if it is stale).',
    '',
    '| target | measurement | figure | met | run |',
    '|---|---|---|---|---|',
  ];
  for (const r of rows)
    out.push(
      `| ${r.target} | ${r.measurement} (${r.link}) | ${r.figure} | ${r.met ? 'yes' : '**no**'} | ${r.when} |`,
    );
  out.push('', 'Proven by tests rather than measured (they run in `npm test`):', '');
  for (const p of PROVEN) {
    const text = readFileSync(`${root}${p.file}`, 'utf8');
    if (!text.includes(p.title)) throw new Error(`${p.file} has no test titled "${p.title}"`);
    out.push(`- ${p.target}: \`${p.file}\` ("${p.title}").`);
  }
  const missed = rows.filter((r) => !r.met).length;
  out.push('', `${rows.length - missed} of ${rows.length} measured targets met.`);
  return out.join('\n');
}

/** `doc` with its summary section replaced (or inserted after the page's introduction). */
export function withSummary(doc) {
  const block = `<!-- bench:summary -->\n${summary(doc)}\n<!-- /bench:summary -->`;
  const at = doc.indexOf('<!-- bench:summary -->');
  const close = '<!-- /bench:summary -->';
  if (at >= 0) return doc.slice(0, at) + block + doc.slice(doc.indexOf(close) + close.length);
  const first = doc.indexOf('<!-- bench:');
  return `${doc.slice(0, first)}${block}\n\n${doc.slice(first)}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const doc = readFileSync(DOC, 'utf8');
  const next = withSummary(doc);
  if (process.argv.includes('--check')) {
    if (next !== doc) {
      console.error('docs/benchmarks.md: the Targets section is stale; run node tests/bench/summary.mjs');
      process.exit(1);
    }
  } else writeFileSync(DOC, next);
}
