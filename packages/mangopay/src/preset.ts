// Steps 1 and 2 of Mangopay's guide: a new RSA 2048 key, and a CSR with subject
// `CN=<ClientId>.sandbox.mangopay.com, O=Mangopay, C=LU` in that order (`.prod.` in production), SAN
// DNS of the same name and extendedKeyUsage=clientAuth. The preset is data (the CLI's `init` prints
// and uses it); createMangopayCsr builds the key and the CSR from it.
import { generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { MtlsError } from '@mtlskit/core';
import { type CsrRequest, createCsr } from './csr.js';
import {
  COUNTRY,
  checkIdentity,
  MANGOPAY_BASE_URLS,
  type MangopayIdentity,
  mangopayCertificateName,
  ORGANIZATION,
} from './environment.js';

/** Everything Mangopay's guide fixes for one ClientId and environment. */
export interface MangopayCsrPreset extends CsrRequest {
  /** `<ClientId>.sandbox.mangopay.com` or `<ClientId>.prod.mangopay.com`: the CN and the SAN. */
  commonName: string;
  /** `CN=…, O=Mangopay, C=LU`, as OpenSSL prints it. */
  subjectText: string;
  /** `/CN=…/O=Mangopay/C=LU`, for `openssl req -subj` (under Git Bash, with `MSYS_NO_PATHCONV=1`). */
  opensslSubject: string;
  /** The key the guide asks for. */
  key: { type: 'rsa'; modulusLength: 2048 };
  /** The guide's OpenSSL commands, for those who make the key and CSR themselves. */
  opensslCommands: readonly string[];
  /** The mTLS base URL of the environment. */
  baseUrl: string;
  /** Mangopay issues certificates valid for this many days (12 months). */
  validityDays: 365;
}

/** The CSR subject, SAN, EKU and key Mangopay expects for a ClientId and environment. */
export function mangopayCsrPreset(identity: MangopayIdentity): MangopayCsrPreset {
  const { clientId, environment } = checkIdentity(identity);
  const commonName = mangopayCertificateName({ clientId, environment });
  const opensslSubject = `/CN=${commonName}/O=${ORGANIZATION}/C=${COUNTRY}`;
  return {
    commonName,
    subject: [
      ['CN', commonName],
      ['O', ORGANIZATION],
      ['C', COUNTRY],
    ],
    subjectText: `CN=${commonName}, O=${ORGANIZATION}, C=${COUNTRY}`,
    opensslSubject,
    dnsNames: [commonName],
    extendedKeyUsage: ['clientAuth'],
    key: { type: 'rsa', modulusLength: 2048 },
    opensslCommands: [
      'openssl genrsa -out private.key 2048',
      `MSYS_NO_PATHCONV=1 openssl req -new -key private.key -out request.csr -subj "${opensslSubject}" -addext "subjectAltName=DNS:${commonName}" -addext "extendedKeyUsage=clientAuth"`,
    ],
    baseUrl: MANGOPAY_BASE_URLS[environment],
    validityDays: 365,
  };
}

/** A new key and its CSR, ready to submit to Mangopay. */
export interface MangopayCsr {
  /** The PKCS#10 request, PEM. Safe to share. */
  csrPem: string;
  /** The private key (keep it: store it with the certificate Mangopay issues). */
  privateKey: KeyObject;
  preset: MangopayCsrPreset;
}

const generateRsa = promisify(generateKeyPair);

/**
 * Steps 1 and 2: a new RSA 2048 private key (or `privateKey`, if you bring one) and the CSR Mangopay
 * expects for the ClientId and environment. A renewal starts from a new key: leave `privateKey` out.
 */
export async function createMangopayCsr(
  options: MangopayIdentity & { privateKey?: KeyObject },
): Promise<MangopayCsr> {
  const preset = mangopayCsrPreset(options);
  let privateKey = options.privateKey;
  if (privateKey === undefined) {
    privateKey = (await generateRsa('rsa', { modulusLength: 2048 })).privateKey;
  } else if (
    privateKey.asymmetricKeyType !== 'rsa' ||
    privateKey.asymmetricKeyDetails?.modulusLength !== 2048
  ) {
    throw new MtlsError(
      'INVALID_OPTION',
      `Mangopay's guide asks for an RSA 2048 key; the key given is ${String(privateKey.asymmetricKeyType).toUpperCase()} ${privateKey.asymmetricKeyDetails?.modulusLength ?? ''}. Leave privateKey out to have one generated.`.replace(
        ' .',
        '.',
      ),
    );
  }
  return { csrPem: createCsr(preset, privateKey), privateKey, preset };
}
