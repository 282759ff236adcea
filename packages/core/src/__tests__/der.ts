// Test helper: hand-built DER, for inputs no library writes (hostile iteration counts, odd structures).

/** One element from a tag byte and its content (definite length, any size). */
export function der(tag: number, ...content: Uint8Array[]): Buffer {
  const body = Buffer.concat(content);
  const n = body.length;
  let len: number[];
  if (n < 0x80) len = [n];
  else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
    len = [0x80 | bytes.length, ...bytes];
  }
  return Buffer.concat([Buffer.from([tag, ...len]), body]);
}

export const SEQ = (...c: Uint8Array[]) => der(0x30, ...c);
export const SET = (...c: Uint8Array[]) => der(0x31, ...c);
export const OCTETS = (b: Uint8Array) => der(0x04, b);
export const NULL = Buffer.from([0x05, 0x00]);

/** A non-negative INTEGER, minimally encoded. */
export function INT(n: number): Buffer {
  let hex = n.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  if (Number.parseInt(hex.slice(0, 2), 16) >= 0x80) hex = `00${hex}`;
  return der(0x02, Buffer.from(hex, 'hex'));
}

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

/** PEM of `body` under `label`, 64 columns. */
export function pem(label: string, body: Uint8Array): string {
  const b64 = Buffer.from(body).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}
