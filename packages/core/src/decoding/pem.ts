// Text forms of credential fields: cleaning up what secrets managers and environment variables do to
// PEM (BOM, CRLF, literal `\n` escapes, JSON quoting, surrounding whitespace), finding PEM blocks
// among other text (OpenSSL's "Bag Attributes"), and strict Base64 — `Buffer.from(s, 'base64')`
// accepts anything, so the alphabet is checked here. All scans are linear in the input.
import { LIMITS } from './limits.js';

/** One PEM block: its label (`CERTIFICATE`, `RSA PRIVATE KEY`, ...), RFC 1421 headers and body bytes. */
export interface PemBlock {
  label: string;
  headers: ReadonlyMap<string, string>;
  der: Buffer;
}

/** Why a PEM text could not be read; the label says which block. */
export class PemError extends Error {
  override name = 'PemError';
  constructor(
    readonly reason: 'truncated' | 'mismatched' | 'bad-base64' | 'too-many',
    readonly label: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Undoes what storage does to text: a leading BOM, a JSON string's quotes, literal `\n`/`\r\n`
 * escapes (PEM pasted into a one-line variable), CRLF line ends and surrounding whitespace.
 */
export function normaliseText(raw: string): string {
  let text = unquote(raw);
  if (text.includes('\\')) text = text.replace(/\\r\\n|\\n|\\r/g, '\n');
  return text.replace(/\r\n?/g, '\n').trim();
}

/** Without a leading BOM and surrounding whitespace, and the content of a JSON string literal. */
export function unquote(raw: string): string {
  const text = raw.replace(/^\uFEFF+/, '').trim();
  if (text.length >= 2 && text.startsWith('"') && text.endsWith('"')) {
    try {
      const inner: unknown = JSON.parse(text);
      if (typeof inner === 'string') return inner.replace(/^\uFEFF+/, '').trim();
    } catch {
      // Not a JSON string after all: keep the text as it is.
    }
  }
  return text;
}

/**
 * V8 keeps the subject of the last successful match of any regular expression in `RegExp.input`
 * (`$_`, `lastMatch`, `leftContext`, `rightContext`), readable by every module of the process and
 * held until the next match. Decoding matches secret text (a key's Base64, a passphrase), so it ends by
 * matching an empty string: what is left there afterwards is nothing.
 */
export function forgetLastMatch(): void {
  EMPTY.exec('');
}
const EMPTY = /(?:)/;

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const BASE64URL = /^[A-Za-z0-9_-]+={0,2}$/;

/**
 * Decodes standard or URL-safe Base64, ignoring whitespace. Returns undefined unless every character
 * is in the alphabet and the length is possible.
 */
export function decodeBase64(text: string): Buffer | undefined {
  const s = text.replace(/\s+/g, '');
  if (s.length === 0 || s.length % 4 === 1) return undefined;
  if (s.includes('=') && s.length % 4 !== 0) return undefined;
  if (BASE64.test(s)) return Buffer.from(s, 'base64');
  if (BASE64URL.test(s)) return Buffer.from(s, 'base64url');
  return undefined;
}

/** True when `text` holds at least the start of a PEM block. */
export function hasPem(text: string): boolean {
  return text.includes('-----BEGIN ');
}

const BEGIN = '-----BEGIN ';
const END = '-----END ';
const DASHES = '-----';

function parseBody(label: string, body: string): PemBlock {
  const headers = new Map<string, string>();
  let lines = body.split('\n');
  // RFC 1421 headers (Proc-Type, DEK-Info) come first and end with a blank line.
  if (lines.find((l) => l.trim() !== '')?.includes(':')) {
    const blank = lines.findIndex((l, i) => i > 0 && l.trim() === '');
    const headerLines = blank < 0 ? lines.filter((l) => l.includes(':')) : lines.slice(0, blank);
    for (const line of headerLines) {
      const at = line.indexOf(':');
      if (at > 0) headers.set(line.slice(0, at).trim().toLowerCase(), line.slice(at + 1).trim());
    }
    lines = blank < 0 ? lines.filter((l) => !l.includes(':')) : lines.slice(blank + 1);
  }
  const der = decodeBase64(lines.join(''));
  if (der === undefined) {
    throw new PemError(
      'bad-base64',
      label,
      `its ${label} block is not valid Base64 between the BEGIN and END lines`,
    );
  }
  return { label, headers, der };
}

/** Every PEM block in `text`, in order; text between blocks is ignored. Throws PemError. */
export function readPemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  let pos = 0;
  for (;;) {
    const begin = text.indexOf(BEGIN, pos);
    if (begin < 0) break;
    if (blocks.length >= LIMITS.maxPemBlocks) {
      throw new PemError('too-many', '', `it holds more than ${LIMITS.maxPemBlocks} PEM blocks`);
    }
    const labelEnd = text.indexOf(DASHES, begin + BEGIN.length);
    const label = labelEnd < 0 ? '' : text.slice(begin + BEGIN.length, labelEnd);
    if (labelEnd < 0 || label.length > 64 || !/^[A-Z0-9 #]+$/.test(label)) {
      throw new PemError('truncated', label.slice(0, 64), 'it has a BEGIN line that is cut off or malformed');
    }
    const bodyStart = labelEnd + DASHES.length;
    const end = text.indexOf(END, bodyStart);
    const body = end < 0 ? '' : text.slice(bodyStart, end);
    // An END line that is missing, or that belongs to a later block, means this block was cut off.
    if (end < 0 || body.includes(BEGIN)) {
      throw new PemError('truncated', label, `its ${label} block has no END line (the value is cut off)`);
    }
    const endLabelEnd = text.indexOf(DASHES, end + END.length);
    if (endLabelEnd < 0 || endLabelEnd - end > 80) {
      throw new PemError('truncated', label, `its ${label} block ends with a cut-off END line`);
    }
    const endLabel = text.slice(end + END.length, endLabelEnd);
    if (endLabel !== label) {
      throw new PemError('mismatched', label, `its ${label} block ends with an END line of another type`);
    }
    blocks.push(parseBody(label, body));
    pos = endLabelEnd + DASHES.length;
  }
  return blocks;
}

/** PEM text of DER bytes under `label`, wrapped at 64 columns. */
export function toPem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  // Sliced, not matched with a regular expression: a match would leave the text in RegExp.input.
  let body = '';
  for (let at = 0; at < b64.length; at += 64) body += `${b64.slice(at, at + 64)}\n`;
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}
