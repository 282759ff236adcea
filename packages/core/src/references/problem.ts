// How a parsing problem becomes an INVALID_REFERENCE error: the message, a window of the reference
// with a caret under the wrong part, and masking. What the grammar knows is secret (options marked
// `secret`, values of unknown options, a literal passphrase) is masked by position; the heuristics
// below (PEM blocks, Base64-shaped runs, keys that name a passphrase) remain for text the grammar
// never validated: a credential pasted where a reference belongs.
import { MtlsError } from '../errors.js';
import { looksLikeBase64 } from '../redact.js';
import { FIELD_ALIASES, normaliseFieldName } from '../validation/policy.js';
import { percentDecode } from './percent.js';
import { looksLikeReference, ReferenceProblem } from './scheme.js';

function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is replaced
  return text.replace(/[\u0000-\u001f\u007f]/g, '?');
}

/**
 * Whether an option value is a reference (`env:PASS`, `env%3APASS`): its scheme is read from its
 * first characters, percent-decoded, so a value nested many times is not decoded whole at each level.
 */
function isReferenceValue(value: string): boolean {
  const head = value.slice(0, 256);
  let decoded = head;
  try {
    decoded = percentDecode(head, 0);
  } catch {}
  return looksLikeReference(decoded);
}

/**
 * The text with the value of every `passphrase=` that is not a reference replaced by `*`s of the
 * same length (so the caret still lines up): written where a name or a reference belongs, it may
 * be the passphrase itself, and an error must not repeat it. A value that is a reference is searched
 * the same way (`passphrase=env:P?passphrase=...`), in a loop rather than by recursion: nesting has
 * no limit here, the text is not valid yet.
 */
function maskLiteralPassphrases(text: string): string {
  const q = text.indexOf('?');
  if (q < 0) return text;
  // Where the value of a `passphrase=` segment starts (its name percent-decoded: `pass%70hrase=`), or -1.
  const passphraseValueAt = (seg: string): number => {
    const eq = seg.indexOf('=');
    if (eq < 0) return -1;
    let name = seg.slice(0, eq);
    try {
      name = percentDecode(name, 0);
    } catch {}
    return name === 'passphrase' ? eq + 1 : -1;
  };
  const maskSegment = (seg: string): string => {
    let kept = '';
    let rest = seg;
    for (let at = passphraseValueAt(rest); at >= 0; at = passphraseValueAt(rest)) {
      const value = rest.slice(at);
      if (!isReferenceValue(value)) return `${kept}${rest.slice(0, at)}${'*'.repeat(value.length)}`;
      const inner = value.indexOf('?');
      if (inner < 0) break;
      kept += `${rest.slice(0, at)}${value.slice(0, inner + 1)}`;
      rest = value.slice(inner + 1);
    }
    return kept + rest;
  };
  return `${text.slice(0, q + 1)}${text
    .slice(q + 1)
    .split('&')
    .map(maskSegment)
    .join('&')}`;
}

/**
 * A key that names a passphrase (`password=`, `"passphrase":`, `pfx_password: `, `\"passphrase\":` in
 * JSON written inside a JSON string…) and the separator after it; maskKeyedPassphrases finds where
 * its value ends. Every FIELD_ALIASES.passphrase name contains `passphrase` or `password`; any key
 * that does is treated alike.
 */
// The separator may be percent-encoded (`passphrase%3Dvalue`): a reference encoded once too often.
const PASSPHRASE_KEY =
  /(?<![A-Za-z0-9_.-])(\\?["']|)([A-Za-z0-9_.-]*pass[-_.]?(?:phrase|word))\1(\s*(?:[:=]|%3[Dd])\s*)/gi;
const PASSPHRASE_NAMES = new Set(FIELD_ALIASES.passphrase.map(normaliseFieldName));
/** A JSON number, true, false or null, ending where a JSON value ends (`,`, `}`, `]` or the text's end). */
const JSON_LITERAL = /(?:-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)(?=\s*(?:[,}\]]|$))/y;

/**
 * Where the value that starts at `from` lies (its quotes left out). A quoted value runs to its
 * closing quote (`\"` and `''` escapes kept inside; JSON written inside a JSON string is quoted with
 * `\"`); an unquoted one after `=` to the next `&` or line break, after a `:` to the end of the line,
 * unless the key is quoted and the value a whole JSON number (or true, false, null) that a `,`, `}`
 * or `]` ends. A passphrase may hold spaces, commas, semicolons and braces: only these ends are
 * trusted.
 */
