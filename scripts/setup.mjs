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

// Runs a step; on failure prints what failed and `hint` (what to do about it), then exits.
function run(cmd, args, hint) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env });
  if (r.error) {
    const fix =
      cmd === 'npx'
        ? 'npx comes with npm: install Node.js with npm, make sure `npx` is on PATH, and retry.'
        : 'The dependencies look incomplete: delete node_modules and run `npm run demo` or `npm test` again.';
    console.error(`\nsetup: could not start \`${cmd}\`: ${r.error.message}.\n${fix}`);
    process.exit(1);
  }
  if (r.status !== 0) {
    const how = r.status === null ? `was killed by ${r.signal}` : `failed with exit code ${r.status}`;
    console.error(`\nsetup: \`${cmd} ${args.join(' ')}\` ${how}.\n${hint}`);
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
  const install = ['-y', PNPM, 'install', ...frozen];
  run(
    'npx',
    install,
    [
      'Installing downloads the dependencies from the npm registry (and pnpm itself, through npx):',
      "  - check the network connection; behind a proxy or with a private registry, check npm's",
      '    settings: `npm config get registry`, `npm config get https-proxy` (or HTTPS_PROXY);',
      '  - if pnpm says the lockfile is out of date (ERR_PNPM_OUTDATED_LOCKFILE), a package.json',
      `    changed without pnpm-lock.yaml: run \`npx -y ${PNPM} install\` once to update it.`,
      `Then retry: \`npx ${install.join(' ')}\` in ${root}, or run \`npm run demo\` / \`npm test\` again.`,
    ].join('\n'),
  );
  writeFileSync(stamp, manifestsHash());
}

run(
  join(bin, 'turbo'),
  ['run', 'build', '--output-logs=errors-only'],
  'The build failed: the compiler errors are above. Fix them, then run `npm run build` (or `npm run demo` / `npm test`) again.',
);
