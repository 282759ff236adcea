// Runs every tests/bench/*.bench.mjs in turn (each writes its section of docs/benchmarks.md).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('.', import.meta.url));
const only = process.argv.slice(2);
for (const file of readdirSync(dir)
  .filter((f) => f.endsWith('.bench.mjs'))
  .sort()) {
  if (only.length && !only.some((o) => file.includes(o))) continue;
  console.log(`\n== ${file}`);
  const r = spawnSync(process.execPath, ['--expose-gc', `${dir}${file}`], { stdio: 'inherit' });
  if (r.status !== 0) process.exitCode = 1;
}

// Last, the Targets table at the top of docs/benchmarks.md, from the sections just written.
const summary = spawnSync(process.execPath, [`${dir}summary.mjs`], { stdio: 'inherit' });
if (summary.status !== 0) process.exitCode = 1;