function passphraseValueEnd(
  text: string,
  from: number,
  quotedKey: boolean,
  sep: string,
): { start: number; end: number } {
  const n = text.length;
  const c = text[from];
  if (c === '\\' && text[from + 1] === '"') {
    // JSON inside a JSON string: `\"` ends it, `\\` is an escaped backslash that escapes what follows.
    let i = from + 2;
    while (i < n) {
      if (text[i] !== '\\') i++;
      else if (text[i + 1] === '"') break;
      else if (text[i + 1] === '\\') i += text[i + 2] === '\\' ? 4 : 3;
      else i += 2;
    }
    return { start: from + 2, end: Math.min(i, n) };
  }
  if (c === '"' || c === "'") {
    let i = from + 1;
    while (i < n && text[i] !== c) i += text[i] === '\\' ? 2 : 1;
    // YAML writes a single quote inside single quotes as ''.
    while (c === "'" && text[i + 1] === "'") {
      i += 2;
      while (i < n && text[i] !== c) i += text[i] === '\\' ? 2 : 1;
    }
    return { start: from + 1, end: Math.min(i, n) };
  }
  if (quotedKey && !/=|%3d/i.test(sep)) {
    JSON_LITERAL.lastIndex = from;
    const literal = JSON_LITERAL.exec(text);
    if (literal !== null) return { start: from, end: from + literal[0].length };
  }
  const stop = /=|%3d/i.test(sep) ? /[&\r\n]/g : /[\r\n]/g;
  stop.lastIndex = from;
  const end = stop.exec(text)?.index ?? n;
  return { start: from, end };
}

/**
 * The text with the value of every key that names a passphrase (a FIELD_ALIASES.passphrase name, as a
 * JSON or YAML key or as `name=value`) replaced by `*`s of the same length. A JSON bundle pasted where
 * a reference belongs often holds one, and sorted keys put `passphrase` or `password` right before
 * `pfx`. An unquoted value that is itself a reference (`password=env:PASS`) stays readable.
 */
function maskKeyedPassphrases(text: string): string {
  const key = new RegExp(PASSPHRASE_KEY.source, PASSPHRASE_KEY.flags);
  let out = '';
  let done = 0;
  for (let m = key.exec(text); m !== null; m = key.exec(text)) {
    const [head, quote = '', name = '', sep = ''] = m;
    const norm = normaliseFieldName(name);
    if (!PASSPHRASE_NAMES.has(norm) && !/pass(?:phrase|word)$/.test(norm)) continue;
    const at = m.index + head.length;
    const opens = text[at] === '\\' ? text.slice(at, at + 2) : text[at];
    // A reference stays readable (no scheme ends where an unquoted value may), and the keys inside
    // it are masked as the scan goes on from where it starts.
    if (opens !== '"' && opens !== "'" && opens !== '\\"' && isReferenceValue(text.slice(at, at + 256)))
      continue;
    const { start, end } = passphraseValueEnd(text, at, quote !== '', sep);
    out += `${text.slice(done, start)}${'*'.repeat(end - start)}`;
    done = end;
    key.lastIndex = Math.max(end, key.lastIndex);
  }
  return out + text.slice(done);
}

/** How much of a reference an error shows: a window of this many characters around the wrong part. */
const MAX_ECHO = 80;
/** A PEM block, complete or cut off (raw, percent-encoded or with its line breaks). */
const PEM_TEXT = /-----BEGIN[\s\S]*?(?:-----END[^-]{0,64}-----|$)/g;
/** A run of Base64 (or Base64url, or percent-encoded Base64) long enough to be a key or a certificate line. */
const BLOB_RUN = /[A-Za-z0-9+/_%-]{24,}={0,2}/g;
/**
 * The lines that continue something already hidden: after a line break (raw, or a `\n` escape as
 * JSON writes it), runs of the Base64 alphabet, however short (the last line of a PEM body is).
 */
const NEXT_LINES = /(?<=\*)(?:(?:\r\n|\r(?!\n)|\n|\\r\\n|\\r(?!\\n)|\\n)+[A-Za-z0-9+/_%-]+={0,2})+/g;
/** One or more line breaks, each matched one way only (a CRLF is never also a CR then an LF). */
const LINE_BREAKS = /(?:\r\n|\r(?!\n)|\n|\\r\\n|\\r(?!\\n)|\\n)+/g;

