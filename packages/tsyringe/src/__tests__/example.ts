import 'reflect-metadata';
import type { TlsResolver } from '@mtlskit/core';
import { injectTlsResolver, registerTlsResolvers } from '@mtlskit/tsyringe';
import { type DependencyContainer, inject, injectable } from 'tsyringe';

export const PAYMENTS_URL = Symbol('PAYMENTS_URL');

/** Calls the payments API with the tenant's client certificate. */
@injectable()
export class PaymentsClient {
  constructor(
    @injectTlsResolver() private readonly tls: TlsResolver,
    @inject(PAYMENTS_URL) private readonly baseUrl: string,
  ) {}

  async payout(id: string): Promise<unknown> {
    const response = await this.tls.fetch(`${this.baseUrl}/payouts/${encodeURIComponent(id)}`);
    if (!response.ok) throw new Error(`payouts answered ${response.status}`);
    return response.json();
  }
}

/** One child container per tenant, holding the tenant's credential; dispose it to close it. */
export function tenantScope(
  root: DependencyContainer,
  tenant: { credential: string; baseUrl: string },
): DependencyContainer {
  const scope = root.createChildContainer();
  registerTlsResolvers(scope, { default: tenant.credential });
  scope.register(PAYMENTS_URL, { useValue: tenant.baseUrl });
  return scope;
}
