// The Prometheus alert rules shipped in docs/alerts are valid and do what they say: promtool (Debian's
// `prometheus` package) checks the file and runs its unit tests (docs/alerts/mtlskit.rules.test.yml:
// expiry in under 30 and 7 days, expired, refreshes failing for 15 minutes, serving stale). Without
// promtool the tests are skipped, saying how to install it; CI installs it.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const alerts = fileURLToPath(new URL('../../docs/alerts/', import.meta.url));
const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' }).status === 0;
const MISSING =
  'promtool is not installed: apt-get install -y prometheus (Debian) to run the alert rule tests';

function run(...args: string[]): { status: number | null; output: string } {
  const result = spawnSync('promtool', args, { cwd: alerts, encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe('Prometheus alert rules (docs/alerts/mtlskit.rules.yml)', () => {
  it('pass promtool check rules', (ctx) => {
    if (!promtool) ctx.skip(MISSING);
    const { status, output } = run('check', 'rules', 'mtlskit.rules.yml');
    expect(output).toContain('SUCCESS: 5 rules found');
    expect(status).toBe(0);
  });

  it('pass their unit tests (promtool test rules)', (ctx) => {
    if (!promtool) ctx.skip(MISSING);
    const { status, output } = run('test', 'rules', 'mtlskit.rules.test.yml');
    expect(output).toContain('SUCCESS');
    expect(status).toBe(0);
  });
});
