#!/usr/bin/env node
// What the docs show must compile. Extracts every ```ts block of README.md, docs/**/*.md and
// packages/*/README.md and type-checks each as an ES module with `strict`, against the built
// packages (their published dist/*.d.ts, resolved as a user's project resolves them) and the
// clients tests/ depends on (axios, got, undici). Two settings, because users run both: TypeScript's
// default libraries (DOM included: the global fetch is the DOM's) and a Node-only `lib` (the global
// fetch is @types/node's, typed with undici-types). A block whose info string says `nocheck`
// (```ts nocheck) is a fragment and is skipped: keep that rare. It also checks links (see linkProblems).
//
// Snippets may use, without defining them, the placeholders declared in GLOBALS below (an app's
// logger, its alerting, a resolver made earlier on the page): a snippet that defines one shadows it.
// Usage: node scripts/check-docs.mjs [--list] [--files A.md B.md] (only those). Run `npm run build` first.
// In turbo (//#check:docs) it depends on @mtlskit/tests#build, a task tests/ does not define: turbo
// still runs its ^build, which builds exactly the packages tests/package.json depends on — the ones a
// snippet can import — so a package added there is built first without naming it in turbo.json.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('..', import.meta.url));
// Virtual files live in tests/ so that imports resolve from tests/node_modules (every workspace
// package, axios, got, undici) as they would in an application; nothing is written to disk.
const snippetDir = join(root, 'tests', '.docs-snippets');

const GLOBALS = `import type { CredentialSource, TlsResolver } from '@mtlskit/core';
declare global {
  /** A resolver made earlier on the page. */
  const mtls: TlsResolver;
  /** A source made earlier on the page. */
  const source: CredentialSource;
  /** The application's logger. */
  const log: { info(fields: object, message: string): void; warn(fields: object, message: string): void };
  /** The application's alerting and retry hooks. */
  function alertOnCall(...details: (string | undefined)[]): void;
  function page(message: string): void;
  function scheduleRetry(): void;
}
export {};
`;

const SETTINGS = {
  'TypeScript defaults (DOM lib)': {},
  'Node only (lib ES2023)': { lib: ['lib.es2023.d.ts'] },
};

function markdownFiles() {
  const given = process.argv.indexOf('--files');
  if (given >= 0) return process.argv.slice(given + 1).map((f) => relative(root, resolve(f)));
  const files = ['README.md'];
  const walk = (dir) => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.md')) files.push(path);
    }
  };
  walk('docs');
  for (const pkg of readdirSync(join(root, 'packages'), { withFileTypes: true })) {
    if (!pkg.isDirectory()) continue;
    try {
      readFileSync(join(root, 'packages', pkg.name, 'README.md'));
      files.push(`packages/${pkg.name}/README.md`);
    } catch {
      // a package without a README has nothing to check
    }
  }
  return files;
}

/** The ```ts blocks of a markdown text: { line (1-based, of the first code line), code, skip }. */
function snippetsOf(markdown) {
  const lines = markdown.split(/\r?\n/);
  const blocks = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)(.*)$/.exec(lines[i] ?? '');
    if (!open) continue;
    const [, fence, lang, rest] = open;
    const end = lines.findIndex(
      (l, j) => j > i && new RegExp(`^ {0,3}${fence[0]}{${fence.length},}\\s*$`).test(l),
    );
    const stop = end < 0 ? lines.length : end;
    if (lang === 'ts' || lang === 'typescript') {
      blocks.push({
        line: i + 2,
        code: lines.slice(i + 1, stop).join('\n'),
        skip: /\bnocheck\b/.test(rest),
      });
    }
    i = stop;
  }
  return blocks;
}

function collect() {
  const snippets = [];
  for (const file of markdownFiles()) {
    for (const block of snippetsOf(readFileSync(join(root, file), 'utf8'))) {
      const name = join(snippetDir, `${file.replace(/[^A-Za-z0-9]+/g, '_')}_L${block.line}.ts`);
      snippets.push({ ...block, file, name });
    }
  }
  return snippets;
}

