import { authenticate } from './authenticate.ts';
import { authorizeSender } from './authorize-sender.ts';
import { confirmSession } from './confirm-session.ts';
import type { PolicyDecision, PolicyRequest } from './policy-contract.ts';
import { policyRequestSchema } from './policy-request-schema.ts';
import type { UserStore } from './user-store.ts';

/** Thrown for a request that does not match the contract; its text never quotes the request. */
export class InvalidPolicyRequestError extends Error {
  constructor(fields: string) {
    super(`invalid policy request (${fields})`);
    this.name = 'InvalidPolicyRequestError';
  }
}

/**
 * The policy function's logic, independent of how it is reached: the Lambda
 * entry calls it, and so does the local direct client.
 */
export function createPolicyHandler(store: UserStore) {
  return async function decide(event: unknown): Promise<PolicyDecision<PolicyRequest>> {
    const parsed = policyRequestSchema.safeParse(event);
    if (!parsed.success) {
      // Name the offending fields only: the values may hold a password.
      throw new InvalidPolicyRequestError(parsed.error.issues.map((issue) => issue.path.join('.')).join(', '));
    }
    const request = parsed.data;
    switch (request.action) {
      case 'authenticate':
        return authenticate(store, request);
      case 'authorizeSender':
        return authorizeSender(store, request);
      case 'confirmSession':
        return confirmSession(store, request);
    }
  };
}
