// The `azure-kv:` reference grammar: `azure-kv://VAULT/SECRET[/VERSION]`, VAULT a vault name
// (`https://NAME.vault.azure.net`) or, when it contains a dot, a host (sovereign clouds, private
// DNS); `vaultUrl=` overrides it. Grammar only: this module never loads the Azure SDK, so core can
// parse and check a reference without it (exported as `@mtlskit/azure/scheme`).
import { defineScheme, type ReferenceCursor } from '@mtlskit/core/adapter';

/** What an `azure-kv:` reference names. */
export interface AzureKvTarget {
  /** The vault as written: a name (`myvault`) or a host (`myvault.vault.azure.cn`); '' when only `vaultUrl` says. */
  vault: string;
  /** Where requests go: `vaultUrl=`, `https://NAME.vault.azure.net`, or `https://HOST`. No trailing slash. */
  vaultUrl: string;
  /** The secret's name (a certificate's secret has the certificate's name). */
  secret: string;
  /** Absent: the newest version. */
  version?: string;
}

const FORM = 'azure-kv://VAULT/SECRET[/VERSION]';
/** Key Vault names: 3-24 letters, digits and single hyphens, starting with a letter, not ending with a hyphen. */
export const VAULT_NAME = /^[A-Za-z](?!.*--)[A-Za-z0-9-]{1,22}[A-Za-z0-9]$/;
/** A host name with at least one dot, and an optional port. */
export const VAULT_HOST =
  /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+(:\d{1,5})?$/;
/** Secret names: 1-127 letters, digits and hyphens. */
export const SECRET_NAME = /^[A-Za-z0-9-]{1,127}$/;
/** Versions: Key Vault assigns 32 hexadecimal digits. */
export const SECRET_VERSION = /^[A-Za-z0-9]{1,64}$/;

/** `https://NAME.vault.azure.net` for a vault name, `https://HOST` for a host. */
export function vaultUrlOf(vault: string): string {
  return vault.includes('.') ? `https://${vault}` : `https://${vault}.vault.azure.net`;
}

function build(c: ReferenceCursor): AzureKvTarget {
  c.requireSlashes(FORM);
  // The vault may be empty when vaultUrl= says where it is: azure-kv:///SECRET?vaultUrl=...
  const parts = c.path.split('/');
  const vault = parts[0] ?? '';
  const rest = parts.slice(1);
  const vaultUrlOption = c.options.vaultUrl;
  if (rest.length < 1 || rest.length > 2 || rest.some((p) => p === '')) {
    throw c.pathProblem(`"${c.path}" is not VAULT/SECRET or VAULT/SECRET/VERSION`, `Write ${FORM}.`);
  }
  const [secret, version] = rest as [string, string | undefined];
  if (vault === '') {
    if (vaultUrlOption === undefined) {
      throw c.pathProblem('the vault is missing', `Write ${FORM}, or give vaultUrl=.`, 0, 1);
    }
  } else if (vault.includes('.')) {
    if (!VAULT_HOST.test(vault)) {
      throw c.pathProblem(
        `"${vault}" is not a host name`,
        'Write a vault name or its host.',
        0,
        vault.length,
      );
    }
  } else if (!VAULT_NAME.test(vault)) {
    throw c.pathProblem(
      `"${vault}" is not a Key Vault name`,
      'A vault name has 3-24 letters, digits and single hyphens, starting with a letter; a host contains a dot.',
      0,
      vault.length,
    );
  }
  if (!SECRET_NAME.test(secret)) {
    throw c.pathProblem(
      `"${secret}" is not a Key Vault secret name`,
      'Secret names have 1-127 letters, digits and hyphens.',
      vault.length + 1,
      secret.length,
    );
  }
  if (version !== undefined && !SECRET_VERSION.test(version)) {
    throw c.pathProblem(
      `"${version}" is not a Key Vault secret version`,
      'A version is the 32-character id Key Vault assigned.',
      vault.length + secret.length + 2,
      version.length,
    );
  }
  const vaultUrl = vaultUrlOption !== undefined ? vaultUrlOption.replace(/\/+$/, '') : vaultUrlOf(vault);
  return { vault, vaultUrl, secret, ...(version !== undefined && { version }) };
}

/** The `azure-kv:` scheme: its grammar and its one option table. */
export const azureKvScheme = defineScheme<'azure-kv', AzureKvTarget>({
  scheme: 'azure-kv',
  packageName: '@mtlskit/azure',
  slashes: true,
  form: 'azure-kv://VAULT/SECRET[/VERSION][?options]',
  summary:
    'Azure Key Vault: VAULT is a vault name (`NAME.vault.azure.net`) or, when it contains a dot, a host. A bundle, or the secret behind a Key Vault certificate (PFX or PEM).',
  options: {
    vaultUrl: {
      type: 'url',
      description: 'The vault URL, overriding VAULT (private endpoints, emulators).',
    },
    timeoutMs: {
      type: 'integer',
      description:
        'Deadline of each Key Vault call in milliseconds, SDK retries and token requests included.',
      default: 10_000,
      min: 1,
    },
    passphrase: {
      type: 'reference',
      description:
        'A reference to the passphrase of an encrypted key or PKCS#12, e.g. `env:MTLS_PASSPHRASE`.',
    },
    ca: {
      type: 'reference',
      description:
        'A reference to the CA certificates that verify the server, e.g. `file:/etc/ssl/api-ca.pem` (a certificate’s secret carries none).',
    },
  },
  build,
});
