// Decoding: CredentialMaterial exactly as stored -> one leaf certificate, its chain, the private key
// and CA certificates. Each field is first recognised on its own (recognise.ts: PEM, Base64 of PEM or
// DER, DER bytes, PKCS#12, PKCS#7, a JSON bundle, PEM mangled by environment variables); then this
// module assembles the credential: fields from a JSON bundle, PKCS#12 files opened with the
// passphrase, the key, the leaf (the certificate the key belongs to) and its chain. Certificates
// unrelated to the leaf (a whole store exported, a CA bundle pasted after the key) are dropped with a
// warning that names them. Decoding only fails on what it cannot read; whether the result is
// *usable* (key match, dates, EKU, chain) is validation's job, so `mtlskit inspect` can report every
// problem at once.
import type { KeyObject, X509Certificate } from 'node:crypto';
import type { CredentialMaterial, Finding } from '../types.js';
import { type CredentialField, normaliseFieldName, type ResolvedPolicy } from '../validation/policy.js';
import { Asn1Error, type Asn1Node } from './asn1.js';
import { IterationBudget, PbeError } from './budget.js';
import { dedupe, keyMatches, pickLeaf, splitChain } from './chain.js';
import { type KeyDer, KeyError, type KeyItem, openKey } from './keys.js';
import { LIMITS } from './limits.js';
import { CodeNeeded, encryptedCode } from './on-demand.js';
import {
  addKey,
  type DecodeOptions,
  decodeUtf8,
  decodeValue,
  emptyItems,
  fail,
  fixFor,
  type Items,
  merge,
  parseCert,
  type Role,
  type Run,
  type Where,
} from './recognise.js';

export type { DecodeOptions } from './recognise.js';

/** What decoding found: readable, not yet validated. */
export interface DecodedMaterial {
  /** The client certificate: the one the key belongs to (or, when none is, the lowest of the chain). */
  readonly leaf: X509Certificate;
  /**
   * The leaf's issuers in order. When the chain is broken (an issuer missing between the leaf and the
   * certificates given), those follow, for validation to report; unrelated ones are dropped.
   */
  readonly chain: readonly X509Certificate[];
  readonly key: KeyObject;
  /** CA certificates to trust for the server. */
  readonly ca: readonly X509Certificate[];
  /** Warnings from decoding itself, e.g. a legacy PKCS#12. */
  readonly findings: readonly Finding[];
  /** The fields the leaf and the key were found in (`cert`, `key`, `pfx`, `bundle`), for findings. */
  readonly origin?: {
    readonly leaf: string;
    readonly key: string;
    /** How messages name those fields, e.g. "the bundle's `tls.crt`" (default: the field in backticks). */
    readonly labels?: { readonly leaf: string; readonly key: string; readonly ca: string };
  };
}

function passphraseText(value: unknown, where: Where, run: Run): string {
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) {
    const text = decodeUtf8(value);
    if (text !== undefined) return text;
  }
  fail('DECODE_FAILED', where, `${where.label} is not text.`, 'Store the passphrase as a UTF-8 string.', run);
}

/**
 * The candidates to try for a given passphrase: without a trailing newline first (read from a file,
 * the usual case), then as given. Each costs a key derivation.
 */
function passphraseCandidates(passphrase: string | undefined): string[] {
  if (passphrase === undefined) return [];
  const trimmed = passphrase.replace(/\r?\n$/, '');
  return trimmed === passphrase ? [passphrase] : [trimmed, passphrase];
}

interface FieldValues {
  cert?: unknown;
  key?: unknown;
  passphrase?: unknown;
  ca?: unknown;
  pfx?: unknown;
  bundleItems?: Items;
  /** Labels of the fields that came from a JSON bundle, for messages. */
  labels: Partial<Record<CredentialField, string>>;
}

/** Picks each field out of a JSON bundle, by configured name or alias. */
function fieldsFromJson(json: Record<string, unknown>, run: Run): FieldValues {
  const byName = new Map<string, string>();
  for (const k of Object.keys(json)) {
    const n = normaliseFieldName(k);
    if (!byName.has(n)) byName.set(n, k);
  }
  const out: FieldValues = { labels: {} };
  for (const field of Object.keys(run.policy.bundleNames) as CredentialField[]) {
    for (const name of run.policy.bundleNames[field]) {
      const key = byName.get(name);
      if (key !== undefined && json[key] !== undefined && json[key] !== null) {
        out[field] = json[key];
        out.labels[field] = `the bundle's \`${key}\``;
        break;
      }
    }
  }
  if (out.cert === undefined && out.key === undefined && out.pfx === undefined) {
    const keys = Object.keys(json)
      .slice(0, 12)
      .map((k) => (k.length > 40 ? `${k.slice(0, 40)}…` : k));
    fail(
      'MISSING_FIELD',
      { field: 'bundle', label: 'bundle' },
      `The JSON bundle has no certificate, key or PKCS#12 field (its keys: ${keys.join(', ') || 'none'}).`,
      'Name them cert/key/passphrase/ca (or certificate, private_key, tls.crt, tls.key, …), or map your names with policy.fields.',
      run,
    );
  }
  return out;
}

