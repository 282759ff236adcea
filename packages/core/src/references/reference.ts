// One-string references to a credential (`aws-sm://prod/mtls?region=eu-west-1`): the generic
// grammar every scheme shares (scheme, `//`, path, `?options`, percent-encoding, sub-references such
// as `passphrase=env:VAR`), option checking against the scheme's table, and formatting back to a
// string. What a scheme's path means, and which options it takes, is its definition's (scheme.ts):
// `env:` and `file:` are defined in builtin.ts, every other scheme in its adapter's `scheme` module.
import { MtlsError } from '../errors.js';
import { BUILTIN_DEFINITIONS } from './builtin.js';
import { percentDecode, percentEncode, SAFE_KEY, SAFE_PATH, SAFE_VALUE } from './percent.js';
import { echoOf, type MaskedRanges, toError } from './problem.js';
import {
  isSchemeName,
  KNOWN_SCHEMES,
  looksLikeReference,
  REFERENCE_FIELDS,
  type ReferenceCursor,
  type ReferenceField,
  ReferenceProblem,
  type SchemeDefinition,
  type SchemeOption,
  type SchemeOptions,
  SUB_REFERENCE_FIELDS,
  type SubReferenceField,
  schemeNames,
  schemeOf,
  schemeStore,
} from './scheme.js';

/** The four parts every reference has: `scheme:` + optional `//` + path + `?options`. */
export interface ReferenceParts {
  /** Lower-case scheme without the colon: `env`, `aws-sm`, ... */
  scheme: string;
  /** Whether `//` follows the colon (`aws-sm://...`). */
  slashes?: boolean;
  /** Everything between the scheme (and `//`) and `?`, percent-decoded. */
  path?: string;
  /** Query options in the order written, percent-decoded. */
  options?: Readonly<Record<string, string>>;
}

/** A parsed, validated reference. Frozen. */
export interface ParsedReference<S extends string = string, T = unknown> {
  readonly scheme: S;
  readonly slashes: boolean;
  readonly path: string;
  /** Options as written, percent-decoded. */
  readonly options: Readonly<Record<string, string>>;
  /** Options typed by the scheme's table: integer → number, boolean → boolean, others as written. */
  readonly values: Readonly<Record<string, string | number | boolean>>;
  /** The reference written back in canonical form: a secret-free id for the source. */
  readonly id: string;
  /** `passphrase=<reference>`: where the passphrase comes from, parsed. */
  readonly passphrase?: ParsedReference;
  /** `ca=<reference>`: where the CA comes from, parsed. */
  readonly ca?: ParsedReference;
  /** What the scheme's `build` made of the path and options (undefined for a scheme without one). */
  readonly target: T;
}

/** The definition of `scheme`: built in, or defined by its adapter's scheme module; undefined otherwise. */
export function definitionOf(scheme: string): SchemeDefinition | undefined {
  return (
    (BUILTIN_DEFINITIONS as Record<string, SchemeDefinition | undefined>)[scheme] ??
    schemeStore().get(scheme)?.definition
  );
}

/** The options `scheme` accepts, or undefined when it is not defined (yet). */
export function schemeOptions(scheme: string): SchemeOptions | undefined {
  return definitionOf(scheme)?.options;
}

interface RawOption {
  name: string;
  value: string;
  nameStart: number;
  valueStart: number;
  valueLength: number;
  /** Whether the raw value equals the decoded one, so that offsets inside it are exact. */
  verbatim: boolean;
}

/** The ReferenceCursor a scheme's build reads. */
class Cursor implements ReferenceCursor {
  constructor(
    readonly text: string,
    readonly scheme: string,
    readonly slashes: boolean,
    readonly path: string,
    readonly pathStart: number,
    readonly pathRawLength: number,
    readonly raw: ReadonlyMap<string, RawOption>,
    readonly options: Readonly<Record<string, string>>,
    readonly typed: Readonly<Record<string, string | number | boolean>>,
    readonly nested: ReadonlySet<string>,
  ) {}

  value<V extends string | number | boolean>(name: string): V | undefined {
    return this.typed[name] as V | undefined;
  }

  plain(name: string): string | undefined {
    if (this.nested.has(name)) return undefined;
    return this.options[name];
  }

  fields(names: readonly ReferenceField[] = REFERENCE_FIELDS): Partial<Record<ReferenceField, string>> {
    const out: Partial<Record<ReferenceField, string>> = {};
    for (const n of names) {
      const v = this.plain(n);
      if (v !== undefined) out[n] = v;
    }
    return out;
  }

