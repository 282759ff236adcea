// A PKCS#10 certificate signing request (RFC 2986) for a key made in this process, written in DER by
// hand: node:crypto signs but has no CSR builder, and the request is small — a common name, the
// subject alternative names, the public key, the signature. The private key never leaves the process.
import { generateKeyPair as generateKeyPairCb, type KeyObject, sign } from 'node:crypto';
import { isIP } from 'node:net';
import { promisify } from 'node:util';

const generateKeyPair = promisify(generateKeyPairCb);

/** Keys the process can make for a CSR. */
export type CsrKeyType = 'ec-p256' | 'rsa2048';

export interface CsrOptions {
  commonName: string;
  /** DNS names (and e-mail addresses, written as DNS names are by Vault's `alt_names`). */
  dnsNames?: readonly string[];
  ipAddresses?: readonly string[];
  uris?: readonly string[];
}

function lengthOf(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

const tlv = (tag: number, ...content: Buffer[]): Buffer => {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), lengthOf(body.length), body]);
};
const sequence = (...parts: Buffer[]) => tlv(0x30, ...parts);
const set = (...parts: Buffer[]) => tlv(0x31, ...parts);

function oid(dotted: string): Buffer {
  const [a = 0, b = 0, ...rest] = dotted.split('.').map(Number);
  const bytes = [40 * a + b];
  for (const arc of rest) {
    const groups: number[] = [];
    for (let v = arc; ; v = Math.floor(v / 128)) {
      groups.unshift((v % 128) | (groups.length === 0 ? 0 : 0x80));
      if (v < 128) break;
    }
    bytes.push(...groups);
  }
  return tlv(0x06, Buffer.from(bytes));
}

function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  // IPv6: expand `::`, then eight 16-bit groups.
  const [head = '', tail] = ip.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return Buffer.concat(groups.map((g) => Buffer.from(g.padStart(4, '0'), 'hex')));
}

function subjectAltNames(o: CsrOptions): Buffer | undefined {
  const names = [
    ...(o.dnsNames ?? []).map((n) => tlv(0x82, Buffer.from(n, 'ascii'))),
    ...(o.ipAddresses ?? []).map((ip) => {
      if (isIP(ip) === 0) throw new TypeError(`"${ip}" is not an IP address`);
      return tlv(0x87, ipBytes(ip));
    }),
    ...(o.uris ?? []).map((u) => tlv(0x86, Buffer.from(u, 'ascii'))),
  ];
  return names.length === 0 ? undefined : sequence(...names);
}

/** A new key of `type` and a PEM CSR for it; the key is returned to stay in the process. */
export async function createKeyAndCsr(
  type: CsrKeyType,
  options: CsrOptions,
): Promise<{ privateKey: KeyObject; keyPem: string; csrPem: string }> {
  const { privateKey, publicKey } =
    type === 'rsa2048'
      ? await generateKeyPair('rsa', { modulusLength: 2048 })
      : await generateKeyPair('ec', { namedCurve: 'P-256' });
  const subject = sequence(set(sequence(oid('2.5.4.3'), tlv(0x0c, Buffer.from(options.commonName, 'utf8')))));
  const san = subjectAltNames(options);
  const attributes = san
    ? sequence(oid('1.2.840.113549.1.9.14'), set(sequence(sequence(oid('2.5.29.17'), tlv(0x04, san)))))
    : Buffer.alloc(0);
  const info = sequence(
    tlv(0x02, Buffer.from([0])),
    subject,
    publicKey.export({ type: 'spki', format: 'der' }),
    tlv(0xa0, attributes),
  );
  const algorithm =
    type === 'rsa2048'
      ? sequence(oid('1.2.840.113549.1.1.11'), Buffer.from([0x05, 0x00]))
      : sequence(oid('1.2.840.10045.4.3.2'));
  const signature = sign('sha256', info, privateKey);
  const der = sequence(info, algorithm, tlv(0x03, Buffer.from([0]), signature));
  const body = der.toString('base64').replace(/.{64}/g, '$&\n').trimEnd();
  return {
    privateKey,
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    csrPem: `-----BEGIN CERTIFICATE REQUEST-----\n${body}\n-----END CERTIFICATE REQUEST-----\n`,
  };
}
