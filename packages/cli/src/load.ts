// Reading a credential for the CLI: from a reference (any scheme core or an installed adapter knows),
// a file or directory, or stdin. Unlike loadCredentials, a credential with errors is not thrown
// away: inspect must show the certificate *and* every finding, so decoding and validation run
// separately and all findings come back. A file holding only certificates is inspected too (expiry
// monitoring of a certificate whose key lives elsewhere).
import { generateKeyPairSync, type KeyObject, X509Certificate } from 'node:crypto';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type CredentialMaterial,
  type CredentialSource,
  type Finding,
  fileSource,
  MtlsError,
  sourceFromReference,
  type ValidationPolicy,
  validateCredentials,
} from '@mtlskit/core';
import { type AdapterImporter, createImporter, defaultImporter } from '@mtlskit/core/adapter';
import { decodeMaterial, loadMaterial } from '@mtlskit/core/decode';
import { type CliIo, pathFrom } from './io.js';

export interface LoadRequest {
  /** A reference (`env:`, `file:DIR`, `aws-sm://…`); default MTLS_SOURCE, else `env:`. */
  reference?: string;
  /** A file or directory path, or `-` for stdin; instead of a reference. */
  file?: string;
  /** A certificate file and a key file (and intermediates in a file of their own); instead of a reference. */
  pair?: { cert: string; key: string; chain?: string };
  /** Passphrase of an encrypted key or PKCS#12, when not in the material. */
  passphrase?: string;
  /** EXPIRING_SOON from this many days before notAfter. */
  warnDays: number;
  /** Read the pending version of a renewal (`check --pending`) instead of the current one. */
  pending?: boolean;
  /** The identity the certificate must carry (IDENTITY_MISMATCH otherwise). */
  expectedIdentity?: ValidationPolicy['expectedIdentity'];
}

export interface LoadedCredential {
  /** Where it came from, secret-free (`env:`, a path, `stdin`, the reference). */
  sourceId: string;
  sourceVersion: string | undefined;
  leaf: X509Certificate;
  chain: X509Certificate[];
  ca: X509Certificate[];
  /** Absent when the input held certificates only. */
  key: KeyObject | undefined;
  /** Every finding: errors (unusable) first, then warnings. */
  findings: Finding[];
  /** The material as loaded, for commands that go on to use it (check, convert). Never printed. */
  material: CredentialMaterial;
  /** The policy it was validated with (passphrase included). */
  policy: ValidationPolicy;
}

// The CLI's own node_modules is where `npm i -g @mtlskit/cli @mtlskit/aws` puts adapters.
const cliImporter: AdapterImporter = async (name) => {
  try {
    return await defaultImporter(name);
  } catch (err) {
    try {
      return await createImporter(dirname(fileURLToPath(import.meta.url)))(name);
    } catch {
      throw err;
    }
  }
};

/** The source a request names. Source warnings (e.g. a key file others can read) go to `warnings`. */
export async function sourceFor(req: LoadRequest, io: CliIo, warnings: Finding[]): Promise<CredentialSource> {
  const onWarning = (f: Finding) => warnings.push(f);
  if (req.file === '-') {
    const bytes = await io.readStdin();
    return { id: 'stdin', load: async () => ({ bundle: bytes }) };
  }
  if (req.file !== undefined) return fileSource({ path: pathFrom(io, req.file), id: req.file, onWarning });
  if (req.pair !== undefined) {
    const { cert, key, chain } = req.pair;
    const files = fileSource({
      cert: pathFrom(io, cert),
      key: pathFrom(io, key),
      id: `${cert} + ${key}`,
      onWarning,
    });
    if (chain === undefined) return files;
    // Intermediates kept apart are sent after the leaf: validated in order, like a chain in the cert file.
    const extra = fileSource({ cert: pathFrom(io, chain), key: pathFrom(io, key), id: chain });
    return {
      id: `${files.id} + ${chain}`,
      async load(ctx) {
        const [main, more] = await Promise.all([files.load(ctx), extra.load(ctx)]);
        return { ...main, cert: `${textOf(main.cert).trimEnd()}\n${textOf(more.cert)}` };
      },
    };
  }
  const source = await sourceFromReference(req.reference, { env: io.env, onWarning, importer: cliImporter });
  if (!req.pending) return source;
  const { pendingSource } = await import('./renewal.js');
  try {
    return { ...pendingSource(source), close: async () => source.close?.() };
  } catch (err) {
    await source.close?.();
    throw err;
  }
}

