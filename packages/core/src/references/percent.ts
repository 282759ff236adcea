import { ReferenceProblem } from './scheme.js';

// Percent-encoding of references. RFC 3986 rules, not HTML forms: `+` is a plus sign (AWS names contain it),
// and `%XX` sequences are decoded as UTF-8 bytes.

/** Decodes `raw` (found at `offset` in the text); throws a ReferenceProblem on a bad escape. */
export function percentDecode(raw: string, offset: number): string {
  if (!raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw); // strict UTF-8, and `+` stays a plus sign
  } catch {
    const stray = /%(?![0-9A-Fa-f]{2})/.exec(raw);
    if (stray) {
      throw new ReferenceProblem(
        offset + stray.index,
        3,
        '"%" does not start a %XX escape',
        'Write %25 for a literal "%".',
      );
    }
    throw new ReferenceProblem(
      offset,
      raw.length,
      'the %XX escapes do not form valid UTF-8',
      'Escape each byte of the UTF-8 encoding.',
    );
  }
}

// Left as they are when formatting: unreserved characters, sub-delimiters and `:@/`. Everything else
// (`%`, `?`, `#`, space, quotes, non-ASCII, ...) is escaped; `&` and `=` depend on the part.
const SAFE_COMMON = "A-Za-z0-9\\-._~!$'()*+,;:@/";
export const SAFE_PATH = new RegExp(`[^${SAFE_COMMON}&=]`, 'gu');
export const SAFE_KEY = new RegExp(`[^${SAFE_COMMON}]`, 'gu');
export const SAFE_VALUE = new RegExp(`[^${SAFE_COMMON}=?]`, 'gu');

export function percentEncode(text: string, unsafe: RegExp): string {
  return text.replace(unsafe, (ch) =>
    [...Buffer.from(ch, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''),
  );
}
