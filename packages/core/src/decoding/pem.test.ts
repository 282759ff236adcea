// Text clean-up and PEM/Base64 reading: what storage does to PEM is undone, nothing else is accepted,
// and hostile text costs linear time.
import { describe, expect, test } from 'vitest';
import { decodeBase64, normaliseText, PemError, readPemBlocks, toPem } from './pem.js';

const DER = Buffer.from('300602010102010a', 'hex');
const PEM = toPem('CERTIFICATE', DER);

describe('normaliseText', () => {
  test.each([
    ['a BOM and surrounding whitespace', `\uFEFF \n${PEM}\n\t`],
    ['CRLF line ends', PEM.replace(/\n/g, '\r\n')],
    ['literal \\n escapes', PEM.replace(/\n/g, '\\n')],
    ['literal \\r\\n escapes', PEM.replace(/\n/g, '\\r\\n')],
    ['JSON string quoting', JSON.stringify(PEM)],
  ])('undoes %s', (_name, text) => {
    expect(normaliseText(text)).toBe(PEM.trim());
  });
});

describe('decodeBase64', () => {
  test('reads standard and URL-safe Base64, with or without padding and line breaks', () => {
    const bytes = Buffer.from([0xfb, 0xff, 0xbf, 0x01]);
    expect(decodeBase64('+/+/AQ==')).toEqual(bytes);
    expect(decodeBase64('-_-_AQ')).toEqual(bytes);
    expect(decodeBase64('+/+/\r\nAQ==\n')).toEqual(bytes);
  });

  test.each([['hello world!'], ['abc*'], ['a'], ['AQ=A'], ['+/-_'], ['']])('refuses %j', (text) => {
    expect(decodeBase64(text)).toBeUndefined();
  });
});

describe('readPemBlocks', () => {
  test('reads blocks among other text, with RFC 1421 headers', () => {
    const key =
      '-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00112233445566778899AABBCCDDEEFF\n\nAQID\n-----END RSA PRIVATE KEY-----\n';
    const blocks = readPemBlocks(`Bag Attributes\n  friendlyName: x\n${PEM}subject=CN = x\n${key}`);
    expect(blocks.map((b) => b.label)).toEqual(['CERTIFICATE', 'RSA PRIVATE KEY']);
    expect(blocks[0]?.der).toEqual(DER);
    expect(blocks[1]?.headers.get('dek-info')).toBe('AES-256-CBC,00112233445566778899AABBCCDDEEFF');
    expect(blocks[1]?.der).toEqual(Buffer.from([1, 2, 3]));
  });

  test.each([
    ['a block without END line', PEM.slice(0, 40), 'truncated'],
    ['a block cut off before the next one', PEM.slice(0, 40) + PEM, 'truncated'],
    ['an END line of another type', PEM.replace('END CERTIFICATE', 'END PRIVATE KEY'), 'mismatched'],
    ['a body that is not Base64', PEM.replace(/\n[^-].*\n/, '\n**not base64**\n'), 'bad-base64'],
  ])('refuses %s', (_name, text, reason) => {
    expect(() => readPemBlocks(text)).toThrow(PemError);
    try {
      readPemBlocks(text);
    } catch (err) {
      expect((err as PemError).reason).toBe(reason);
    }
  });

  test('takes linear time on a megabyte of BEGIN lines without END', () => {
    const hostile = '-----BEGIN CERTIFICATE-----\n'.repeat(37_000);
    const started = performance.now();
    expect(() => readPemBlocks(hostile)).toThrow(PemError);
    expect(performance.now() - started).toBeLessThan(200);
  });
});