function collectFields(material: CredentialMaterial, run: Run): FieldValues {
  let fromBundle: FieldValues = { labels: {} };
  const contentType: unknown = material.contentType;
  if (contentType !== undefined && typeof contentType !== 'string') {
    fail(
      'DECODE_FAILED',
      { field: 'bundle', label: 'bundle' },
      `The contentType of the bundle is ${contentType === null ? 'null' : `a ${typeof contentType}`}, not text.`,
      'Give contentType as a string such as application/x-pkcs12 or application/x-pem-file, or leave it out.',
      run,
    );
  }
  if (material.bundle !== undefined) {
    const where: Where = {
      field: 'bundle',
      label: contentType ? `bundle (${contentType.slice(0, 60)})` : 'bundle',
    };
    const items = decodeValue(material.bundle, where, run);
    if (items.json) fromBundle = fieldsFromJson(items.json, run);
    else fromBundle.bundleItems = items;
  }
  // Fields given on their own take precedence over the same field inside a bundle.
  const pick = <F extends CredentialField>(f: F) => (material[f] !== undefined ? material[f] : fromBundle[f]);
  const labels: Partial<Record<CredentialField, string>> = {};
  for (const f of ['cert', 'key', 'passphrase', 'ca', 'pfx'] as const) {
    labels[f] = material[f] !== undefined ? `\`${f}\`` : (fromBundle.labels[f] ?? `\`${f}\``);
  }
  return {
    cert: pick('cert'),
    key: pick('key'),
    passphrase: pick('passphrase'),
    ca: pick('ca'),
    pfx: pick('pfx'),
    bundleItems: fromBundle.bundleItems,
    labels,
  };
}

function openPfx(node: Asn1Node, where: Where, passphrases: string[], run: Run, into: Items): void {
  // An unencrypted file has the empty password (or, in PKCS#12's own terms, none): tried last, so a
  // passphrase given for it is ignored rather than an error. Each candidate costs a full derivation.
  const candidates: (string | null)[] = [...new Set([...passphrases, '']), null];
  const { readPkcs12 } = encryptedCode();
  let contents: ReturnType<typeof readPkcs12>;
  try {
    contents = readPkcs12(node, candidates, { budget: run.budget, legacy: run.opts.legacy });
  } catch (err) {
    if (err instanceof PbeError) {
      if (err.reason === 'bad-decrypt') {
        if (passphrases.every((p) => p === '')) {
          fail(
            'WRONG_PASSPHRASE',
            where,
            `The PKCS#12 in ${where.label} is protected by a password and ${passphrases.length === 0 ? 'no passphrase was given' : 'the passphrase given is empty'}.`,
            'Set passphrase (MTLS_PASSPHRASE, or `passphrase` in the bundle) to the password the file was exported with.',
            run,
          );
        }
        fail(
          'WRONG_PASSPHRASE',
          where,
          `The passphrase does not open the PKCS#12 in ${where.label} (its integrity check fails: a wrong passphrase, or a damaged file).`,
          'Give the password the file was exported with; check for a trailing space or a passphrase meant for another file.',
          run,
        );
      }
      if (err.reason === 'limit') {
        fail(
          'DECODE_FAILED',
          where,
          `The PKCS#12 in ${where.label} was refused: ${err.message}.`,
          'Re-export it with a usual iteration count (OpenSSL uses 2048: `openssl pkcs12 -export -iter 2048 …`).',
          run,
        );
      }
      if (err.reason === 'unsupported') {
        fail(
          'DECODE_FAILED',
          where,
          `The PKCS#12 in ${where.label} uses ${err.message}, which mtlskit cannot read.`,
          'Re-export it with AES: `openssl pkcs12 -export -keypbe AES-256-CBC -certpbe AES-256-CBC …` (the OpenSSL 3 default).',
          run,
        );
      }
    }
    if (err instanceof Asn1Error || err instanceof PbeError) {
      fail(
        'DECODE_FAILED',
        where,
        `The PKCS#12 in ${where.label} is damaged (${err.message}).`,
        'Export the .p12/.pfx again, and store it as raw bytes or Base64 without editing.',
        run,
      );
    }
    throw err;
  }
  if (contents.legacy) {
    run.findings.push({
      code: 'LEGACY_PKCS12',
      severity: 'warning',
      field: where.field,
      message: `The PKCS#12 in ${where.label} uses legacy encryption (${[...new Set(contents.schemes)].join('; ')}) that OpenSSL 3 refuses by default.`,
      fix: 'Re-export it with AES: `openssl pkcs12 -legacy -in old.p12 -nodes | openssl pkcs12 -export -out new.p12` (OpenSSL 3 defaults to AES-256).',
    });
  }
  for (const der of contents.certs) parseCert(der, where, into, run);
  for (const der of contents.keys) addKey({ kind: 'pkcs8', der }, where, into, run);
}