function check(snippets, extra) {
  const options = {
    strict: true,
    // tsyringe's decorators (legacy, as @mtlskit/tsyringe documents) must compile in its examples.
    experimentalDecorators: true,
    emitDecoratorMetadata: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: ['node'],
    skipLibCheck: true,
    noEmit: true,
    ...extra,
  };
  const virtual = new Map(snippets.map((s) => [s.name, `${s.code}\nexport {};\n`]));
  const globals = join(snippetDir, '__globals.d.ts');
  virtual.set(globals, GLOBALS);
  const host = ts.createCompilerHost(options);
  const { fileExists, readFile, getSourceFile } = host;
  host.getCurrentDirectory = () => root;
  host.fileExists = (f) => virtual.has(f) || fileExists.call(host, f);
  host.readFile = (f) => virtual.get(f) ?? readFile.call(host, f);
  host.getSourceFile = (f, language, ...rest) =>
    virtual.has(f)
      ? ts.createSourceFile(f, virtual.get(f), language, true)
      : getSourceFile.call(host, f, language, ...rest);
  const program = ts.createProgram([globals, ...snippets.map((s) => s.name)], options, host);
  const bySnippet = new Map(snippets.map((s) => [s.name, s]));
  const problems = [];
  for (const d of ts.getPreEmitDiagnostics(program)) {
    // The first lines say what is wrong; TypeScript's elaboration of two undici copies runs to 15.
    const text = ts.flattenDiagnosticMessageText(d.messageText, '\n  ').split('\n').slice(0, 6).join('\n');
    if (d.file === undefined || d.start === undefined) {
      problems.push(`TS${d.code}: ${text}`);
      continue;
    }
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
    const snippet = bySnippet.get(d.file.fileName);
    const where = snippet
      ? `${snippet.file}:${snippet.line + line}:${character + 1}`
      : `${relative(root, d.file.fileName)}:${line + 1}:${character + 1}`;
    problems.push(`${where} TS${d.code}: ${text}`);
  }
  return problems;
}

// A package's README is read on npm, where only its tarball exists: a relative link to anything
// outside it (../../docs/…, src/…) is dead there. Links to this repository must name a path that exists.
const REPOSITORY = 'https://github.com/mtlskit/mtlskit/tree/main/';

function linkProblems() {
  const problems = [];
  for (const file of markdownFiles()) {
    const packed = /(^|\/)packages\/[^/]+\/README\.md$/.test(file);
    const lines = readFileSync(join(root, file), 'utf8').split(/\r?\n/);
    lines.forEach((text, i) => {
      for (const [, target] of text.matchAll(/\]\(<?([^)\s>]+)>?(?:\s+"[^"]*")?\)/g)) {
        if (target.startsWith('#') || /^mailto:/.test(target)) continue;
        if (target.startsWith(REPOSITORY)) {
          const path = decodeURIComponent(target.slice(REPOSITORY.length).replace(/[#?].*$/, ''));
          if (!existsSync(join(root, path)))
            problems.push(`${file}:${i + 1}: ${target} names ${path}, which does not exist`);
        } else if (/^[a-z]+:/.test(target)) {
          // another site: not checked
        } else if (packed) {
          problems.push(
            `${file}:${i + 1}: ${target} is relative: on npm it points nowhere; link ${REPOSITORY}…`,
          );
        } else if (
          !existsSync(join(root, dirname(file), decodeURIComponent(target.replace(/[#?].*$/, ''))))
        ) {
          problems.push(`${file}:${i + 1}: ${target} does not exist`);
        }
      }
    });
  }
  return problems;
}

const all = collect();
const checked = all.filter((s) => !s.skip);
if (process.argv.includes('--list')) {
  for (const s of all) console.log(`${s.skip ? 'skip ' : 'check'} ${s.file}:${s.line}`);
}
let failed = false;
const links = linkProblems();
if (links.length > 0) {
  failed = true;
  console.error(`Links that do not work for a reader of the docs:\n${links.map((p) => `  ${p}`).join('\n')}`);
}
for (const [label, extra] of Object.entries(SETTINGS)) {
  const problems = check(checked, extra);
  if (problems.length === 0) continue;
  failed = true;
  console.error(
    `Docs snippets that do not compile with ${label}:\n${problems.map((p) => `  ${p}`).join('\n')}`,
  );
}
if (failed) {
  console.error(
    '\nFix the snippet, or mark a fragment ```ts nocheck. "Cannot find module \'@mtlskit/…\'": run npm run build first.',
  );
  process.exit(1);
}
const skipped = all.length - checked.length;
console.log(
  `Docs snippets: ${checked.length} compiled with ${Object.keys(SETTINGS).join(' and ')}` +
    (skipped > 0 ? `; ${skipped} marked nocheck` : ''),
);
