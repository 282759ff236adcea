// The openssl CLI, for what Node cannot write or read itself: 3DES and legacy RC2-40 PKCS#12 files
// (WebCrypto has neither cipher) and independent cross-checks of what mtlskit or the testkit wrote.
// Tests that need it call `it.skipIf(!hasOpenssl())`; everything else in the testkit works without it.
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

// Cached per $MTLSKIT_OPENSSL value, so a test can point it at a missing binary and back.
const located = new Map<string, string | null>();

function candidates(explicit: string | undefined): string[] {
  // An explicit choice is the only candidate: setting it to a missing path simulates "no openssl".
  if (explicit) return [explicit];
  const fromPath = (process.env.PATH ?? '')
    .split(delimiter)
    .filter(Boolean)
    .map((dir) => join(dir, 'openssl'));
  return ['/usr/bin/openssl', ...fromPath];
}

/** Path of a working openssl CLI ($MTLSKIT_OPENSSL when set, else /usr/bin/openssl, then PATH), or undefined. */
export function opensslPath(): string | undefined {
  const explicit = process.env.MTLSKIT_OPENSSL ?? '';
  const cached = located.get(explicit);
  if (cached !== undefined) return cached ?? undefined;
  let found: string | null = null;
  for (const candidate of candidates(explicit)) {
    try {
      accessSync(candidate, constants.X_OK);
    } catch {
      continue;
    }
    if (spawnSync(candidate, ['version'], { stdio: 'ignore', timeout: 10_000 }).status === 0) {
      found = candidate;
      break;
    }
  }
  located.set(explicit, found);
  return found ?? undefined;
}

/** True when the openssl CLI is available (3DES / legacy PKCS#12 and openssl cross-checks need it). */
export function hasOpenssl(): boolean {
  return opensslPath() !== undefined;
}

/** Throws the error every openssl-backed helper gives when the CLI is missing. */
export function requireOpenssl(purpose: string): string {
  const path = opensslPath();
  if (path === undefined) {
    throw new Error(
      `the openssl CLI is needed to ${purpose}, but none was found (looked at ` +
        `${process.env.MTLSKIT_OPENSSL ? '$MTLSKIT_OPENSSL' : '/usr/bin/openssl and PATH'}): install OpenSSL ` +
        '(or set MTLSKIT_OPENSSL to its path), or guard the test with `it.skipIf(!hasOpenssl())`',
    );
  }
  return path;
}

export interface OpensslResult {
  stdout: string;
  stderr: string;
  code: number | null;
}

/**
 * Runs `openssl ARGS...`. Pass secrets through `env` and refer to them as `env:NAME` in the
 * arguments, so that they never appear on a command line.
 */
export function runOpenssl(
  args: string[],
  opts: { env?: Record<string, string>; input?: string | Uint8Array; cwd?: string; timeoutMs?: number } = {},
): Promise<OpensslResult> {
  const bin = requireOpenssl(`run \`openssl ${args[0] ?? ''}\``);
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: opts.timeoutMs ?? 30_000,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    // A command that does not read stdin may exit first: EPIPE on our side is not its failure.
    child.stdin.on('error', () => {});
    child.on('close', (code) =>
      resolve({
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        code,
      }),
    );
    child.stdin.end(opts.input);
  });
}
