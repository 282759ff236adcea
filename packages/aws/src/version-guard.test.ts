// The version guard as a table: each row is what AWS answered, in order (reads with their creation
// dates, loads the resolver kept, probes and what each must announce), and the baseline the source
// stands by at the end. Versions are named by their creation day: v1 is older than v2. The same
// rules run against the emulator, through the real SDK, in source.test.ts ("version() and rotation").
import { describe, expect, test } from 'vitest';
import { REMEMBERED_VERSIONS, VersionGuard } from './version-guard.js';

type Step =
  /** GetSecretValue returned `version`, created on day `day` (0: no CreatedDate). */
  | ['read', string, number]
  /** A load returned `version` (the resolver now holds it). */
  | ['load', string]
  /** A probe reported `version` and must announce `announced`. `firstSeen`: the probe's own read was its first sight. */
  | ['probe', string, string, { firstSeen?: boolean }?]
  /** Probe `id` starts (for overlapping probes). */
  | ['start', string]
  /** Probe `id`, started earlier, reported `version` and must announce `announced`. */
  | ['finish', string, string, string];

interface Row {
  name: string;
  steps: Step[];
  baseline: string;
}

const DAY = 86_400_000;
const read = (v: string, day = Number(v.slice(1))): Step => ['read', v, day];

const rows: Row[] = [
  {
    name: 'the first probe announces what it found and stands by it',
    steps: [['probe', 'v1', 'v1']],
    baseline: 'v1',
  },
  {
    name: 'the first load sets the baseline; a probe that reports it announces it',
    steps: [read('v1'), ['load', 'v1'], ['probe', 'v1', 'v1']],
    baseline: 'v1',
  },
  {
    name: 'a rotation (a version never read) is announced at once',
    steps: [read('v1'), ['load', 'v1'], ['probe', 'v2', 'v2']],
    baseline: 'v2',
  },
  {
    name: 'a newer version by creation date is announced at once',
    steps: [read('v1'), ['load', 'v1'], read('v2'), ['probe', 'v2', 'v2']],
    baseline: 'v2',
  },
  {
    name: 'a lagging replica reporting the replaced version gets the baseline, once and again',
    steps: [
      read('v1'),
      ['load', 'v1'],
      ['probe', 'v2', 'v2'],
      read('v2'),
      ['load', 'v2'],
      ['probe', 'v1', 'v2'],
      ['probe', 'v2', 'v2'],
      ['probe', 'v1', 'v2'],
    ],
    baseline: 'v2',
  },
  {
    name: "an operator's rollback (an older version, twice in a row) is accepted at the second probe",
    steps: [
      read('v1'),
      read('v2'),
      ['load', 'v2'],
      ['probe', 'v1', 'v2'],
      ['probe', 'v1', 'v1'],
      ['probe', 'v1', 'v1'],
    ],
    baseline: 'v1',
  },
  {
    name: 'a step back, then the baseline again: the held version starts over',
    steps: [
      read('v1'),
      read('v2'),
      ['load', 'v2'],
      ['probe', 'v1', 'v2'],
      ['probe', 'v2', 'v2'],
      ['probe', 'v1', 'v2'],
    ],
    baseline: 'v2',
  },
  {
    name: 'overlapping probes are one observation: the step back is accepted by a probe started after them',
    steps: [
      read('v1'),
      read('v2'),
      ['load', 'v2'],
      ['start', 'a'],
      ['start', 'b'],
      ['finish', 'a', 'v1', 'v2'],
      ['finish', 'b', 'v1', 'v2'],
      ['probe', 'v1', 'v1'],
    ],
    baseline: 'v1',
  },
  {
    name: 'a date the probe itself learnt (DescribeSecret denied) says nothing: the version is announced',
    steps: [read('v2'), ['load', 'v2'], read('v1'), ['probe', 'v1', 'v1', { firstSeen: true }]],
    baseline: 'v1',
  },
  {
    name: 'a version without a CreatedDate is not a step back',
    steps: [read('v2'), ['load', 'v2'], read('v1', 0), ['probe', 'v1', 'v1']],
    baseline: 'v1',
  },
  {
    name: 'a load that returned a newer version (refresh() after a rotation) moves the baseline',
    steps: [read('v1'), ['load', 'v1'], read('v2'), ['load', 'v2'], ['probe', 'v1', 'v2']],
    baseline: 'v2',
  },
  {
    name: 'a load that returned a step back holds it: the next probe reporting it accepts it',
    steps: [read('v1'), read('v2'), ['load', 'v2'], ['load', 'v1'], ['probe', 'v1', 'v1']],
    baseline: 'v1',
  },
  {
    name: 'a load that returned a step back, then a probe of the baseline: the baseline stays',
    steps: [
      read('v1'),
      read('v2'),
      ['load', 'v2'],
      ['load', 'v1'],
      ['probe', 'v2', 'v2'],
      ['probe', 'v1', 'v2'],
    ],
    baseline: 'v2',
  },
  {
    name: 'a load of a version of unknown date does not move the baseline: the next probe decides',
    steps: [read('v1'), ['load', 'v1'], ['load', 'v9'], ['probe', 'v1', 'v1']],
    baseline: 'v1',
  },
];

