// The HashiCorp Vault PKI CredentialSource: an `issuing` source, each load a new short-lived client
// certificate. In `sign` mode (the default) the key is made in this process and only a CSR goes to
// `MOUNT/sign/ROLE`; in `issue` mode Vault makes the key (`MOUNT/issue/ROLE`). When to mint the next
// certificate is the resolver's business (a fraction of the lifetime of the one it holds, which a
// role's max TTL may have made shorter than asked); the authentication is the KV source's.
import { X509Certificate } from 'node:crypto';
import {
  type CredentialSource,
  closedSourceError,
  MtlsError,
  type SourceContext,
} from '@mtlskit/core/adapter';
import { objectBody } from './client.js';
import { type CsrKeyType, createKeyAndCsr } from './csr.js';
import { invalidOption } from './errors.js';
import { openSession, type VaultSessionOptions } from './session.js';

/** Options of {@link vaultPkiSource}. */
export interface VaultPkiSourceOptions extends VaultSessionOptions {
  /** The PKI mount (`pki`, `pki_int`). */
  mount: string;
  /** The PKI role. */
  role: string;
  /** `sign` (default): the key is made here, a CSR is sent. `issue`: Vault makes the key. */
  mode?: 'sign' | 'issue';
  /** The certificate's common name (`common_name`). */
  commonName: string;
  /** DNS or e-mail subject alternative names (`alt_names`). */
  altNames?: readonly string[];
  /** IP subject alternative names (`ip_sans`). */
  ipSans?: readonly string[];
  /** URI subject alternative names (`uri_sans`). */
  uriSans?: readonly string[];
  /** Requested lifetime, a Vault duration (`72h`) or seconds; default the role's. The role's max TTL caps it. */
  ttl?: string | number;
  /** Key made in the process (`sign` only). Default `ec-p256`. */
  keyType?: CsrKeyType;
  /**
   * Also trust the top of the chain Vault returns (its `ca_chain`, else `issuing_ca`) as the CA of the
   * server: for a server whose certificate the same Vault PKI issues. Default false.
   */
  trustIssuingCa?: boolean;
  /** Other request parameters, passed to Vault as written (`exclude_cn_from_sans`, `other_sans`, `not_after`). */
  params?: Readonly<Record<string, string>>;
  /** The source id used in errors and logs. Default: the `vault-pki://` reference of these options. */
  id?: string;
}

/** An `issuing` CredentialSource over Vault PKI. Each load mints a certificate. */
export interface VaultPkiSource extends CredentialSource {
  readonly kind: 'issuing';
  close(): Promise<void>;
}

const KEY_TYPES: readonly CsrKeyType[] = ['ec-p256', 'rsa2048'];
const trimSlashes = (s: string) => s.replace(/^\/+|\/+$/g, '');