function keyFailure(err: unknown, where: Where, run: Run): never {
  if (!(err instanceof KeyError)) throw err;
  switch (err.reason) {
    case 'needs-passphrase':
    case 'empty-passphrase':
      fail(
        'WRONG_PASSPHRASE',
        where,
        `The private key in ${where.label} is encrypted and needs a passphrase, but ${err.reason === 'empty-passphrase' ? 'the passphrase given is empty' : 'none was given'}.`,
        'Set passphrase (MTLS_PASSPHRASE, or `passphrase` in the bundle) to the key’s passphrase.',
        run,
      );
      break;
    case 'bad-decrypt':
      fail(
        'WRONG_PASSPHRASE',
        where,
        `The passphrase does not decrypt the private key in ${where.label} (a wrong passphrase, or a damaged key).`,
        'Give the passphrase the key was encrypted with; check for a trailing space or newline, or a passphrase meant for another key.',
        run,
      );
      break;
    case 'limit':
      fail(
        'DECODE_FAILED',
        where,
        `The private key in ${where.label} was refused: ${err.message}.`,
        'Re-encrypt it with usual settings: `openssl pkcs8 -topk8 -v2 aes-256-cbc -in key.pem`.',
        run,
      );
      break;
    case 'unsupported':
      fail(
        'DECODE_FAILED',
        where,
        `The private key in ${where.label} is encrypted with ${err.message}, which mtlskit cannot read.`,
        'Re-encrypt it with AES: `openssl pkcs8 -topk8 -v2 aes-256-cbc -in key.pem`.',
        run,
      );
      break;
    case 'key-type':
      fail(
        'DECODE_FAILED',
        where,
        `The private key in ${where.label} cannot be used: ${err.message}.`,
        'Use an RSA, EC or Ed25519 key and a certificate issued for it.',
        run,
      );
      break;
    default:
      fail(
        'DECODE_FAILED',
        where,
        `The private key in ${where.label} is damaged (${err.message}).`,
        'Store the key file exactly as generated; it may be truncated or edited.',
        run,
      );
  }
}

/** Checks that each field holds what its name promises, before any passphrase is spent. */
function checkRoles(items: Partial<Record<Role, Items>>, labels: Record<Role, string>, run: Run): void {
  const cert = items.cert;
  if (cert && cert.certs.length === 0 && cert.pfx.length === 0) {
    const where: Where = { field: 'cert', label: labels.cert };
    if (cert.keys.length > 0) {
      fail(
        'DECODE_FAILED',
        where,
        `${where.label} holds a private key, not a certificate.`,
        'Put the certificate (BEGIN CERTIFICATE) in cert and the private key in key — are the two swapped?',
        run,
      );
    }
    if (cert.csr) {
      fail(
        'DECODE_FAILED',
        where,
        `${where.label} holds a certificate signing request (CSR), not a certificate.`,
        'Submit the CSR to your provider and store the certificate it returns.',
        run,
      );
    }
    fail('DECODE_FAILED', where, `${where.label} holds no certificate.`, fixFor(where), run);
  }
  const key = items.key;
  if (key && key.keys.length === 0 && key.pfx.length === 0) {
    const where: Where = { field: 'key', label: labels.key };
    if (key.certs.length > 0) {
      fail(
        'DECODE_FAILED',
        where,
        `${where.label} holds a certificate, not a private key.`,
        'Put the private key (BEGIN PRIVATE KEY) in key and the certificate in cert — are the two swapped?',
        run,
      );
    }
    if (key.publicKey) {
      fail(
        'DECODE_FAILED',
        where,
        `${where.label} holds a public key, not a private key.`,
        'Store the private key the CSR was generated with (BEGIN PRIVATE KEY); a public key cannot sign.',
        run,
      );
    }
    fail('DECODE_FAILED', where, `${where.label} holds no private key.`, fixFor(where), run);
  }
  const ca = items.ca;
  if (ca && (ca.keys.length > 0 || ca.pfx.length > 0)) {
    fail(
      'DECODE_FAILED',
      { field: 'ca', label: labels.ca },
      `${labels.ca} holds a private key or PKCS#12; it takes only CA certificates.`,
      'Remove the key from it (and if that secret was shared, treat the key as exposed).',
      run,
    );
  }
  if (ca && ca.certs.length === 0) {
    fail(
      'CHAIN_INVALID',
      { field: 'ca', label: labels.ca },
      `${labels.ca} holds no certificate.`,
      fixFor({ field: 'ca', label: '' }),
      run,
    );
  }
}

