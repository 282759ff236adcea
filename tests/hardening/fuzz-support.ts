// What the fuzz suites share: the case budget (short in `npm test`, long with MTLSKIT_LONG=1), fixed
// seeds that a failure prints for replay, the per-case time bound, and the figures each property
// reports (cases, the slowest case). A failure names the input's shape (its kind, field, length,
// mutations), never its bytes: inputs carry key material and passphrase markers.
import { inspect } from 'node:util';
import { ERROR_CODES, MtlsError } from '@mtlskit/core';
import type { LeakCheck } from '@mtlskit/testkit';
import fc from 'fast-check';

/** Long mode: `MTLSKIT_LONG=1 npx vitest run --project hardening`. */
export const LONG = process.env.MTLSKIT_LONG === '1';
/** Cases over both fuzz files: 10,000 in `npm test`, 100,000 in long mode (MTLSKIT_FUZZ_CASES overrides). */
export const TOTAL_CASES = Number(process.env.MTLSKIT_FUZZ_CASES ?? (LONG ? 100_000 : 10_000));
/** The base seed; each property runs with `SEED + its index`. Replay: `MTLSKIT_FUZZ_SEED=<seed>`. */
export const SEED = Number(process.env.MTLSKIT_FUZZ_SEED ?? 20_261_206);
/** A case slower than this (twice in a row: a shared CI machine pauses) fails. */
export const BOUND_MS = Number(process.env.MTLSKIT_FUZZ_BOUND_MS ?? 250);

/** What a property run measured. */
export interface Figures {
  name: string;
  cases: number;
  maxMs: number;
  /** The shape of the slowest case. */
  slowest: string;
  /** Cases that ended in an MtlsError (the rest succeeded). */
  errors: number;
  /** Cases held to a larger bound than BOUND_MS (see `classify` in {@link PropertyOptions}), by group. */
  other: Map<string, { cases: number; maxMs: number; boundMs: number }>;
  codes: Map<string, number>;
}

export const figures: Figures[] = [];

/** One case: the input (whatever the property takes) and its printable shape. */
export interface Case<T> {
  input: T;
  shape: string;
}

export interface PropertyOptions<T> {
  name: string;
  /** Index of the property in its file: its seed is SEED + offset + index. */
  seedOffset: number;
  cases: number;
  arbitrary: fc.Arbitrary<Case<T>>;
  /** Runs the code under test; resolves to what it returned, rejects with what it threw. */
  run: (input: T) => unknown;
  /** Checks every error (and, when given, success values) for secrets. */
  leaks: LeakCheck;
  /** Also scan what a successful run returned (e.g. MtlsCredentials' inspect and JSON). */
  scanSuccess?: boolean;
  /**
   * For an input whose cost LIMITS allow to exceed BOUND_MS (a 1 MiB field, key derivations of up
   * to a million iterations): the group it is counted in and the bound it is held to instead.
   */
  classify?: (input: T) => { group: string; boundMs: number } | undefined;
}

const NONE = Symbol('none');

async function timed<T>(run: (input: T) => unknown, input: T): Promise<{ ms: number; outcome: unknown }> {
  const started = performance.now();
  let outcome: unknown = NONE;
  try {
    const result = run(input);
    outcome = result instanceof Promise ? await result.then(() => NONE) : NONE;
  } catch (err) {
    outcome = err;
  }
  return { ms: performance.now() - started, outcome };
}

