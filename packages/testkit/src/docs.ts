// Checks that documentation shows a scheme's option table as its definition has it: each scheme's
// section (`### scheme`) of a Markdown page holds a `| option | type | default | meaning |` table.
import type { SchemeOptions } from '@mtlskit/core/adapter';

/** The table rows a scheme's options should have in the docs, in definition order. */
export function optionTableRows(options: SchemeOptions): string[] {
  return Object.entries(options).map(([name, o]) => {
    const type = o.type === 'enum' ? (o.values ?? []).map((v) => `\`${v}\``).join(' \\| ') : o.type;
    const dflt = o.default === undefined ? '' : `\`${o.default}\``;
    return `| \`${name}\` | ${type} | ${dflt} | ${o.description} |`;
  });
}

/** The option rows the `### scheme` section of a Markdown page shows (empty when it has no table). */
export function documentedOptionRows(markdown: string, scheme: string): string[] {
  const section = markdown.split(`\n### ${scheme}\n`)[1]?.split('\n### ')[0] ?? '';
  if (!section.includes('| option | type | default | meaning |')) return [];
  // Option names as defineScheme allows them (digits and `-` after the first character).
  return section.split('\n').filter((line) => /^\| `[A-Za-z_][A-Za-z0-9_-]*` \|/.test(line));
}

/**
 * The characters of `text` the caret line of an INVALID_REFERENCE message points at. Of a long
 * reference the message echoes a window (marked with "…"), which must be part of the text; throws
 * when it is not.
 */
export function pointedAt(err: Error, text: string): string {
  const lines = err.message.split('\n');
  const echo = (lines[1] ?? '').slice(2);
  const carets = lines[2] ?? '';
  const start = carets.indexOf('^') - 2;
  const length = carets.trim().length;
  if (!echo.includes('…')) return text.slice(start, start + length);
  const lead = echo.startsWith('…') ? 1 : 0;
  const window = echo.slice(lead).replace(/…$/, '');
  const from = text.indexOf(window);
  if (from < 0) throw new Error(`the echoed window ${JSON.stringify(window)} is not part of the text`);
  return text.slice(from + start - lead, from + start - lead + length);
}
