// The test CA: roots, intermediates and leaves made on the fly (no key material is ever committed),
// with the odd cases mtlskit must handle on demand — expired, not yet valid, no clientAuth, no EKU,
// any key type — and the leaf's key in every encoding users store it in.
import 'reflect-metadata'; // @peculiar/x509 2.x registers its parsers through tsyringe, which needs it
import { type KeyObject, X509Certificate as NodeX509Certificate, randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import {
  generateTestKey,
  signingAlgorithm,
  type TestKeyPair,
  type TestKeyType,
  traditionalType,
} from './keys.js';
import { type Pkcs12Options, writePkcs12 } from './pkcs12.js';

export type { TestKeyType } from './keys.js';

x509.cryptoProvider.set(webcrypto);

export interface IssueOptions {
  /** Default `ec-p256` (fast); `rsa2048` for Mangopay-like credentials. */
  keyType?: TestKeyType;
  /** Default `mtlskit test client` (`mtlskit test server` for issueServer). */
  commonName?: string;
  /** A full DN, e.g. `CN=x.sandbox.mangopay.com, O=Mangopay, C=LU`, encoded in the order written. Overrides commonName. */
  subject?: string;
  dnsNames?: string[];
  ipAddresses?: string[];
  /** Default: five minutes ago (clock skew), or a day before notAfter when notAfter is older than that. */
  notBefore?: Date;
  /** Default: a day after notBefore (or after now). Any window works: expired, not yet valid... */
  notAfter?: Date;
  /** notAfter as seconds from now; give this or notAfter, not both. */
  validForSeconds?: number;
  /** Default true for issueClient: EKU clientAuth. false: EKU serverAuth only. For issueServer, true adds clientAuth. */
  clientAuth?: boolean;
  /** false: no extended key usage extension at all. */
  eku?: false;
}

export interface CaOptions {
  commonName?: string;
  /** Default `ec-p256`. */
  keyType?: TestKeyType;
}

/** A certificate the test CA signed, without its key (see {@link TestCA.signCsr}). */
export interface SignedCert {
  /** The leaf only. */
  certPem: string;
  /** Leaf + intermediates, leaf first, no root: what a client sends. */
  fullChainPem: string;
  /** Intermediates only, leaf-first ('' when the issuer is the root). */
  chainPem: string;
  /** The root. */
  caPem: string;
  certDer: Buffer;
  /** As node:crypto's X509Certificate.fingerprint256 (colon-separated upper-case hex). */
  fingerprint256: string;
  /** The validity written in the certificate (whole seconds). */
  notBefore: Date;
  notAfter: Date;
}

export interface IssuedCert extends SignedCert {
  /** Unencrypted PKCS#8 PEM. */
  keyPem: string;
  /** Unencrypted PKCS#8 DER. */
  keyDer: Buffer;
  keyType: TestKeyType;
  /** The private key as node:crypto sees it. */
  privateKey: KeyObject;
  /** The leaf as node:crypto sees it. */
  x509: NodeX509Certificate;
  /** PKCS#1 (RSA) or SEC1 (EC), unencrypted; Ed25519 has no traditional form and gives PKCS#8. */
  traditionalKeyPem(): string;
  /** `-----BEGIN ENCRYPTED PRIVATE KEY-----` (PBES2, AES-256-CBC). */
  encryptedPkcs8Pem(passphrase: string): string;
  /** `Proc-Type: 4,ENCRYPTED` + `DEK-Info: AES-256-CBC,...` (RSA and EC; throws for Ed25519). */
  encryptedTraditionalPem(passphrase: string): string;
  /** A PKCS#12 file: `aes256` (default) in-process; `3des` and `legacy-rc2` need the openssl CLI. */
  pkcs12(passphrase: string, opts?: Pkcs12Options): Promise<Buffer>;
}

const FIVE_MINUTES = 5 * 60_000;
const ONE_DAY = 24 * 60 * 60_000;
const TEN_YEARS = 10 * 365 * ONE_DAY;

const OID_SUBJECT_ALT_NAME = '2.5.29.17';

function pemOf(cert: x509.X509Certificate): string {
  return `${cert.toString('pem').replace(/\r\n/g, '\n').trimEnd()}\n`;
}

// Positive, non-zero leading byte, 128 bits: unique per run without a counter.
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01;
  return bytes.toString('hex');
}