function describeThrown(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message.split('\n')[0]?.slice(0, 200)}`;
  return `${typeof err} ${inspect(err).slice(0, 80)}`;
}

/**
 * Runs one property over `cases` cases with a fixed seed: every case ends in success or an
 * MtlsError with a known code, within the bound, and no error (message, cause chain, stack,
 * inspect, JSON) shows a secret. A failure reports the seed, the fast-check path, and the shape.
 */
export async function runProperty<T>(opts: PropertyOptions<T>): Promise<Figures> {
  const seed = SEED + opts.seedOffset;
  const stats: Figures = {
    name: opts.name,
    cases: 0,
    maxMs: 0,
    slowest: '',
    errors: 0,
    other: new Map(),
    codes: new Map(),
  };
  const property = fc.asyncProperty(opts.arbitrary, async ({ input, shape }) => {
    let { ms, outcome } = await timed(opts.run, input);
    const group = opts.classify?.(input);
    const bound = group?.boundMs ?? BOUND_MS;
    if (ms > bound) {
      // Once more before failing: a GC pause or a busy neighbour on a 2-CPU machine is not a hang.
      ({ ms, outcome } = await timed(opts.run, input));
      if (ms > bound) throw new Error(`took ${ms.toFixed(0)} ms twice, above the ${bound} ms bound`);
    }
    stats.cases++;
    if (group !== undefined) {
      const g = stats.other.get(group.group) ?? { cases: 0, maxMs: 0, boundMs: group.boundMs };
      g.cases++;
      g.maxMs = Math.max(g.maxMs, ms);
      g.boundMs = Math.max(g.boundMs, group.boundMs);
      stats.other.set(group.group, g);
    } else if (ms > stats.maxMs) {
      stats.maxMs = ms;
      stats.slowest = shape;
    }
    if (outcome === NONE) {
      if (opts.scanSuccess) {
        const value = await opts.run(input);
        opts.leaks.check(value, `what ${opts.name} returned`);
      }
      return;
    }
    if (!(outcome instanceof MtlsError))
      throw new Error(`threw ${describeThrown(outcome)}, not an MtlsError`);
    if (!Object.hasOwn(ERROR_CODES, outcome.code))
      throw new Error(`an MtlsError with unknown code ${outcome.code}`);
    stats.errors++;
    stats.codes.set(outcome.code, (stats.codes.get(outcome.code) ?? 0) + 1);
    opts.leaks.check(outcome, `the ${outcome.code} error`);
    // The stack is not an own data property everywhere (V8 installs an accessor): scanned as text.
    if (typeof outcome.stack === 'string')
      opts.leaks.checkText(outcome.stack, `the ${outcome.code} error's stack`);
  });
  const details = await fc.check(property, {
    seed,
    numRuns: opts.cases,
    // The counterexample holds key material: it is named by its shape below, not printed.
    verbose: 0,
    ...(process.env.MTLSKIT_FUZZ_PATH ? { path: process.env.MTLSKIT_FUZZ_PATH } : {}),
  });
  if (details.failed) {
    const example = details.counterexample?.[0] as Case<T> | undefined;
    const cause =
      details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
    throw new Error(
      `${opts.name}: a case failed after ${details.numRuns} runs (${details.numShrinks} shrinks): ${cause}\n` +
        `  input shape: ${example?.shape ?? 'unknown'}\n` +
        // Locally, to see the input itself (its secrets are this suite's markers and test keys).
        (process.env.MTLSKIT_FUZZ_SHOW === '1'
          ? `  input: ${inspect(example?.input, { depth: 4 }).slice(0, 4000)}\n`
          : '') +
        `  replay: MTLSKIT_FUZZ_SEED=${SEED} MTLSKIT_FUZZ_PATH=${details.counterexamplePath} npx vitest run --project hardening -t ${JSON.stringify(opts.name)}`,
    );
  }
  figures.push(stats);
  return stats;
}

/** The figures of this file, as lines for the log (read into docs/reliability.md). */
export function report(file: string): string {
  const lines = figures.map((f) => {
    const codes = [...f.codes].sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`);
    const heavy = [...f.other]
      .map(([g, o]) => `; ${o.cases} ${g} (bound ${o.boundMs} ms), max ${o.maxMs.toFixed(1)} ms`)
      .join('');
    return `  ${f.name}: ${f.cases} cases, ${f.errors} MtlsError (${codes.join(', ')}), max ${f.maxMs.toFixed(1)} ms per case (${f.slowest})${heavy}`;
  });
  const total = figures.reduce((n, f) => n + f.cases, 0);
  const max = Math.max(...figures.map((f) => f.maxMs));
  return `${file}: ${total} cases (seed ${SEED}, bound ${BOUND_MS} ms), max ${max.toFixed(1)} ms per case\n${lines.join('\n')}`;
}

/** A Buffer's or string's shape: kind and length. */
export function sizeOf(value: unknown): string {
  if (typeof value === 'string') return `text(${value.length})`;
  if (value instanceof Uint8Array) return `bytes(${value.byteLength})`;
  if (Array.isArray(value)) return `array[${value.map(sizeOf).join(',')}]`;
  return typeof value;
}