  pathProblem(problem: string, fix: string, start = 0, length = this.path.length): ReferenceProblem {
    if (this.pathRawLength !== this.path.length) {
      return new ReferenceProblem(this.pathStart, this.pathRawLength, problem, fix);
    }
    return new ReferenceProblem(this.pathStart + start, Math.max(1, length), problem, fix);
  }

  optionProblem(name: string, problem: string, fix: string): ReferenceProblem {
    const o = this.raw.get(name);
    if (o === undefined) return new ReferenceProblem(this.text.length, 1, problem, fix);
    return new ReferenceProblem(o.nameStart, o.valueStart + o.valueLength - o.nameStart, problem, fix);
  }

  segments(what: string): string[] {
    const parts = this.path.split('/');
    let at = 0;
    for (const part of parts) {
      if (part === '' || part === '.' || part === '..') {
        throw this.pathProblem(
          part === '' ? `empty segment in the ${what}` : `"${part}" segment in the ${what}`,
          'Remove the extra "/" or the dot segment.',
          Math.max(0, at - (part === '' ? 1 : 0)),
          Math.max(1, part.length),
        );
      }
      at += part.length + 1;
    }
    return parts;
  }

  requireSlashes(form: string): void {
    if (!this.slashes) {
      throw new ReferenceProblem(
        this.pathStart,
        Math.max(1, this.pathRawLength),
        `${this.scheme}: needs "//" after the colon`,
        `Write ${form}.`,
      );
    }
  }

  refuseSlashes(form: string): void {
    if (this.slashes) {
      throw new ReferenceProblem(this.pathStart - 2, 2, `${this.scheme}: takes no "//"`, `Write ${form}.`);
    }
  }

  refuseBesidePath(
    names: readonly string[],
    problem: (name: string) => string,
    fix: (name: string) => string,
  ): void {
    const name = names.find((n) => this.options[n] !== undefined);
    if (name !== undefined) throw this.optionProblem(name, problem(name), fix(name));
  }

  requireCertOrPfx(fields: Partial<Record<ReferenceField, string>>, what: string, form: string): void {
    if (fields.pfx !== undefined && (fields.cert !== undefined || fields.key !== undefined)) {
      throw this.optionProblem(
        'pfx',
        'pfx= replaces cert= and key=; give one or the other',
        'Drop pfx= or cert=/key=.',
      );
    }
    if (fields.key !== undefined && fields.cert === undefined) {
      throw this.optionProblem('key', 'key= needs cert=', 'Add cert= (the certificate for this key).');
    }
    if (fields.cert === undefined && fields.pfx === undefined) {
      throw new ReferenceProblem(
        this.pathStart,
        Math.max(1, this.text.length - this.pathStart),
        `${what} names no credential`,
        `Write ${form}.`,
      );
    }
  }
}

function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

function suggestion(word: string, candidates: readonly string[]): string {
  const near = candidates.find((c) => c.startsWith(word) || word.startsWith(c) || levenshtein(word, c) <= 2);
  return near === undefined ? '' : ` Did you mean ${JSON.stringify(near)}?`;
}

/** Checks an option's value against its spec; returns it typed (integer → number, boolean → boolean). */
function checkValue(o: RawOption, spec: SchemeOption, scheme: string): string | number | boolean {
  const at = (problem: string, fix: string) =>
    new ReferenceProblem(o.valueStart, Math.max(1, o.valueLength), problem, fix);
  // A secret option's value is never repeated, even when it is wrong.
  const shown = spec.secret ? `${o.name}=…` : `${o.name}=${o.value}`;
  switch (spec.type) {
    case 'integer': {
      if (!/^\d{1,15}$/.test(o.value)) throw at(`${shown} is not a whole number`, `Write e.g. ${o.name}=3.`);
      const n = Number(o.value);
      if (spec.min !== undefined && n < spec.min) {
        throw at(`${shown} is below the least value, ${spec.min}`, `Write ${o.name}=${spec.min} or more.`);
      }
      if (spec.max !== undefined && n > spec.max) {
        throw at(`${shown} is above the greatest value, ${spec.max}`, `Write ${o.name}=${spec.max} or less.`);
      }
      return n;
    }
    case 'boolean':
      if (o.value !== 'true' && o.value !== 'false') {
        throw at(`${shown} is not true or false`, `Write ${o.name}=true or ${o.name}=false.`);
      }
      return o.value === 'true';
    case 'enum':
      if (!spec.values?.includes(o.value)) {
        throw at(`${shown} is not one of ${spec.values?.join(', ')}`, `Write ${o.name}=${spec.values?.[0]}.`);
      }
      return o.value;
    case 'url': {
      let ok = false;
      try {
        const u = new URL(o.value);
        ok = (u.protocol === 'https:' || u.protocol === 'http:') && u.hostname !== '';
      } catch {}
      if (!ok) throw at(`${shown} is not an http(s) URL`, `Write e.g. ${o.name}=https://host:port.`);
      return o.value;
    }
    case 'reference':
      if (!looksLikeReference(o.value)) {
        throw at(
          `${o.name}= of ${scheme}: must be a reference`,
          `Write e.g. ${o.name}=env:MTLS_PASSPHRASE or ${o.name}=file:/run/secrets/passphrase.`,
        );
      }
      return o.value;
    default:
      return o.value;
  }
}

