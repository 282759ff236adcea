// The `mtlskit` command for the end-to-end tests: run in this process (`run` from @mtlskit/cli, adapters
// registered here apply) or as the built binary in a child process (as a user runs it, finding the
// adapters installed from its working directory). Every output is kept, to be checked for secrets.
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { run } from '@mtlskit/cli';
import { leakCheck } from '@mtlskit/testkit';
import { expect } from 'vitest';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** What JSON.parse returns: the tests read `--json` output field by field. */
type Json = ReturnType<typeof JSON.parse>;

export interface CliOptions {
  /** Added to an environment of PATH and NO_PROXY for loopback alone. */
  env?: Record<string, string>;
  cwd: string;
  /** Spawn `dist/bin.js` of @mtlskit/cli instead of calling `run`. Default false. */
  binary?: boolean;
}

export interface Cli {
  /** `mtlskit ARGS`: its exit code, standard output and standard error. */
  run(...args: string[]): Promise<CliResult>;
  /** `mtlskit ARGS --json`, which must exit 0 (the test fails with its standard error otherwise): its output. */
  json(...args: string[]): Promise<Json>;
  /** Every result so far, in order. */
  readonly outputs: CliResult[];
  /** Fails the test if any output so far carries one of `secrets`. */
  expectNoLeak(secrets: string[]): void;
}

export function mtlskitCli({ env = {}, cwd, binary = false }: CliOptions): Cli {
  const environment = { PATH: process.env.PATH, NO_PROXY: '127.0.0.1,localhost', ...env };
  const outputs: CliResult[] = [];
  const run = async (...args: string[]) => {
    const result = binary ? await spawnBin(args, environment, cwd) : await inProcess(args, environment, cwd);
    outputs.push(result);
    return result;
  };
  return {
    outputs,
    run,
    async json(...args) {
      const result = await run(...args, '--json');
      expect(result.code, result.stderr).toBe(0);
      return JSON.parse(result.stdout);
    },
    expectNoLeak(secrets) {
      const leaks = leakCheck(secrets);
      for (const [i, o] of outputs.entries()) leaks.checkText(o.stdout + o.stderr, `output ${i}`);
    },
  };
}

async function inProcess(
  args: string[],
  env: Record<string, string | undefined>,
  cwd: string,
): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await run(args, {
    out: (t) => {
      stdout += t;
    },
    err: (t) => {
      stderr += t;
    },
    progress: () => {},
    readStdin: async () => Buffer.alloc(0),
    env,
    cwd,
  });
  return { code, stdout, stderr };
}

/** Spawned without blocking this process: emulators in this process answer the child. */
function spawnBin(args: string[], env: Record<string, string | undefined>, cwd: string): Promise<CliResult> {
  const bin = join(
    dirname(createRequire(import.meta.url).resolve('@mtlskit/cli/package.json')),
    'dist',
    'bin.js',
  );
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { env, cwd, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}
