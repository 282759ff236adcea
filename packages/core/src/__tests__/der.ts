// Test helper: hand-built DER, for inputs no library writes (hostile iteration counts, odd structures).

/** One element from a tag byte and its content (definite length, up to 64 KiB). */
export function der(tag: number, ...content: Uint8Array[]): Buffer {
  const body = Buffer.concat(content);
  const n = body.length;
  const len = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  return Buffer.concat([Buffer.from([tag, ...len]), body]);
}

export const SEQ = (...c: Uint8Array[]) => der(0x30, ...c);
export const INT = (n: number) => der(0x02, Buffer.from(n.toString(16).padStart(8, '0'), 'hex'));
export const OCTETS = (b: Uint8Array) => der(0x04, b);
export const NULL = Buffer.from([0x05, 0x00]);

export function OID(dotted: string): Buffer {
  const [a = 0, b = 0, ...rest] = dotted.split('.').map(Number);
  const bytes = [40 * a + b];
  for (const arc of rest) {
    const chunk = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return der(0x06, Buffer.from(bytes));
}