function subjectName(opts: { subject?: string; commonName?: string }, defaultCn: string): string | x509.Name {
  if (opts.subject !== undefined) return opts.subject;
  // An explicit UTF8String: x509's plain-string forms unescape quotes and backslashes, and the DN
  // string form splits on commas; a CN must reach the certificate exactly as given.
  return new x509.Name([{ CN: [{ utf8String: opts.commonName ?? defaultCn }] }]);
}

function validity(opts: IssueOptions, lifetimeMs: number): { notBefore: Date; notAfter: Date } {
  if (opts.notAfter !== undefined && opts.validForSeconds !== undefined) {
    throw new RangeError('give notAfter or validForSeconds, not both');
  }
  const now = Date.now();
  const requestedEnd =
    opts.notAfter?.getTime() ??
    (opts.validForSeconds === undefined ? undefined : now + opts.validForSeconds * 1000);
  const start =
    opts.notBefore?.getTime() ??
    (requestedEnd !== undefined && requestedEnd <= now - FIVE_MINUTES
      ? requestedEnd - ONE_DAY
      : now - FIVE_MINUTES);
  const end = requestedEnd ?? Math.max(start, now) + lifetimeMs;
  if (end <= start) {
    throw new RangeError(
      `notAfter (${new Date(end).toISOString()}) must be later than notBefore (${new Date(start).toISOString()})`,
    );
  }
  return { notBefore: new Date(start), notAfter: new Date(end) };
}

function keyUsageFor(rsa: boolean): x509.KeyUsageFlags {
  // RSA leaves also allow key encipherment, as OpenSSL-made client certificates usually do.
  return rsa
    ? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment
    : x509.KeyUsageFlags.digitalSignature;
}

function subjectAltNames(dnsNames: string[], ipAddresses: string[]): x509.Extension[] {
  const names: x509.JsonGeneralName[] = [
    ...dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...ipAddresses.map((value) => ({ type: 'ip' as const, value })),
  ];
  return names.length === 0 ? [] : [new x509.SubjectAlternativeNameExtension(names, false)];
}

function ekuFor(role: 'client' | 'server', opts: IssueOptions): x509.Extension[] {
  if (opts.eku === false) return [];
  const usages =
    role === 'client'
      ? [opts.clientAuth === false ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]
      : [
          x509.ExtendedKeyUsage.serverAuth,
          ...(opts.clientAuth === true ? [x509.ExtendedKeyUsage.clientAuth] : []),
        ];
  return [new x509.ExtendedKeyUsageExtension(usages, false)];
}

function leafExtensions(role: 'client' | 'server', opts: IssueOptions, rsa: boolean): x509.Extension[] {
  return [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(keyUsageFor(rsa), true),
    ...ekuFor(role, opts),
  ];
}

function describeValidity(cert: NodeX509Certificate): { notBefore: Date; notAfter: Date } {
  return { notBefore: new Date(cert.validFrom), notAfter: new Date(cert.validTo) };
}

class IssuedLeaf implements IssuedCert {
  readonly certPem: string;
  readonly fullChainPem: string;
  readonly chainPem: string;
  readonly caPem: string;
  readonly certDer: Buffer;
  readonly fingerprint256: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly keyPem: string;
  readonly keyDer: Buffer;
  readonly keyType: TestKeyType;
  readonly privateKey: KeyObject;
  readonly x509: NodeX509Certificate;
  readonly #chainDer: Buffer[];
  readonly #rootDer: Buffer;

  constructor(signed: SignedCert & { chainDer: Buffer[]; rootDer: Buffer }, key: TestKeyPair) {
    this.certPem = signed.certPem;
    this.fullChainPem = signed.fullChainPem;
    this.chainPem = signed.chainPem;
    this.caPem = signed.caPem;
    this.certDer = signed.certDer;
    this.fingerprint256 = signed.fingerprint256;
    this.notBefore = signed.notBefore;
    this.notAfter = signed.notAfter;
    this.keyType = key.keyType;
    this.privateKey = key.privateKey;
    this.keyDer = key.pkcs8Der;
    this.keyPem = key.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    this.x509 = new NodeX509Certificate(signed.certDer);
    this.#chainDer = signed.chainDer;
    this.#rootDer = signed.rootDer;
  }

  traditionalKeyPem(): string {
    const type = traditionalType(this.keyType);
    return type === undefined ? this.keyPem : (this.privateKey.export({ type, format: 'pem' }) as string);
  }

