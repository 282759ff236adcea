// Test harness: runs `mtlskit` in-process with real files and an injected environment and stdin, or
// spawns the built binary as a user would; temporary directories are removed after each file.
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';
import type { CliIo } from '../io.js';
import { run } from '../main.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  stdin?: string | Uint8Array;
  cwd?: string;
}

/** `mtlskit ARGS` in this process, with only the given environment (no MTLS_* from the test runner). */
export async function cli(args: string[], opts: RunOptions = {}): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    out: (t) => {
      stdout += t;
    },
    err: (t) => {
      stderr += t;
    },
    progress: (t) => {
      stderr += `… ${t}\n`;
    },
    readStdin: async () => Buffer.from(opts.stdin ?? ''),
    env: { PATH: process.env.PATH, NO_PROXY: '127.0.0.1,localhost', ...opts.env },
    cwd: opts.cwd ?? process.cwd(),
  };
  const code = await run(args, io);
  return { code, stdout, stderr };
}

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** A fresh temporary directory, removed after the test file. */
export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mtlskit-cli-'));
  dirs.push(dir);
  return dir;
}

/** Writes files into a new temporary directory (keys with mode 0600) and returns its path. */
export async function withFiles(files: Record<string, string | Uint8Array>): Promise<string> {
  const dir = await tempDir();
  for (const [name, content] of Object.entries(files)) {
    await writeFile(join(dir, name), content, { mode: /key|p12|pfx/.test(name) ? 0o600 : 0o644 });
  }
  return dir;
}

export const packageDir = fileURLToPath(new URL('../..', import.meta.url));
export const binPath = join(packageDir, 'dist', 'bin.js');

let built = false;
/** Builds packages/cli (tsc) once per test run, so binary tests run what `npm i` would install. */
export function buildBinary(): string {
  if (built) return binPath;
  const tsc = createRequire(join(packageDir, 'package.json')).resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(packageDir, 'tsconfig.build.json')], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`building the CLI failed: ${r.stdout}${r.stderr}`);
  built = true;
  return binPath;
}
