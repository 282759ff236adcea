// @mtlskit/mangopay: Mangopay's mTLS rules as code — the CSR the guide describes, the api-mtls base
// URLs, a check that a certificate is the one Mangopay expects for a ClientId and environment, and the
// wiring that gives Mangopay's Node SDK mtlskit's rotating keep-alive agent.

export type { BaseUrlCheck } from './base-url.js';
export { checkMangopayBaseUrl, environmentOfBaseUrl } from './base-url.js';
export type { CsrRequest, ExtendedKeyUsage, SubjectAttribute } from './csr.js';
export { createCsr } from './csr.js';
export type { MangopayEnvironment, MangopayIdentity } from './environment.js';
export {
  MANGOPAY_BASE_URLS,
  MANGOPAY_PLAIN_BASE_URLS,
  mangopayCertificateName,
  parseCertificateName,
} from './environment.js';
export type { CheckedCredentials, MangopayCheckOptions } from './identity.js';
export { checkMangopayIdentity, mangopayPolicy } from './identity.js';
export type { MangopayCsr, MangopayCsrPreset } from './preset.js';
export { createMangopayCsr, mangopayCsrPreset } from './preset.js';
export type { MangopayResolverOptions } from './resolver.js';
export { createMangopayResolver } from './resolver.js';
export type { AttachMangopayOptions, MangopaySdkOptions, MangopaySdkTlsConfig } from './sdk.js';
export { attachMangopay, mangopaySdkConfig } from './sdk.js';
