// Test helper: core's sources compiled to plain JavaScript in a world-readable directory, so a
// child Node process can run them — as an unprivileged user (root ignores file modes), or as a
// second copy of core loaded by a fake adapter package.
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { onTestFinished } from 'vitest';

const src = dirname(dirname(dirname(fileURLToPath(import.meta.url)))); // packages/core/src
let compiled: Promise<string> | undefined;

async function chmodTree(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) await chmodTree(join(dir, e.name));
    else if (!e.isSymbolicLink()) await chmod(join(dir, e.name), 0o644);
  }
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.isDirectory()) return e.name === '__tests__' ? [] : sources(join(dir, e.name));
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [join(dir, e.name)] : [];
  });
}

/** packages/core/src as an installable `@mtlskit/core` package of plain JavaScript (built once per test file). */
export function transpiledCore(): Promise<string> {
  compiled ??= (async () => {
    const out = await mkdtemp(join(tmpdir(), 'mtlskit-core-js-'));
    for (const file of sources(src)) {
      const js = ts.transpileModule(readFileSync(file, 'utf8'), {
        compilerOptions: {
          module: ts.ModuleKind.ESNext,
          target: ts.ScriptTarget.ES2022,
          verbatimModuleSyntax: true,
        },
      }).outputText;
      const target = join(out, file.slice(src.length)).replace(/\.ts$/, '.js');
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, js);
    }
    await writeFile(
      join(out, 'package.json'),
      JSON.stringify({
        name: '@mtlskit/core',
        type: 'module',
        exports: { '.': './index.js', './adapter': './adapter.js', './decode': './decode.js' },
      }),
    );
    // core's own dependencies (undici, node-forge), as an installed copy would find them.
    await symlink(join(src, '..', 'node_modules'), join(out, 'node_modules'));
    await chmodTree(out);
    return out;
  })();
  return compiled;
}

/** Removes the compiled copy (call from afterAll). */
export async function removeTranspiledCore(): Promise<void> {
  if (compiled) await rm(await compiled, { recursive: true, force: true });
  compiled = undefined;
}

/** Runs an ES module script as `nobody` and parses what it writes to stdout as JSON. */
export function runAsNobody<T = Record<string, unknown>>(script: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      uid: 65534,
      gid: 65534,
      cwd: tmpdir(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => {
      out += c;
    });
    child.stderr.on('data', (c) => {
      err += c;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`child exited ${code}: ${err}`));
      else resolve(JSON.parse(out));
    });
  });
}

/**
 * Why `nobody` cannot run a child here (Node's binary or core's dependencies out of its reach, e.g.
 * under a 0700 temp directory), or undefined when it can.
 */
export function nobodyCannotRun(mustRead: string): string | undefined {
  const probe = spawnSync(
    process.execPath,
    ['-e', 'require("node:fs").readdirSync(process.argv[1])', mustRead],
    {
      uid: 65534,
      gid: 65534,
      cwd: tmpdir(),
      encoding: 'utf8',
    },
  );
  if (probe.error) return `${process.execPath}: ${(probe.error as NodeJS.ErrnoException).code}`;
  if (probe.status !== 0) return `${mustRead} is not readable by nobody`;
  return undefined;
}

/**
 * Root reads any file whatever its mode, so a test of "unreadable" proves nothing as root. This
 * makes the whole process act as `nobody` (its effective user and group ids; the real ids stay
 * root, so it can switch back) until the returned function is called, or the current test ends,
 * whichever comes first: a load that hangs past the test's timeout must not leave the rest of the
 * file running as nobody. Returns a reason instead where that is not possible (not root, Windows,
 * a worker thread).
 */
export function actAsNobody(): (() => void) | { skip: string } {
  const { seteuid, setegid } = process;
  if (typeof seteuid !== 'function' || typeof setegid !== 'function') {
    return { skip: 'cannot change the effective user here (Windows, or a worker thread)' };
  }
  if (process.geteuid?.() !== 0) return { skip: 'not running as root' };
  try {
    setegid(65534);
    seteuid(65534);
  } catch (err) {
    try {
      setegid(0);
    } catch {}
    return { skip: `cannot act as nobody: ${(err as Error).message}` };
  }
  let restored = false;
  const restore = (): void => {
    if (restored) return;
    restored = true;
    seteuid(0);
    setegid(0);
  };
  try {
    // Runs when the test ends, even when it timed out while its own finally never ran.
    onTestFinished(restore);
  } catch (err) {
    restore(); // not inside a test: nothing would ever restore
    throw err;
  }
  return restore;
}
