import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import {
  PolicyUnavailableError,
  type PolicyClient,
  type PolicyDecision,
  type PolicyRequest,
} from '../lambda/policy-contract.ts';

/**
 * Reaches the policy function through Lambda Invoke. A function error (the
 * handler threw, or Lambda timed it out) comes back as a 200 with
 * `FunctionError` set; a throttle, a network failure or the client's own
 * timeout as an exception. All of them mean "no decision".
 */
export class LambdaPolicyClient implements PolicyClient {
  constructor(
    private readonly client: LambdaClient,
    private readonly functionName: string,
  ) {}

  async decide<R extends PolicyRequest>(request: R): Promise<PolicyDecision<R>> {
    let payload: Uint8Array | undefined;
    try {
      const out = await this.client.send(
        new InvokeCommand({
          FunctionName: this.functionName,
          InvocationType: 'RequestResponse',
          Payload: new TextEncoder().encode(JSON.stringify(request)),
        }),
      );
      if (out.FunctionError) {
        throw new Error(`policy function error (${out.FunctionError}): ${errorType(out.Payload)}`);
      }
      payload = out.Payload;
    } catch (error) {
      throw new PolicyUnavailableError(error);
    }
    return JSON.parse(new TextDecoder().decode(payload)) as PolicyDecision<R>;
  }
}

/** The error type of a function error payload; its message may quote input, so only the type is kept. */
function errorType(payload: Uint8Array | undefined): string {
  try {
    const parsed = JSON.parse(new TextDecoder().decode(payload)) as { errorType?: unknown };
    return typeof parsed.errorType === 'string' ? parsed.errorType : 'unknown';
  } catch {
    return 'unparseable';
  }
}
