#!/usr/bin/env node
// Brings a checkout to a runnable state with nothing but Node.js and npm: checks the Node version,
// installs dependencies with the pinned pnpm when the lockfile or a manifest changed, then builds
// every package. Each step is skipped when already done, so `npm run demo` and `npm test` can both
// call it, in either order.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const PNPM = 'pnpm@12.4.2';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 19)) {
  console.error(
    `mtlskit needs Node.js >= 20.19 (this is ${process.version}). Install a newer Node.js and retry.`,
  );
  process.exit(1);
}

// turbo runs each package's scripts through pnpm, so the workspace's own pnpm (a devDependency,
// installed by the first `npx pnpm install`) must be on PATH.
const bin = join(root, 'node_modules', '.bin');
const env = {
  ...process.env,
  PATH: `${bin}${delimiter}${process.env.PATH ?? ''}`,
  TURBO_TELEMETRY_DISABLED: '1',
  DO_NOT_TRACK: '1',
};

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    console.error(`\nsetup: \`${cmd} ${args.join(' ')}\` failed with exit code ${r.status}.`);
    process.exit(r.status ?? 1);
  }
}

function manifestsHash() {
  const h = createHash('sha256');
  h.update(process.versions.node.split('.')[0]);
  const files = ['package.json', 'pnpm-lock.yaml', 'pnpm-workspace.yaml', 'tests/package.json'];
  for (const dir of readdirSync(join(root, 'packages'))) files.push(`packages/${dir}/package.json`);
  for (const f of files) {
    const p = join(root, f);
    if (existsSync(p)) h.update(f).update(readFileSync(p));
  }
  return h.digest('hex');
}

const stamp = join(root, 'node_modules', '.mtlskit-setup');
const wanted = manifestsHash();
if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== wanted) {
  const frozen = existsSync(join(root, 'pnpm-lock.yaml')) ? ['--frozen-lockfile'] : [];
  console.log(`setup: installing dependencies with ${PNPM}`);
  run('npx', ['-y', PNPM, 'install', ...frozen]);
  writeFileSync(stamp, manifestsHash());
}

run(join(bin, 'turbo'), ['run', 'build', '--output-logs=errors-only']);
