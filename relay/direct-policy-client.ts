import {
  PolicyUnavailableError,
  type PolicyClient,
  type PolicyDecision,
  type PolicyRequest,
} from '../lambda/policy-contract.ts';

/**
 * Calls the policy handler in this process: the local stack and tests run the
 * very code the Lambda runs, without the Invoke round trip.
 */
export class DirectPolicyClient implements PolicyClient {
  constructor(private readonly handler: (event: unknown) => Promise<unknown>) {}

  async decide<R extends PolicyRequest>(request: R): Promise<PolicyDecision<R>> {
    try {
      return (await this.handler(request)) as PolicyDecision<R>;
    } catch (error) {
      throw new PolicyUnavailableError(error);
    }
  }
}