/** How each scheme that exists is written in hints: `env:`, `aws-sm://`. */
function schemeHints(): string {
  return schemeNames()
    .map((s) => {
      const def = definitionOf(s);
      const slashes = def === undefined ? KNOWN_SCHEMES[s] !== '@mtlskit/core' : def.slashes === true;
      return `${s}:${slashes ? '//' : ''}`;
    })
    .join(', ');
}

/** `scheme:[//]path[?options]`, percent-encoded; no validation. */
function formatParts(parts: ReferenceParts): string {
  let path = percentEncode(parts.path ?? '', SAFE_PATH);
  if (!parts.slashes && path.startsWith('//')) path = `%2F${path.slice(1)}`;
  const query = Object.entries(parts.options ?? {})
    .map(([k, v]) => `${percentEncode(k, SAFE_KEY)}=${percentEncode(v, SAFE_VALUE)}`)
    .join('&');
  return `${parts.scheme}:${parts.slashes ? '//' : ''}${path}${query ? `?${query}` : ''}`;
}

/**
 * The values the grammar does not vouch for (an unknown option's, a secret one's; every value when
 * `options` is undefined), in every segment of the query that starts after `q`, and in the queries
 * of sub-references (`ca=aws-sm://x?token=…`, by their own scheme's table): an error about one part
 * of a reference (the path, an option) still echoes the rest. `depth` bounds the nesting followed.
 */
function unvouchedValues(
  text: string,
  q: number,
  options: SchemeOptions | undefined,
  depth = 0,
): Array<[number, number]> {
  const masks: Array<[number, number]> = [];
  if (q < 0) return masks;
  let start = q + 1;
  for (const seg of text.slice(q + 1).split('&')) {
    const eq = seg.indexOf('=');
    if (eq >= 0) {
      let name = seg.slice(0, eq);
      try {
        name = percentDecode(name, start);
      } catch {}
      const spec = options?.[name];
      const at = start + eq + 1;
      const value = seg.slice(eq + 1);
      if (spec === undefined || spec.secret) masks.push([at, value.length]);
      else if (spec.type === 'reference' && value.includes('?') && depth < 4) {
        const inner = schemeOf(value);
        const innerOptions = inner === undefined ? undefined : definitionOf(inner)?.options;
        for (const [s, l] of unvouchedValues(value, value.indexOf('?'), innerOptions, depth + 1))
          masks.push([at + s, l]);
      } else if (spec.type === 'reference' && /%3f/i.test(value)) masks.push([at, value.length]);
    }
    start += seg.length + 1;
  }
  return masks;
}