/** Base64-shaped (see looksLikeBase64), or 48 hex digits or more: no name or path looks like that. */
function looksLikeBlob(run: string): boolean {
  return (
    looksLikeBase64(run) ||
    (run.length >= 48 && /^[0-9a-f]+$/i.test(run) && /\d/.test(run) && /[a-f]/i.test(run))
  );
}

/**
 * `text` with PEM blocks and Base64-shaped blobs (and the lines that continue them) replaced by `*`s
 * of the same length (so offsets still line up): a credential pasted where a reference belongs must
 * not be echoed back. `first` is where the first one was; `hidden` how many characters were hidden
 * in PEM and in runs of 48 or more (a shorter run alone does not make a text look like a credential);
 * `pem` whether one was PEM.
 */
function maskCredentials(text: string): { masked: string; hidden: number; first: number; pem: boolean } {
  let hidden = 0;
  let first = -1;
  let pem = false;
  const star = (m: string, at: number, counts: boolean): string => {
    if (counts) hidden += m.length;
    if (first < 0 || at < first) first = at;
    return '*'.repeat(m.length);
  };
  let masked = text
    .replace(PEM_TEXT, (m, at: number) => {
      pem = true;
      return star(m, at, true);
    })
    .replace(BLOB_RUN, (m, at: number) => (looksLikeBlob(m) ? star(m, at, m.length >= 48) : m));
  if (first >= 0) {
    // One pass: each match runs over every line that follows, the breaks between them kept.
    masked = masked.replace(NEXT_LINES, (lines: string, at: number) => {
      let out = '';
      let end = 0;
      for (const br of lines.matchAll(LINE_BREAKS)) {
        if (br.index > end) out += star(lines.slice(end, br.index), at + end, hidden > 0);
        out += br[0];
        end = br.index + br[0].length;
      }
      return out + star(lines.slice(end), at + end, hidden > 0);
    });
  }
  return { masked, hidden, first, pem };
}

/** Marks an INVALID_REFERENCE whose text looked like a credential itself (for MTLS_SOURCE's message). */
const CREDENTIAL_LIKE = Symbol('mtlskit.credentialLikeReference');
/** On an "unknown option" INVALID_REFERENCE: the scheme the option was given to. */
const UNKNOWN_OPTION_OF = Symbol('mtlskit.unknownOptionOf');

/**
 * The scheme an "unknown option" INVALID_REFERENCE is about (the option may be one its adapter
 * package adds, when that package is not installed); undefined for every other error.
 */
export function unknownOptionScheme(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const scheme = (err as Record<symbol, unknown>)[UNKNOWN_OPTION_OF];
  return typeof scheme === 'string' ? scheme : undefined;
}

/** True when `err` is the INVALID_REFERENCE of a text that looked like a credential, not a reference. */
export function isCredentialLikeReference(err: unknown): boolean {
  return (
    typeof err === 'object' && err !== null && (err as Record<symbol, unknown>)[CREDENTIAL_LIKE] === true
  );
}

/** Characters the grammar says must not be echoed: `[start, length]` in the raw text. */
export type MaskedRanges = ReadonlyArray<readonly [number, number]>;

function starRanges(text: string, ranges: MaskedRanges): string {
  let out = text;
  for (const [start, length] of ranges) {
    const end = Math.min(text.length, start + length);
    if (start >= end) continue;
    out = `${out.slice(0, start)}${'*'.repeat(end - start)}${out.slice(end)}`;
  }
  return out;
}

/** Pieces this long of a hidden value are hidden wherever the message quotes them. */
const PIECE = 6;

/**
 * Every PIECE-character piece of what `masked` hides of `text` (raw and percent-decoded): a problem
 * quotes the part it is about (a path segment, decoded), and that part may run over a hidden value
 * (`"mt&passphrase=…" is not a secret name`), whole or cut.
 */
function hiddenPieces(text: string, masked: string): Set<string> {
  const pieces = new Set<string>();
  for (let i = 0; i < masked.length; ) {
    if (masked[i] !== '*' || text[i] === '*') {
      i++;
      continue;
    }
    let j = i;
    while (j < masked.length && masked[j] === '*') j++;
    const run = text.slice(i, j);
    let decoded = run;
    try {
      decoded = percentDecode(run, 0);
    } catch {}
    for (const form of new Set([run, decoded])) {
      // A hidden value of 4 or 5 characters is hidden whole; shorter ones would star common letters.
      if (form.length < PIECE && form.length >= 4) pieces.add(form);
      for (let k = 0; k + PIECE <= form.length; k++) pieces.add(form.slice(k, k + PIECE));
    }
    i = j;
  }
  return pieces;
}