/** The `vault-pki://` reference these options stand for (secret-free). */
export function vaultPkiReferenceOf(options: VaultPkiSourceOptions): string {
  const query = [`common_name=${encodeURIComponent(options.commonName)}`];
  if (options.altNames?.length) query.push(`alt_names=${encodeURIComponent(options.altNames.join(','))}`);
  if (options.ttl !== undefined) query.push(`ttl=${options.ttl}`);
  if (options.keyType !== undefined) query.push(`key_type=${options.keyType}`);
  if (options.namespace !== undefined) query.push(`namespace=${options.namespace}`);
  return `vault-pki://${trimSlashes(options.mount)}/${options.mode ?? 'sign'}/${options.role}?${query.join('&')}`;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Splits Vault's chain into intermediates (sent with the leaf) and the top certificate (a trust anchor). */
function chainOf(data: Record<string, unknown>): { intermediates: string[]; top: string | undefined } {
  const listed = Array.isArray(data.ca_chain)
    ? data.ca_chain.filter((c): c is string => typeof c === 'string')
    : [];
  const pems = (
    listed.length > 0 ? listed : typeof data.issuing_ca === 'string' ? [data.issuing_ca] : []
  ).flatMap((c) => c.match(PEM_CERT) ?? []);
  const selfSigned = (pem: string) => {
    const cert = new X509Certificate(pem);
    return cert.subject === cert.issuer && cert.checkIssued(cert);
  };
  return { intermediates: pems.filter((p) => !selfSigned(p)), top: pems.at(-1) };
}

/**
 * An `issuing` CredentialSource minting client certificates from Vault PKI with node-vault, under
 * the same authentication as {@link vaultSource}. In sign mode the request body carries the CSR and
 * the names, never a key.
 */
export function vaultPkiSource(options: VaultPkiSourceOptions): VaultPkiSource {
  const mode = options.mode ?? 'sign';
  const id = options.id ?? vaultPkiReferenceOf(options);
  const mount = trimSlashes(options.mount ?? '');
  if (mount === '' || mount.split('/').some((s) => s === '' || s === '.' || s === '..')) {
    throw invalidOption(`mount "${options.mount}" is not a mount path: write e.g. "pki" or "pki_int"`, id);
  }
  if (!options.role || options.role.includes('/'))
    throw invalidOption(`role "${options.role}" is not a PKI role name`, id);
  if (mode !== 'sign' && mode !== 'issue')
    throw invalidOption(`mode must be sign or issue, got ${String(mode)}`, id);
  if (!options.commonName) throw invalidOption('commonName is required: the certificate’s common name', id);
  const keyType = options.keyType ?? 'ec-p256';
  if (!KEY_TYPES.includes(keyType))
    throw invalidOption(`keyType must be ${KEY_TYPES.join(' or ')}, got ${keyType}`, id);
  if (mode === 'issue' && options.keyType !== undefined) {
    throw invalidOption(
      'keyType applies to sign (a key made in the process); with issue, the Vault role decides',
      id,
    );
  }
  const session = openSession(options, id);
  const path = `${mount}/${mode}/${encodeURIComponent(options.role)}`;
  const ctx = {
    sourceId: id,
    action: `${mode} a certificate with role "${options.role}" (${path})`,
    endpoint: session.endpoint,
    // Vault answers 404 when nothing is mounted there (an unknown role is a 400 of its own).
    notFound: `Vault has nothing at ${path} — check that a PKI engine is mounted at "${mount}"${options.namespace === undefined ? '' : ` in namespace "${options.namespace}"`}`,
  };
  let closed = false;

  function request(csr: string | undefined): Record<string, unknown> {
    const body: Record<string, unknown> = {
      ...options.params,
      common_name: options.commonName,
      format: 'pem',
    };
    if (csr !== undefined) body.csr = csr;
    if (options.altNames?.length) body.alt_names = options.altNames.join(',');
    if (options.ipSans?.length) body.ip_sans = options.ipSans.join(',');
    if (options.uriSans?.length) body.uri_sans = options.uriSans.join(',');
    if (options.ttl !== undefined)
      body.ttl = typeof options.ttl === 'number' ? `${options.ttl}s` : options.ttl;
    return body;
  }

  return {
    id,
    kind: 'issuing',

    async load(ctxArg: SourceContext = {}) {
      const { signal } = ctxArg;
      signal?.throwIfAborted();
      if (closed) throw closedSourceError(id);
      const made =
        mode === 'sign'
          ? await createKeyAndCsr(keyType, {
              commonName: options.commonName,
              ...(options.altNames && { dnsNames: options.altNames }),
              ...(options.ipSans && { ipAddresses: options.ipSans }),
              ...(options.uriSans && { uris: options.uriSans }),
            })
          : undefined;
      const answer = objectBody(
        await session.send({ method: 'POST', path, body: request(made?.csrPem) }, ctx, signal),
        ctx,
      );
      const data = objectBody(answer.data, ctx);
      const key = made?.keyPem ?? (typeof data.private_key === 'string' ? data.private_key : undefined);
      if (typeof data.certificate !== 'string' || key === undefined) {
        throw new MtlsError(
          'MISSING_FIELD',
          `Vault's answer to ${path} has no ${typeof data.certificate !== 'string' ? 'certificate' : 'private_key'} — check the role and Vault's version`,
          { sourceId: id, field: typeof data.certificate !== 'string' ? 'cert' : 'key' },
        );
      }
      const { intermediates, top } = chainOf(data);
      return {
        cert: [data.certificate.trim(), ...intermediates].join('\n'),
        key,
        ...(options.trustIssuingCa && top !== undefined && { ca: top }),
        version: String(data.serial_number ?? ''),
        fetchedAt: new Date(),
      };
    },

    async close() {
      if (closed) return;
      closed = true;
      session.close();
    },
  };
}
