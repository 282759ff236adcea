// Builds core's dist: type declarations from tsc (one .d.ts per source file, as before), and the
// JavaScript as one bundled ES module per entry point (`.`, `./adapter`, `./decode`) with the code
// they share in chunks, so that importing core reads a handful of files instead of about fifty (module
// loading was most of core's cold start: see docs/benchmarks.md, "Cold start"). The bundler is
// rolldown (a devDependency of core, the version vite ships).
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = fileURLToPath(new URL('..', import.meta.url));
const dist = join(pkg, 'dist');
rmSync(dist, { recursive: true, force: true });

const require = createRequire(import.meta.url);
const tsc = spawnSync(
  process.execPath,
  [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--emitDeclarationOnly'],
  { cwd: pkg, stdio: 'inherit' },
);
if (tsc.status !== 0) process.exit(tsc.status ?? 1);

const { rolldown } = await import('rolldown');

/**
 * `import { a, b as c } from "node:x"` becomes `const { a, b: c } = process.getBuiltinModule("node:x")`
 * in the bundle, one line for one line (the source map stays true). An ESM import of a builtin builds
 * its ES module facade, which reads every export: node:tls's `rootCertificates` getter then parses
 * Node's whole root store, node:crypto loads WebCrypto, node:util parseArgs and MIME, node:net
 * BlockList — about 15-25 ms of a cold start that core never uses. The sources keep plain imports
 * (tests mock node:fs through them).
 *
 * The builtins in ON_FIRST_CALL are not loaded at all until a function of theirs is called: each name
 * imported from one becomes a function that gets the module and calls it. `node:fs/promises` loads
 * the readline interface and the file watchers (2 ms of an `env:` start that reads no file);
 * `node:module` a source map parser. Only functions are imported from them (a name used otherwise
 * would need its module at once: the build stops rather than guess).
 */
const ON_FIRST_CALL = new Set(['node:fs/promises', 'node:module']);
const builtinsWithoutFacade = {
  name: 'mtlskit:builtins-without-facade',
  renderChunk(code) {
    const out = code.replace(
      /^import (?:([\w$]+)|\{([^}]*)\}|([\w$]+), \{([^}]*)\}) from "(node:[\w/]+)";$/gm,
      (_, only, names, first, more, id) => {
        const get = `process.getBuiltinModule(${JSON.stringify(id)})`;
        const destructure = (list) =>
          `{ ${list
            .split(',')
            .map((n) => n.trim().replace(/^([\w$]+) as ([\w$]+)$/, '$1: $2'))
            .filter(Boolean)
            .join(', ')} }`;
        if (ON_FIRST_CALL.has(id)) {
          if (!names) throw new Error(`build: ${id} is loaded on first call: import its functions by name`);
          return `const ${names
            .split(',')
            .map((n) => n.trim().split(/ as /))
            .filter(([n]) => n)
            .map(([n, local = n]) => `${local} = (...args) => ${get}.${n}(...args)`)
            .join(', ')};`;
        }
        if (only) return `const ${only} = ${get};`;
        if (names) return `const ${destructure(names)} = ${get};`;
        return `const ${first} = ${get}, ${destructure(more)} = ${first};`;
      },
    );
    const left = /^import .* from "node:.*$/m.exec(out);
    if (left) throw new Error(`build: an import of a builtin this build cannot rewrite: ${left[0]}`);
    return { code: out, map: null };
  },
};

const bundle = await rolldown({
  cwd: pkg,
  input: { index: 'src/index.ts', adapter: 'src/adapter.ts', decode: 'src/decode.ts' },
  platform: 'node',
  tsconfig: join(pkg, 'tsconfig.build.json'),
  // Dependencies stay packages of their own, loaded where core loads them (undici on the first
  // dispatcher, node-forge's RC2/DES on the first legacy PKCS#12, OpenTelemetry when in use).
  external: [/^node:/, /^undici(\/|$)/, /^node-forge(\/|$)/, /^@opentelemetry\//, /^@mtlskit\/core(\/|$)/],
  plugins: [builtinsWithoutFacade],
  // What includeDependenciesRecursively: false below requires; the entries export what their sources do.
  preserveEntrySignatures: 'allow-extension',
});
await bundle.write({
  dir: dist,
  format: 'esm',
  sourcemap: true,
  // The sources' doc comments are in the .d.ts files and behind the source map; the bundle V8 must
  // scan at every start goes without them (a sixth of its size).
  comments: false,
  // And without indentation or long local names (245 KB down to 170 KB): importing it costs 2–3.5 ms
  // less CPU, the first load 0.8 ms more — the short names gain, the whitespace alone does not (see
  // docs/benchmarks.md, "Cold start"). Functions and classes keep their names (error classes,
  // util.inspect, stack traces); not compressed, so the code is the code written, and the source map
  // leads back to it (`node --enable-source-maps`).
  minify: { compress: false, mangle: { keepNames: true }, codegen: { removeWhitespace: true } },
  entryFileNames: '[name].js',
  chunkFileNames: '[name].js',
  // Every module in one shared chunk, whichever entries use it: an entry point is then two files (its
  // own, re-exporting, and the chunk) whatever it imports, and entries share one copy of each module.
  // Except the readers of password-protected material (PKCS#12, encrypted keys: a sixth of the code),
  // in a chunk of their own: `@mtlskit/core/decode` imports it (its decodeMaterial is synchronous),
  // the main entry loads it on the first credential that needs it (src/decoding/on-demand.ts).
  codeSplitting: {
    // A group holds the modules it names, not their imports as well (rolldown's default).
    includeDependenciesRecursively: false,
    groups: [
      {
        name: 'encrypted',
        test: /[\\/]src[\\/]decoding[\\/](encrypted|pkcs12|pbe|iterated-hash|decode-material)\.ts$/,
        priority: 2,
      },
      { name: 'core', test: /[\\/]src[\\/]/, priority: 1 },
    ],
  },
});
await bundle.close();