/** `t` with every character inside a piece of `pieces` replaced by `*`. */
function starPieces(t: string, pieces: Set<string>): string {
  if (pieces.size === 0) return t;
  const lengths = new Set([...pieces].map((p) => p.length));
  const hit = new Uint8Array(t.length);
  for (const len of lengths) {
    for (let k = 0; k + len <= t.length; k++) if (pieces.has(t.slice(k, k + len))) hit.fill(1, k, k + len);
  }
  let out = '';
  for (let k = 0; k < t.length; k++) out += hit[k] ? '*' : t[k];
  return out;
}

/** The INVALID_REFERENCE error for `problem` in `text`, with `secret` ranges masked. */
export function toError(text: string, problem: ReferenceProblem, secret: MaskedRanges = []): MtlsError {
  let p = problem;
  // Whether it looks like a credential is judged on what was written, masked values included (every
  // value is masked when the error comes before the scheme is known).
  const { hidden, first, pem } = maskCredentials(text);
  const written = text;
  text = starRanges(text, secret);
  // Credentials first, so a value run on over one (`password=x BLOB` on one line) still counts as one.
  const credentials = maskCredentials(text);
  const masked = maskKeyedPassphrases(maskLiteralPassphrases(credentials.masked));
  const credentialLike = hidden > 0 && (pem || hidden * 2 >= text.length);
  if (credentialLike) {
    p = new ReferenceProblem(
      first,
      masked.length - first,
      'this looks like a credential itself (PEM or Base64), not a reference saying where one is',
      'A reference names where the credential is, e.g. env: (reads MTLS_CERT and MTLS_KEY), env:?key=VARIABLE_NAME, file:/etc/mtls or aws-sm://SECRET_ID. Put the credential there.',
    );
  }
  const start = Math.max(0, Math.min(p.start, masked.length));
  const end = Math.max(start + 1, Math.min(start + p.length, masked.length));
  // A window of the text around the wrong part, so a long value is not repeated whole.
  let from = 0;
  let to = masked.length;
  if (credentialLike) {
    // From the hidden part on: what comes before it may be more of the secret (a passphrase, a line).
    from = start;
    to = Math.min(masked.length, from + MAX_ECHO);
  } else if (masked.length > MAX_ECHO) {
    from = Math.max(0, Math.min(start - 16, masked.length - MAX_ECHO));
    to = from + MAX_ECHO;
  }
  const before = from > 0 ? '…' : '';
  const shown = `${before}${printable(masked.slice(from, to))}${to < masked.length ? '…' : ''}`;
  const caretEnd = Math.min(end, Math.max(to, start + 1));
  const caret = `${' '.repeat(before.length + start - from)}${'^'.repeat(Math.max(1, caretEnd - start))}`;
  const quoted = hiddenPieces(written, masked);
  const hide = (t: string) => maskCredentials(starPieces(t, quoted)).masked.replace(/\*{4,}/g, '***');
  const fix = p.fix ? ` ${hide(p.fix)}` : '';
  const message = `Invalid reference: ${hide(p.problem)}.${fix}\n  ${shown}\n  ${caret}`;
  const err = new MtlsError('INVALID_REFERENCE', message, { sourceId: shown });
  if (credentialLike) Object.defineProperty(err, CREDENTIAL_LIKE, { value: true });
  else if (p.unknownOptionOf !== undefined) {
    Object.defineProperty(err, UNKNOWN_OPTION_OF, { value: p.unknownOptionOf });
  }
  return err;
}

/**
 * What an error shows of a value given where a reference string belongs: a string itself; a number,
 * boolean, null or undefined as written; anything else by its type only (its own toString may throw,
 * or return anything at all).
 */
export function echoOf(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === null || ['number', 'boolean', 'bigint', 'undefined'].includes(typeof value))
    return String(value);
  return `[${typeof value}]`;
}

/**
 * A reference not checked by any grammar (its scheme's package is missing), shown as safely as the
 * masking allows: credentials and passphrases starred, at most 80 characters. For `sourceId`s.
 */
export function safeEcho(text: string): string {
  const masked = maskKeyedPassphrases(maskLiteralPassphrases(maskCredentials(echoOf(text)).masked));
  const shown = printable(masked.length > MAX_ECHO ? `${masked.slice(0, MAX_ECHO)}…` : masked);
  return shown;
}