function parseAt(
  text: string,
  nestedIn: SubReferenceField | undefined,
  masks: Array<[number, number]>,
  given?: SchemeDefinition,
): ParsedReference {
  if (typeof text !== 'string') {
    throw new ReferenceProblem(
      0,
      1,
      `a reference is a string, not ${typeof text}`,
      'Pass a string such as env:.',
    );
  }
  if (text === '')
    throw new ReferenceProblem(0, 1, 'the reference is empty', 'Write e.g. env: or file:/etc/mtls.');
  // Until a scheme's table says which values it vouches for, none is: an error before then (spaces,
  // a control character, no scheme, an unknown one) masks every value. Replaced once it is known.
  const before = masks.length;
  masks.push(...unvouchedValues(text, text.indexOf('?'), undefined));
  if (text.trim() !== text) {
    const start = /^\s/.test(text) ? 0 : text.trimEnd().length;
    throw new ReferenceProblem(start, 1, 'the reference has surrounding whitespace', 'Remove it.');
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  const ctl = /[\u0000-\u001f\u007f]/.exec(text);
  if (ctl)
    throw new ReferenceProblem(
      ctl.index,
      1,
      'the reference contains a control character',
      'Percent-encode it.',
    );

  // A lone surrogate is no character: it cannot be percent-encoded (formatReference would write
  // U+FFFD in its place), and its %XX form is refused as invalid UTF-8 already.
  const lone = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.exec(text);
  if (lone)
    throw new ReferenceProblem(
      lone.index,
      1,
      'the reference contains a lone UTF-16 surrogate, which is not a character',
      'Remove it, or write the whole character it was half of.',
    );
  const scheme = schemeOf(text);
  if (scheme === undefined) {
    const fix = /^[./~]/.test(text)
      ? `For a file or directory write file:${text}.`
      : `A reference starts with a scheme: ${schemeHints()}.`;
    throw new ReferenceProblem(0, Math.max(1, text.search(/[:?/]|$/)), 'the reference has no scheme', fix);
  }
  if (given !== undefined && given.scheme !== scheme) {
    throw new ReferenceProblem(
      0,
      scheme.length,
      `expected a ${given.scheme}: reference`,
      `Write ${given.form ?? `${given.scheme}:…`}.`,
    );
  }
  const definition = given ?? definitionOf(scheme);
  if (definition === undefined) {
    if (KNOWN_SCHEMES[scheme] !== undefined) throw schemeNotLoaded(scheme);
    const known = schemeNames();
    throw new ReferenceProblem(
      0,
      scheme.length,
      `unknown scheme "${scheme}:"`,
      `Schemes that exist: ${known.map((s) => `${s}:`).join(', ')}.${suggestion(scheme, known)}`,
    );
  }
  const options = definition.options;

  let pos = scheme.length + 1;
  const slashes = text.startsWith('//', pos);
  if (slashes) pos += 2;
  const q = text.indexOf('?', pos);
  masks.splice(before, masks.length - before, ...unvouchedValues(text, q, options));
  const pathRaw = text.slice(pos, q < 0 ? undefined : q);
  const path = percentDecode(pathRaw, pos);

  const raw = new Map<string, RawOption>();
  const typed: Record<string, string | number | boolean> = {};
  if (q >= 0) {
    let at = q + 1;
    const query = text.slice(q + 1);
    for (const seg of query === '' ? [] : query.split('&')) {
      if (seg === '') {
        throw new ReferenceProblem(
          Math.max(q, at - 1),
          1,
          'an empty option (two "&" in a row, or a trailing "&")',
          'Remove the extra "&".',
        );
      }
      const eq = seg.indexOf('=');
      if (eq < 0)
        throw new ReferenceProblem(at, seg.length, `option "${seg}" has no value`, `Write ${seg}=VALUE.`);
      const name = percentDecode(seg.slice(0, eq), at);
      const valueRaw = seg.slice(eq + 1);
      const spec = options[name];
      const value = percentDecode(valueRaw, at + eq + 1);
      if (spec === undefined) {
        const valid = Object.keys(options);
        throw new ReferenceProblem(
          at,
          Math.max(1, eq),
          `unknown option "${name}" for ${scheme}:`,
          `Valid options: ${valid.join(', ') || '(none)'}.${suggestion(name, valid)}`,
          scheme,
        );
      }
      if (raw.has(name))
        throw new ReferenceProblem(at, seg.length, `option "${name}" is given twice`, 'Keep one.');
      if (value === '') {
        throw new ReferenceProblem(
          at,
          seg.length,
          `option "${name}" is empty`,
          'Give it a value or remove it.',
        );
      }
      const o: RawOption = {
        name,
        value,
        nameStart: at,
        valueStart: at + eq + 1,
        valueLength: valueRaw.length,
        verbatim: valueRaw === value,
      };
      typed[name] = checkValue(o, spec, scheme);
      raw.set(name, o);
      at += seg.length + 1;
    }
  }
  for (const [name, spec] of Object.entries(options)) {
    if (spec.required && !raw.has(name)) {
      throw new ReferenceProblem(
        text.length,
        1,
        `${scheme}: needs option "${name}"`,
        `Add ${q < 0 ? '?' : '&'}${name}=...`,
      );
    }
  }
  const opts = Object.freeze(Object.fromEntries([...raw].map(([k, o]) => [k, o.value])));

  // Sub-references: `passphrase=env:PASS`, `ca=file:/etc/ssl/api-ca.pem`.
  const subs: Partial<Record<SubReferenceField, ParsedReference>> = {};
  for (const field of SUB_REFERENCE_FIELDS) {
    const o = raw.get(field);
    if (o === undefined || !looksLikeReference(o.value)) continue;
    if (nestedIn !== undefined) {
      throw new ReferenceProblem(
        o.nameStart,
        o.valueStart + o.valueLength - o.nameStart,
        `a ${nestedIn} reference cannot have its own ${field}=`,
        `Remove the inner ${field}=.`,
      );
    }
    const inner: Array<[number, number]> = [];
    try {
      subs[field] = parseAt(o.value, field, inner);
    } catch (err) {
      if (!(err instanceof ReferenceProblem)) throw err;
      const start = o.verbatim ? o.valueStart + err.start : o.valueStart;
      const length = o.verbatim ? err.length : o.valueLength;
      throw new ReferenceProblem(start, length, `in ${field}=: ${err.problem}`, err.fix, err.unknownOptionOf);
    } finally {
      for (const [s, l] of inner)
        masks.push(o.verbatim ? [o.valueStart + s, l] : [o.valueStart, o.valueLength]);
    }
  }

  const cursor = new Cursor(
    text,
    scheme,
    slashes,
    path,
    pos,
    pathRaw.length,
    raw,
    opts,
    Object.freeze(typed),
    new Set(Object.keys(subs)),
  );
  const form = definition.form ?? `${scheme}:${definition.slashes ? '//' : ''}…`;
  if (definition.slashes === true) cursor.requireSlashes(form);
  if (definition.slashes === false) cursor.refuseSlashes(form);
  const target = definition.build?.(cursor);
  return Object.freeze({
    scheme,
    slashes,
    path,
    options: opts,
    values: cursor.typed,
    id: formatParts({ scheme, slashes, path, options: opts }),
    ...subs,
    target: target === undefined || target === null ? target : Object.freeze(target),
  }) as ParsedReference;
}

const NOT_LOADED = Symbol('mtlskit.schemeNotLoaded');

/**
 * The error for a known scheme whose package has not defined it (not loaded, or not installed),
 * marked with the scheme so that parseReferenceAsync can tell why its import did not define it.
 */
function schemeNotLoaded(scheme: string): MtlsError {
  const pkg = KNOWN_SCHEMES[scheme] ?? 'its adapter package';
  const err = new MtlsError(
    'ADAPTER_NOT_INSTALLED',
    `The ${scheme}: scheme is defined by ${pkg}, which is not loaded. Import it first (import '${pkg}'; ` +
      `'${pkg}/scheme' to parse only), or use sourceFromReference / parseReferenceAsync, which load it. ` +
      `If it is not installed: npm install ${pkg} (pnpm add ${pkg}, yarn add ${pkg}).`,
  );
  Object.defineProperty(err, NOT_LOADED, { value: scheme });
  return err;
}

/** The scheme of an ADAPTER_NOT_INSTALLED that parseReference threw for a known scheme not loaded. */
export function notLoadedScheme(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const scheme = (err as Record<symbol, unknown>)[NOT_LOADED];
  return typeof scheme === 'string' ? scheme : undefined;
}

/**
 * Parses and validates a reference such as `aws-sm://prod/mtls?region=eu-west-1` or
 * `file:/etc/mtls`. Throws INVALID_REFERENCE whose message points at the wrong part. Reads no
 * environment and loads nothing: a scheme other than `env:` and `file:` must have been defined (its
 * adapter's `scheme` module imported; see parseReferenceAsync), else ADAPTER_NOT_INSTALLED. With
 * `definition`, the reference must be of that scheme, and its target is typed.
 */
export function parseReference<S extends string = string, T = unknown>(
  text: string,
  definition?: SchemeDefinition<S, T>,
): ParsedReference<S, T> {
  const masks: Array<[number, number]> = [];
  try {
    return parseAt(text, undefined, masks, definition as SchemeDefinition | undefined) as ParsedReference<
      S,
      T
    >;
  } catch (err) {
    throw err instanceof ReferenceProblem ? toError(echoOf(text), err, masks as MaskedRanges) : err;
  }
}

/**
 * Writes a reference back as a string, percent-encoding what must be (`%`, `?`, `&`, `#`, spaces,
 * non-ASCII). `parseReference(formatReference(ref))` gives back `ref`. Throws INVALID_REFERENCE when
 * the parts do not form a valid reference.
 */
export function formatReference(parts: ReferenceParts): string {
  const scheme = parts.scheme;
  if (typeof scheme !== 'string' || !isSchemeName(scheme)) {
    throw new MtlsError(
      'INVALID_REFERENCE',
      `Invalid reference: scheme ${JSON.stringify(scheme)} is not a scheme name.`,
    );
  }
  const text = formatParts(parts);
  parseReference(text);
  return text;
}
