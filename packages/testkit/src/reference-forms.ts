// The table tests of a reference grammar: each valid form parses to what the source is built from,
// and each malformed form is rejected with INVALID_REFERENCE, the message that says what is wrong,
// and a caret line under the part at fault. Every adapter's scheme tests register these blocks.
import { MtlsError, type ParsedReference } from '@mtlskit/core';
import { expect, it } from 'vitest';
import { pointedAt } from './docs.js';

/** A reference, and what its parse must match. */
export type ValidReferenceForm = readonly [text: string, expected: Partial<ParsedReference>];
/** A malformed reference, its message, and the characters its caret line points at ('' for none checked). */
export type InvalidReferenceForm = readonly [text: string, message: RegExp, pointed: string];

export interface ReferenceFormOptions {
  /** Parses one reference (e.g. `(text) => parseReference(text, myScheme)`). */
  parse: (text: string) => ParsedReference;
  valid: readonly ValidReferenceForm[];
  invalid: readonly InvalidReferenceForm[];
  /** Text no rejection may echo: a secret written in the reference of an invalid form. */
  neverEchoed?: string;
}

/**
 * Registers two table tests: each valid form parses to a frozen reference matching its expectation;
 * each invalid form throws an INVALID_REFERENCE MtlsError whose message matches and whose caret line
 * points at the given part.
 */
export function referenceFormTests({ parse, valid, invalid, neverEchoed }: ReferenceFormOptions): void {
  it.each(valid)('parses %s', (text, expected) => {
    const ref = parse(text);
    expect(ref).toMatchObject(expected);
    expect(Object.isFrozen(ref)).toBe(true);
  });

  it.each(invalid)('rejects %j, pointing at the wrong part', (text, message, pointed) => {
    let err: unknown;
    try {
      parse(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MtlsError);
    const e = err as MtlsError;
    expect(e.code).toBe('INVALID_REFERENCE');
    expect(e.message).toMatch(message);
    if (pointed !== '') expect(pointedAt(e, text)).toBe(pointed);
    if (neverEchoed !== undefined) expect(e.message).not.toContain(neverEchoed);
  });
}
