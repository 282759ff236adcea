// CRC-32C (Castagnoli), the checksum Secret Manager keeps with every payload. Node 20's crypto has no
// CRC-32C and zlib.crc32 (Node 22+) is the plain CRC-32, so the table is built here, once, from the
// reflected polynomial 0x82F63B78; crc32c.test.ts checks it against the published check values.

const TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let bit = 0; bit < 8; bit++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** The CRC-32C of `data`, as an unsigned 32-bit number (what `dataCrc32c` holds). */
export function crc32c(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = TABLE[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * A checksum as the client hands it over: a number, a decimal string (int64 under google-gax's
 * `longs: String`), or a protobufjs `Long`. `undefined` when absent; `NaN` when it is none of those.
 */
export function checksumValue(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string') return /^\d{1,20}$/.test(value) ? Number(value) : Number.NaN;
  if (typeof value === 'object') {
    const long = value as { low?: unknown; high?: unknown; unsigned?: unknown };
    if (typeof long.low === 'number' && typeof long.high === 'number') {
      // A Long's halves are signed 32-bit; a CRC fits the low half, so a high half other than 0 mismatches.
      return long.high * 2 ** 32 + (long.low >>> 0);
    }
  }
  return Number.NaN;
}
