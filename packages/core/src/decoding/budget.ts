// What every decode run carries, whether or not it meets a password: the work budget for key
// derivations and the error they fail with. The derivations themselves (pbe.ts, pkcs12.ts) load only
// when material needs them (see on-demand.ts).
import { createHash } from 'node:crypto';
import { LIMITS } from './limits.js';

/** Why a password-based operation failed; mapped to an MtlsError code by the caller. */
export type PbeFailure = 'bad-decrypt' | 'unsupported' | 'limit' | 'malformed';

export class PbeError extends Error {
  override name = 'PbeError';
  constructor(
    readonly reason: PbeFailure,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Counts the work spent on one credential, so that many derivations cannot add up to a hang. One unit
 * is one SHA-1 iteration of the PKCS#12 KDF (the slowest per unit: ~0.6 µs); a PBKDF2-SHA-256 round
 * or an scrypt N·r·p step costs about as much, slower digests several units.
 *
 * Two bounds: `total` for the work that opens the credential, and `overall` for all work, counting
 * the derivations of passphrase candidates that turned out wrong (see {@link wasted}). A passphrase
 * given for a PKCS#12 exported without one is tried first, so its MAC check must not eat into what
 * opening the file with `''` needs.
 *
 * With a `memo`, derived keys are kept by their inputs: a decode run again on the same input (after
 * loading the legacy ciphers) reuses them instead of spending the work twice. The charge is the same.
 */
export class IterationBudget {
  /** Units charged to opening the credential. */
  #kept = 0;
  /** Units charged in all, wrong candidates included. */
  #spent = 0;
  readonly #total = LIMITS.maxTotalIterations;
  readonly #overall = LIMITS.maxTotalIterationsWithCandidates;
  readonly #memo: Map<string, Buffer> | undefined;

  constructor(memo?: Map<string, Buffer>) {
    this.#memo = memo;
  }

  /** Units still available to open the credential. */
  get remaining(): number {
    return Math.min(this.#total - this.#kept, this.#overall - this.#spent);
  }

  /**
   * Checks a derivation's iteration count (as the file states it, so the message matches what the
   * user can re-export with) against the per-derivation limit, then charges `work` units.
   */
  spend(iterations: number, what: string, work: number = iterations): void {
    if (!Number.isFinite(iterations) || iterations > LIMITS.maxIterations) {
      const n = Number.isFinite(iterations) ? iterations.toLocaleString('en') : 'more than 2^48';
      throw new PbeError(
        'limit',
        `${what} asks for ${n} iterations, above mtlskit's limit of ${LIMITS.maxIterations.toLocaleString('en')}`,
      );
    }
    if (iterations < 1) throw new PbeError('malformed', `${what} has an iteration count of ${iterations}`);
    this.charge(work);
  }

  /** Charges `work` units, or throws a `limit` PbeError (before the work) when they are not left. */
  charge(work: number): void {
    this.#kept += work;
    this.#spent += work;
    if (this.#kept > this.#total) {
      throw new PbeError(
        'limit',
        `its key derivations add up to more than ${this.#total.toLocaleString('en')} iterations' worth of work, mtlskit's limit for one credential`,
      );
    }
    if (this.#spent > this.#overall) {
      throw new PbeError(
        'limit',
        `its key derivations, with those of the passphrase candidates that did not open it, add up to more than ${this.#overall.toLocaleString('en')} iterations' worth of work, mtlskit's limit for one credential`,
      );
    }
  }

  /** A mark to pass to {@link wasted}: where the work of opening the credential stands. */
  mark(): number {
    return this.#kept;
  }

  /**
   * The work charged since `mark` went to a passphrase candidate that proved wrong: it leaves the
   * `total` of opening the credential and stays counted in the `overall` one.
   */
  wasted(mark: number): void {
    if (mark <= this.#kept) this.#kept = mark;
  }

  /** `derive()`, or its result from an earlier run with the same inputs (see the class comment). */
  derive(inputs: readonly (string | number | Uint8Array)[], derive: () => Buffer): Buffer {
    if (this.#memo === undefined) return derive();
    const h = createHash('sha256');
    for (const part of inputs) {
      const bytes = typeof part === 'number' ? Buffer.from(String(part)) : Buffer.from(part);
      const len = Buffer.alloc(4);
      len.writeUInt32BE(bytes.length);
      h.update(len).update(bytes);
    }
    const id = h.digest('base64');
    const known = this.#memo.get(id);
    if (known !== undefined) return Buffer.from(known);
    const out = derive();
    this.#memo.set(id, Buffer.from(out));
    return out;
  }
}