/** Each field recognised on its own, with the labels messages name them by. */
interface Fields {
  items: Partial<Record<Role, Items>>;
  labels: Record<Role, string>;
  /** The passphrase candidates, in the order they are tried. */
  passphrases: string[];
}

/** Step 1: every field recognised (a JSON bundle split into its fields), and checked for its role. */
function recogniseFields(material: CredentialMaterial, run: Run): Fields {
  if (typeof material !== 'object' || material === null) {
    fail(
      'MISSING_FIELD',
      { field: 'cert', label: 'the material' },
      'No credential material was given.',
      'Pass an object with cert and key (or pfx, or bundle), or a CredentialSource.',
      run,
    );
  }
  const fields = collectFields(material, run);
  const labels: Record<Role, string> = {
    cert: fields.labels.cert ?? '`cert`',
    key: fields.labels.key ?? '`key`',
    passphrase: fields.labels.passphrase ?? '`passphrase`',
    ca: fields.labels.ca ?? '`ca`',
    pfx: fields.labels.pfx ?? '`pfx`',
    bundle: 'bundle',
  };
  const items: Partial<Record<Role, Items>> = {};
  for (const field of ['cert', 'key', 'pfx'] as const) {
    if (fields[field] !== undefined)
      items[field] = decodeValue(fields[field], { field, label: labels[field] }, run);
  }
  if (fields.ca !== undefined) {
    const values = Array.isArray(fields.ca) ? fields.ca : [fields.ca];
    const ca = emptyItems();
    values.forEach((v, i) => {
      const label = values.length > 1 ? `${labels.ca} (entry ${i + 1})` : labels.ca;
      merge(ca, decodeValue(v, { field: 'ca', label }, run));
    });
    items.ca = ca;
  }
  if (fields.bundleItems) items.bundle = fields.bundleItems;
  checkRoles(items, labels, run);
  const passphraseValue = run.policy.passphrase ?? fields.passphrase;
  const passphrases = passphraseCandidates(
    passphraseValue === undefined
      ? undefined
      : passphraseText(passphraseValue, { field: 'passphrase', label: labels.passphrase }, run),
  );
  return { items, labels, passphrases };
}

/** What the PKCS#12 files held, and the field each certificate and key was found in. */
interface Opened {
  items: Items;
  role: Map<X509Certificate | KeyItem, Role>;
}

/** Step 2: PKCS#12 files, wherever they were found, opened into certificates and keys of their own. */
function openPkcs12Files({ items, labels, passphrases }: Fields, run: Run): Opened {
  const opened: Opened = { items: emptyItems(), role: new Map() };
  for (const role of ['pfx', 'bundle', 'cert', 'key'] as const) {
    for (const node of items[role]?.pfx ?? []) {
      const one = emptyItems();
      openPfx(node, { field: role, label: labels[role] }, passphrases, run, one);
      for (const x of [...one.certs, ...one.keys]) opened.role.set(x, role);
      merge(opened.items, one);
    }
  }
  return opened;
}