  encryptedPkcs8Pem(passphrase: string): string {
    return this.privateKey.export({
      type: 'pkcs8',
      format: 'pem',
      cipher: 'aes-256-cbc',
      passphrase,
    }) as string;
  }

  encryptedTraditionalPem(passphrase: string): string {
    const type = traditionalType(this.keyType);
    if (type === undefined) {
      throw new Error(
        `${this.keyType} keys have no traditional (Proc-Type: 4,ENCRYPTED) form: use encryptedPkcs8Pem() instead`,
      );
    }
    return this.privateKey.export({ type, format: 'pem', cipher: 'aes-256-cbc', passphrase }) as string;
  }

  pkcs12(passphrase: string, opts: Pkcs12Options = {}): Promise<Buffer> {
    const friendlyName = opts.friendlyName ?? this.x509.subject.match(/^CN=(.*)$/m)?.[1] ?? 'mtlskit test';
    return writePkcs12(
      {
        keyDer: this.keyDer,
        certDer: this.certDer,
        chainDer: this.#chainDer,
        rootDer: this.#rootDer,
        friendlyName,
      },
      passphrase,
      opts,
    );
  }
}

/**
 * A certificate authority for tests: a root from {@link TestCA.create}, sub-CAs from
 * {@link TestCA.intermediate}, client and server leaves from {@link TestCA.issueClient} /
 * {@link TestCA.issueServer}. Every key is generated in memory for the run.
 */
export class TestCA {
  readonly commonName: string;
  readonly keyType: TestKeyType;
  /** This CA's certificate (root or intermediate). */
  readonly certPem: string;
  /** The root at the top. */
  readonly rootPem: string;
  /** Intermediates from this CA up to (excluding) the root, leaf-first order; '' for a root. */
  readonly chainPem: string;
  readonly #key: TestKeyPair;
  readonly #cert: x509.X509Certificate;
  readonly #keyId: string;
  /** DERs of this CA and its parents, excluding the root, this CA first. */
  readonly #chainDer: Buffer[];
  readonly #rootDer: Buffer;

  private constructor(
    commonName: string,
    key: TestKeyPair,
    cert: x509.X509Certificate,
    keyId: string,
    parent: TestCA | undefined,
  ) {
    this.commonName = commonName;
    this.keyType = key.keyType;
    this.#key = key;
    this.#cert = cert;
    this.#keyId = keyId;
    this.certPem = pemOf(cert);
    const der = Buffer.from(cert.rawData);
    if (parent === undefined) {
      this.#chainDer = [];
      this.#rootDer = der;
      this.rootPem = this.certPem;
      this.chainPem = '';
    } else {
      this.#chainDer = [der, ...parent.#chainDer];
      this.#rootDer = parent.#rootDer;
      this.rootPem = parent.rootPem;
      this.chainPem = this.certPem + parent.chainPem;
    }
  }

