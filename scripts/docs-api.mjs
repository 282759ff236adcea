#!/usr/bin/env node
// The API reference, generated from the TSDoc comments of every public package by typedoc: one page
// per entry point a user can import (each package.json `exports` subpath, mapped back to its
// src/*.ts), named as it is imported (`@mtlskit/core/adapter`). Output: build/api/ (git-ignored).
//
// typedoc's `packages` mode: each package is converted with its tsconfig.build.json (its src without
// tests; other @mtlskit packages resolve to their built dist/*.d.ts, so run `npm run build` first),
// its entry points inferred from package.json `exports`, then the projects are merged.
//
// It fails on any typedoc warning (a public signature naming a type that is not exported, a
// {@link} that points nowhere, a broken relative link…) except those listed in KNOWN below, each with
// its reason; a KNOWN entry that no longer occurs fails too, so the list only shrinks.
// Usage: node scripts/docs-api.mjs [--out DIR] [--check] (--check: convert and validate, write nothing).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import { Application, LogLevel, OptionDefaults, ReflectionKind } from 'typedoc';

const root = fileURLToPath(new URL('..', import.meta.url));
const argv = process.argv.slice(2);
const check = argv.includes('--check');
const out = argv.includes('--out') ? argv[argv.indexOf('--out') + 1] : join(root, 'build', 'api');

// Warnings that stand until the package that owns them changes; none is in code this script owns.
const KNOWN = [];

/** Every public package: { dir, name, specifiers } from its package.json. */
function publicPackages() {
  const found = [];
  for (const dir of readdirSync(join(root, 'packages')).sort()) {
    let manifest;
    try {
      manifest = JSON.parse(readFileSync(join(root, 'packages', dir, 'package.json'), 'utf8'));
    } catch {
      continue;
    }
    if (manifest.private) continue;
    const specifiers = Object.keys(manifest.exports ?? { '.': manifest.main })
      .filter((subpath) => !subpath.endsWith('.json'))
      .map((subpath) => (subpath === '.' ? manifest.name : `${manifest.name}/${subpath.slice(2)}`));
    found.push({ dir: join(root, 'packages', dir), name: manifest.name, specifiers });
  }
  return found;
}

const packages = publicPackages();
const app = await Application.bootstrapWithPlugins({
  name: 'mtlskit',
  entryPoints: packages.map((p) => p.dir),
  entryPointStrategy: 'packages',
  packageOptions: {
    tsconfig: 'tsconfig.build.json',
    excludePrivate: true,
    excludeInternal: true,
    disableGit: true,
    sourceLinkTemplate: 'https://github.com/mtlskit/mtlskit/blob/main/{path}#L{line}',
  },
  readme: join(root, 'README.md'),
  out,
  highlightLanguages: [...OptionDefaults.highlightLanguages, 'hcl', 'sh', 'ini'],
  validation: { notExported: true, invalidLink: true, rewrittenLink: true, notDocumented: false },
  logLevel: 'Warn',
});

const warnings = [];
const print = app.logger.log.bind(app.logger);
app.logger.log = (message, level) => {
  if (level === LogLevel.Warn) warnings.push(stripVTControlCharacters(message));
  else print(message, level);
};

const project = await app.convert();
if (!project) {
  console.error('docs:api: typedoc could not convert the packages (errors above).');
  process.exit(1);
}
app.validate(project);
// Each package is a module of the merged project; one with subpaths holds a module per entry point,
// which typedoc names by subpath ('' for the main one, 'scheme'): name them as they are imported.
const names = [];
for (const pkg of project.children ?? []) {
  const modules = (pkg.children ?? []).filter((c) => c.kindOf(ReflectionKind.Module));
  for (const m of modules) m.name = m.name === '' || m.name === '.' ? pkg.name : `${pkg.name}/${m.name}`;
  names.push(...(modules.length > 0 ? modules.map((m) => m.name) : [pkg.name]));
}
const missing = packages.flatMap((p) => p.specifiers).filter((s) => !names.includes(s));
if (!check) await app.generateDocs(project, out);

const unexpected = warnings.filter((w) => !KNOWN.some((k) => k.pattern.test(w)));
const gone = KNOWN.filter((k) => !warnings.some((w) => k.pattern.test(w)));
let failed = app.logger.hasErrors();
if (missing.length > 0) {
  failed = true;
  console.error(
    `docs:api: entry points without a module in the reference: ${missing.join(', ')} (modules: ${names.join(', ')})`,
  );
}
if (unexpected.length > 0) {
  failed = true;
  console.error(`docs:api: typedoc warnings:\n${unexpected.map((w) => `  ${w}`).join('\n')}`);
}
if (gone.length > 0) {
  failed = true;
  console.error(
    `docs:api: these known warnings no longer occur; remove them from KNOWN in scripts/docs-api.mjs:\n${gone
      .map((k) => `  ${k.pattern}`)
      .join('\n')}`,
  );
}
if (failed) process.exit(1);
console.log(
  `docs:api: ${names.length} entry points documented (${names.join(', ')})` +
    (check ? '; nothing written (--check)' : `, written to ${out}`) +
    `; ${warnings.length} known warning(s) owned by other packages (see KNOWN)`,
);