/** Step 3: the candidate certificates for the leaf and its chain, and the keys to choose from. */
function pool(fields: Fields, pfx: Opened, run: Run) {
  const { items, labels } = fields;
  // The key: from `key` when given, else from the PKCS#12, the bundle, or a PEM in `cert` holding both.
  const keySources: [Role, KeyItem[]][] = [
    ['key', items.key?.keys ?? []],
    [pfx.items.keys[0] ? (pfx.role.get(pfx.items.keys[0]) ?? 'pfx') : 'pfx', pfx.items.keys],
    ['bundle', items.bundle?.keys ?? []],
    ['cert', items.cert?.keys ?? []],
  ];
  const [keyRole, keyItems] = keySources.find(([, list]) => list.length > 0) ?? ['key', []];
  const certs = dedupe([
    ...(items.cert?.certs ?? []),
    ...(items.bundle?.certs ?? []),
    ...pfx.items.certs,
    ...(items.key?.certs ?? []),
  ]);
  if (certs.length === 0) {
    fail(
      'MISSING_FIELD',
      { field: 'cert', label: labels.cert },
      'No client certificate was found: cert is absent and no bundle or PKCS#12 holds one.',
      'Store the certificate your provider issued in the cert field (with env: and default names, MTLS_CERT or MTLS_CERT_FILE), or a PKCS#12 in pfx.',
      run,
    );
  }
  if (keyItems.length === 0) {
    fail(
      'MISSING_FIELD',
      { field: 'key', label: labels.key },
      'No private key was found: key is absent and no bundle or PKCS#12 holds one.',
      'Store the private key the certificate was issued for in the key field (with env: and default names, MTLS_KEY or MTLS_KEY_FILE), or a PKCS#12 in pfx.',
      run,
    );
  }
  // The role a certificate was found in (a PKCS#12 counts as the field that held it).
  const roleOf = (c: X509Certificate): Role =>
    items.cert?.certs.includes(c)
      ? 'cert'
      : items.bundle?.certs.includes(c)
        ? 'bundle'
        : (pfx.role.get(c) ?? 'key');
  if (certs.length > LIMITS.maxChainCertificates) {
    // Ordering n certificates into a chain costs up to n² signature checks: refused before any.
    const roles = [...new Set(certs.map(roleOf))];
    const where: Where = { field: roles[0]!, label: roles.map((r) => labels[r]).join(' and ') };
    fail(
      'DECODE_FAILED',
      where,
      `${where.label} hold${roles.length > 1 ? '' : 's'} ${certs.length} different certificates for the client certificate and its chain, above mtlskit's limit of ${LIMITS.maxChainCertificates}.`,
      'Keep only the client certificate and the intermediates that issued it; CA certificates to trust belong in ca.',
      run,
    );
  }
  return { certs, keyRole, keyItems, roleOf };
}

/**
 * Step 4: the key. Several keys (a PKCS#12 with spares, a PEM with two): the first one a certificate
 * belongs to. Each may cost a key derivation, so opening stops at that one.
 */
function chooseKey(
  keyItems: readonly KeyItem[],
  certs: readonly X509Certificate[],
  where: Where,
  passphrases: string[],
  run: Run,
): KeyObject {
  const keys: KeyObject[] = [];
  const ders = new Map<KeyObject, KeyDer>();
  const want = run.opts.keyDer;
  const options = {
    budget: run.budget,
    legacy: run.opts.legacy,
    opened: want && ((key: KeyObject, source: KeyDer) => ders.set(key, source)),
  };
  const chosen = (key: KeyObject): KeyObject => {
    const source = ders.get(key);
    if (want !== undefined && source !== undefined) want(source);
    return key;
  };
  for (const item of keyItems) {
    let opened: KeyObject;
    try {
      opened = openKey(item, passphrases, options);
    } catch (err) {
      keyFailure(err, where, run);
    }
    keys.push(opened);
    if (certs.some((c) => keyMatches(c, opened))) return chosen(opened);
  }
  return chosen(keys[0]!);
}

/** How a certificate is named in a finding: its subject on one line, never its bytes. */
function subjectOf(cert: X509Certificate): string {
  return `"${cert.subject.replace(/\n/g, ', ')}"`;
}

function nameAll(certs: readonly X509Certificate[]): string {
  const shown = certs.slice(0, 5).map(subjectOf);
  return certs.length > 5 ? `${shown.join(', ')} and ${certs.length - 5} more` : shown.join(', ');
}

/**
 * Step 5, the chain: the leaf's own issuers. Certificates unrelated to it are dropped and named in an
 * UNRELATED_CERTIFICATES warning; those of a PKCS#12 that are CAs, and not trusted, in a
 * PFX_CA_NOT_TRUSTED warning too (Node's `pfx` option would trust them). A broken chain keeps its
 * leftovers, for validation's CHAIN_INVALID.
 */