  /** A new self-signed root (default: EC P-256, CN `mtlskit test root CA`). */
  static async create(opts: CaOptions = {}): Promise<TestCA> {
    const commonName = opts.commonName ?? 'mtlskit test root CA';
    const key = await generateTestKey(opts.keyType ?? 'ec-p256');
    const ski = await x509.SubjectKeyIdentifierExtension.create(key.pair.publicKey);
    const now = Date.now();
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serialNumber(),
      name: subjectName({ commonName }, commonName),
      keys: key.pair,
      signingAlgorithm: signingAlgorithm(key.keyType),
      notBefore: new Date(now - ONE_DAY),
      notAfter: new Date(now + TEN_YEARS),
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        ski,
      ],
    });
    return new TestCA(commonName, key, cert, ski.keyId, undefined);
  }

  /** A sub-CA signed by this CA (default: EC P-256, CN `mtlskit test intermediate CA`). */
  async intermediate(opts: CaOptions = {}): Promise<TestCA> {
    const commonName = opts.commonName ?? 'mtlskit test intermediate CA';
    const key = await generateTestKey(opts.keyType ?? 'ec-p256');
    const ski = await x509.SubjectKeyIdentifierExtension.create(key.pair.publicKey);
    const now = Date.now();
    const cert = await this.#sign({
      subject: subjectName({ commonName }, commonName),
      publicKey: key.pair.publicKey,
      notBefore: new Date(now - ONE_DAY),
      notAfter: new Date(now + TEN_YEARS),
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        ski,
      ],
    });
    return new TestCA(commonName, key, cert, ski.keyId, this);
  }

  /** A client certificate and its new key (default: EC P-256, EKU clientAuth, valid from 5 minutes ago for a day). */
  issueClient(opts: IssueOptions = {}): Promise<IssuedCert> {
    return this.#issue('client', opts);
  }

  /** A server certificate and its new key (default SAN DNS:localhost + IP:127.0.0.1, EKU serverAuth). */
  issueServer(opts: IssueOptions = {}): Promise<IssuedCert> {
    const names =
      opts.dnsNames === undefined && opts.ipAddresses === undefined
        ? { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] }
        : {};
    return this.#issue('server', { ...names, ...opts });
  }

  /**
   * Signs a PKCS#10 request (as Vault PKI's `sign` endpoint does): the subject and SANs come from the
   * request unless `opts` gives them; the key stays with whoever made the request.
   */
  async signCsr(csrPem: string, opts: Omit<IssueOptions, 'keyType'> = {}): Promise<SignedCert> {
    const csr = new x509.Pkcs10CertificateRequest(csrPem);
    if (!(await csr.verify())) {
      throw new Error('the certificate signing request does not verify against its own public key');
    }
    const requestedSan = csr.getExtension(OID_SUBJECT_ALT_NAME);
    const sanFromOpts = opts.dnsNames !== undefined || opts.ipAddresses !== undefined;
    const rsa = csr.publicKey.algorithm.name.startsWith('RSA');
    const cert = await this.#sign({
      subject:
        opts.subject !== undefined || opts.commonName !== undefined ? subjectName(opts, '') : csr.subjectName,
      publicKey: csr.publicKey,
      ...validity(opts, ONE_DAY),
      extensions: [
        ...leafExtensions('client', opts, rsa),
        ...(sanFromOpts
          ? subjectAltNames(opts.dnsNames ?? [], opts.ipAddresses ?? [])
          : requestedSan
            ? [requestedSan]
            : []),
        await x509.SubjectKeyIdentifierExtension.create(csr.publicKey),
      ],
    });
    const { chainDer: _chainDer, rootDer: _rootDer, ...signed } = this.#describe(cert);
    return signed;
  }

  async #issue(role: 'client' | 'server', opts: IssueOptions): Promise<IssuedCert> {
    const key = await generateTestKey(opts.keyType ?? 'ec-p256');
    const cert = await this.#sign({
      subject: subjectName(opts, role === 'client' ? 'mtlskit test client' : 'mtlskit test server'),
      publicKey: key.pair.publicKey,
      ...validity(opts, ONE_DAY),
      extensions: [
        ...leafExtensions(role, opts, key.keyType.startsWith('rsa')),
        ...subjectAltNames(opts.dnsNames ?? [], opts.ipAddresses ?? []),
        await x509.SubjectKeyIdentifierExtension.create(key.pair.publicKey),
      ],
    });
    return new IssuedLeaf(this.#describe(cert), key);
  }

  #sign(params: {
    subject: string | x509.JsonName | x509.Name;
    publicKey: x509.PublicKeyType;
    notBefore: Date;
    notAfter: Date;
    extensions: x509.Extension[];
  }): Promise<x509.X509Certificate> {
    return x509.X509CertificateGenerator.create({
      serialNumber: serialNumber(),
      subject: params.subject,
      // The issuer's own encoded name, not a re-parsed string, so chain building matches byte for byte.
      issuer: this.#cert.subjectName,
      notBefore: params.notBefore,
      notAfter: params.notAfter,
      publicKey: params.publicKey,
      signingKey: this.#key.pair.privateKey,
      signingAlgorithm: signingAlgorithm(this.#key.keyType),
      extensions: [...params.extensions, new x509.AuthorityKeyIdentifierExtension(this.#keyId)],
    });
  }

  #describe(cert: x509.X509Certificate): SignedCert & { chainDer: Buffer[]; rootDer: Buffer } {
    const certPem = pemOf(cert);
    const certDer = Buffer.from(cert.rawData);
    const node = new NodeX509Certificate(certDer);
    return {
      certPem,
      fullChainPem: certPem + this.chainPem,
      chainPem: this.chainPem,
      caPem: this.rootPem,
      certDer,
      fingerprint256: node.fingerprint256,
      ...describeValidity(node),
      chainDer: this.#chainDer,
      rootDer: this.#rootDer,
    };
  }
}