function play(steps: Step[]): VersionGuard {
  const guard = new VersionGuard();
  const started = new Map<string, number>();
  for (const [i, step] of steps.entries()) {
    const at = `step ${i + 1} (${step.join(' ')})`;
    switch (step[0]) {
      case 'read':
        guard.noteRead('s', step[1], step[2] * DAY);
        break;
      case 'load':
        guard.settle([{ key: 's', versionId: step[1] }]);
        break;
      case 'probe': {
        const start = guard.probeStarting('s');
        expect(guard.screen('s', step[1], start, step[3]?.firstSeen), at).toBe(step[2]);
        break;
      }
      case 'start':
        started.set(step[1], guard.probeStarting('s'));
        break;
      case 'finish':
        expect(guard.screen('s', step[2], started.get(step[1])!), at).toBe(step[3]);
        break;
    }
  }
  return guard;
}

describe('VersionGuard', () => {
  test.each(rows)('$name', ({ steps, baseline }) => {
    expect(play(steps).baseline('s')).toBe(baseline);
  });

  test('keeps each secret apart', () => {
    const guard = new VersionGuard<'cert' | 'key'>();
    guard.noteRead('cert', 'c1', DAY);
    guard.noteRead('cert', 'c2', 2 * DAY);
    guard.settle([
      { key: 'cert', versionId: 'c2' },
      { key: 'key', versionId: 'k1' },
    ]);
    expect(guard.screen('cert', 'c1', guard.probeStarting('cert'))).toBe('c2');
    expect(guard.screen('key', 'k2', guard.probeStarting('key'))).toBe('k2');
    expect(guard.knows('cert', 'c1')).toBe(true);
    expect(guard.knows('key', 'c1')).toBe(false);
  });

  test(`remembers the last ${REMEMBERED_VERSIONS} replaced versions: an older one is news again`, () => {
    const guard = new VersionGuard();
    const versions = Array.from({ length: REMEMBERED_VERSIONS + 2 }, (_, i) => `r${i}`);
    for (const v of versions) guard.screen('s', v, guard.probeStarting('s'));
    // The last one is the baseline; the REMEMBERED_VERSIONS before it are remembered as replaced.
    expect(guard.knows('s', versions.at(-2)!)).toBe(true);
    expect(guard.knows('s', versions[1]!)).toBe(true);
    expect(guard.knows('s', versions[0]!)).toBe(false);
    expect(guard.screen('s', versions[1]!, guard.probeStarting('s'))).toBe(versions.at(-1));
    expect(guard.screen('s', versions[0]!, guard.probeStarting('s'))).toBe(versions[0]);
  });
});