function chainFor(
  leaf: X509Certificate,
  certs: readonly X509Certificate[],
  where: Where,
  pfx: Opened,
  ca: readonly X509Certificate[],
  run: Run,
): X509Certificate[] {
  const { path, rest, broken } = splitChain(leaf, certs);
  if (rest.length === 0 || broken) return [...path, ...rest];
  run.findings.push({
    code: 'UNRELATED_CERTIFICATES',
    severity: 'warning',
    field: where.field,
    message: `${where.label} holds ${rest.length === 1 ? 'a certificate' : `${rest.length} certificates`} outside the chain of the client certificate ${subjectOf(leaf)}: ${nameAll(rest)}. ${rest.length === 1 ? 'It is' : 'They are'} not sent to the server.`,
    fix: 'Keep only the client certificate and the intermediates that issued it (a store exported whole, or a CA bundle pasted after the key, brings others); CA certificates to trust for the server belong in ca.',
  });
  const untrusted = run.policy.pfxCaAsTrust
    ? []
    : rest.filter((c) => c.ca && pfx.items.certs.includes(c) && !ca.some((t) => t.raw.equals(c.raw)));
  if (untrusted.length > 0) {
    const role = pfx.role.get(untrusted[0]!) ?? 'pfx';
    run.findings.push({
      code: 'PFX_CA_NOT_TRUSTED',
      severity: 'warning',
      field: role,
      message: `The PKCS#12 in ${role === where.field ? where.label : `\`${role}\``} holds the CA ${untrusted.length === 1 ? 'certificate' : 'certificates'} ${nameAll(untrusted)}, outside the client certificate's chain: mtlskit does not trust ${untrusted.length === 1 ? 'it' : 'them'} for the server (Node's own \`pfx\` option would). If the server's certificate is issued under ${untrusted.length === 1 ? 'it' : 'one of them'}, requests fail with UNABLE_TO_VERIFY_LEAF_SIGNATURE or SELF_SIGNED_CERT_IN_CHAIN.`,
      fix: 'To trust a CA of the PKCS#12 for the server, set policy.pfxCaAsTrust (or give that CA as ca); otherwise remove it from the file.',
    });
  }
  return path;
}

/** The decode run itself; `opts.legacy` decides how RC2/DES are obtained. */
export function decodeWith(
  material: CredentialMaterial,
  policy: ResolvedPolicy,
  opts: DecodeOptions,
): DecodedMaterial {
  const run: Run = { policy, opts, budget: new IterationBudget(opts.derivations), findings: [] };
  const fields = recogniseFields(material, run);
  const { items, labels, passphrases } = fields;
  const pfx = openPkcs12Files(fields, run);
  const { certs, keyRole, keyItems, roleOf } = pool(fields, pfx, run);
  const keyWhere: Where = { field: keyRole, label: labels[keyRole] };
  const key = chooseKey(keyItems, certs, keyWhere, passphrases, run);
  const leaf = pickLeaf(certs, key)!;
  const leafRole = roleOf(leaf);
  const given = items.ca?.certs ?? [];
  const chain = chainFor(leaf, certs, { field: leafRole, label: labels[leafRole] }, pfx, given, run);
  // Trusting a PFX's CA certificates does not stop them being sent: the server still needs the
  // intermediates (Node's own `pfx` option does both too).
  const pfxCas = policy.pfxCaAsTrust ? pfx.items.certs.filter((c) => c.ca && c !== leaf) : [];
  const ca = dedupe([...given, ...pfxCas]);
  return {
    leaf,
    chain,
    key,
    ca,
    findings: run.findings,
    origin: {
      leaf: leafRole,
      key: keyRole,
      labels: { leaf: labels[leafRole], key: labels[keyRole], ca: labels.ca },
    },
  };
}

/**
 * {@link decodeWith}, loading the code rare material needs when it needs it — the PKCS#12 and
 * encrypted-key readers, then RC2/DES for a legacy file — and decoding again. Keys derived by a run
 * that stopped are kept in `opts.derivations` for the next, so no derivation is paid for twice.
 */
export async function decodeLoading(
  material: CredentialMaterial,
  policy: ResolvedPolicy,
  opts: DecodeOptions,
): Promise<DecodedMaterial> {
  // Each need is met once: the readers, then (reached only through them) the legacy ciphers.
  for (let loads = 0; ; loads++) {
    try {
      return decodeWith(material, policy, opts);
    } catch (err) {
      if (!(err instanceof CodeNeeded) || loads === 2) throw err;
      await err.load();
    }
  }
}