function textOf(value: unknown): string {
  return typeof value === 'string' ? value : Buffer.from(value as Uint8Array).toString('latin1');
}

/** Certificates in a PEM text or one DER certificate; empty when there are none. */
function certificatesIn(value: unknown): X509Certificate[] {
  if (typeof value !== 'string' && !(value instanceof Uint8Array)) return [];
  const text = typeof value === 'string' ? value : Buffer.from(value).toString('latin1');
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g);
  try {
    if (blocks) return blocks.map((b) => new X509Certificate(b));
    return typeof value === 'string' ? [] : [new X509Certificate(Buffer.from(value))];
  } catch {
    return [];
  }
}

/** Loads, decodes and validates, keeping every finding. Throws MtlsError when nothing can be shown. */
export async function loadForInspection(req: LoadRequest, io: CliIo): Promise<LoadedCredential> {
  const sourceWarnings: Finding[] = [];
  const source = await sourceFor(req, io, sourceWarnings);
  try {
    // Only vaults wait on the network; files and variables are read at once.
    if (req.file === undefined && req.pair === undefined && !/^(env|file):/.test(source.id)) {
      io.progress(`reading the credential from ${source.id}`);
    }
    const material = await loadMaterial(source);
    const policy: ValidationPolicy = {
      warnDays: req.warnDays,
      ...(req.passphrase !== undefined && { passphrase: req.passphrase }),
      ...(req.expectedIdentity !== undefined && { expectedIdentity: req.expectedIdentity }),
    };
    const base = { sourceId: source.id, sourceVersion: material.version, material, policy };
    let decoded: ReturnType<typeof decodeMaterial>;
    try {
      decoded = decodeMaterial(material, policy);
    } catch (err) {
      const certs = req.file !== undefined && MtlsError.is(err, 'MISSING_FIELD') && err.field === 'key';
      const found = certs ? certificatesIn(material.bundle) : [];
      if (found.length === 0) throw err;
      return { ...base, ...certificateOnly(found, policy) };
    }
    const findings = merge(validateCredentials(decoded, policy), sourceWarnings);
    return {
      ...base,
      leaf: decoded.leaf,
      chain: [...decoded.chain],
      ca: [...decoded.ca],
      key: decoded.key,
      findings,
    };
  } finally {
    await source.close?.();
  }
}

/**
 * Validation of certificates without their key: the checks that need no key (dates, usage, chain,
 * strength) run against a throwaway key, whose KEY_MISMATCH is then dropped.
 */
function certificateOnly(
  certs: X509Certificate[],
  policy: ValidationPolicy,
): Pick<LoadedCredential, 'leaf' | 'chain' | 'ca' | 'key' | 'findings'> {
  const [leaf, ...chain] = certs as [X509Certificate, ...X509Certificate[]];
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const findings = validateCredentials({ leaf, chain, key: privateKey, ca: [] }, policy).filter(
    (f) => f.code !== 'KEY_MISMATCH',
  );
  return { leaf, chain, ca: [], key: undefined, findings };
}

function merge(findings: Finding[], extra: Finding[]): Finding[] {
  const seen = new Set(findings.map((f) => `${f.code}\n${f.message}`));
  const all = [...findings, ...extra.filter((f) => !seen.has(`${f.code}\n${f.message}`))];
  return [...all.filter((f) => f.severity === 'error'), ...all.filter((f) => f.severity !== 'error')];
}
