/**
 * The contract between the relay front end (`relay/`) and the policy function
 * (`lambda/`). Both sides import these types and nothing else of each other.
 *
 * Call order, for one SMTP session:
 *   1. `authenticate` once, after the client sent AUTH over TLS. Nothing else is
 *      asked before it returned `permit`.
 *   2. `authorizeSender` for every MAIL FROM of the authenticated session. The
 *      relay never asks for the null sender `<>`: RFC 6409 3.2 lets every
 *      authenticated user send bounces.
 *
 * Transport: the request is the JSON payload of a Lambda Invoke (or the argument
 * of a direct call of the handler in local runs); the decision is the JSON result.
 * The function answers every question it could decide with a decision, including
 * refusals. It throws only when it could not decide (the store failed, the input
 * was malformed): the relay turns a function error or a timeout into a temporary
 * SMTP reply (`454 4.7.0`), never into a permission.
 *
 * Secrets: an `AuthenticateRequest` carries a password. Neither side ever logs a
 * request, and the function never echoes the password in an error.
 */

/** Version of the contract; a breaking change of the shapes below raises it. */
export const POLICY_CONTRACT_VERSION = 1;

/**
 * Name of the SES message tag that carries `UserProfile.userId` on every
 * message; the reputation function reads it back from SES's events. SES's tag
 * rules: up to 256 of A-Z a-z 0-9 _ - for names and values.
 */
export const RELAY_USER_TAG = 'relay-user';

export interface AuthenticateRequest {
  readonly action: 'authenticate';
  /** The SASL authentication identity as the client sent it (not yet normalised). */
  readonly login: string;
  /** The password as the client sent it. Never logged. */
  readonly password: string;
  /** The client's IP address as the relay saw it, for per-user network limits and logs. */
  readonly clientAddress: string;
}

export interface AuthorizeSenderRequest {
  readonly action: 'authorizeSender';
  /** The login a previous `authenticate` permitted (normalised form from `UserProfile.login`). */
  readonly login: string;
  /** The envelope sender of MAIL FROM, without angle brackets; never empty. */
  readonly sender: string;
}

export type PolicyRequest = AuthenticateRequest | AuthorizeSenderRequest;

/**
 * What the relay needs to know about an authenticated user for the rest of the
 * session. Settings that later issues add (limits, configuration set) are optional
 * members so that an older relay ignores them safely.
 */
export interface UserProfile {
  /** Normalised login: the address, domain lower-cased, local part lower-cased. */
  readonly login: string;
  /** SES configuration set to send this user's mail with, if the user has one. */
  readonly configurationSet?: string;
  /**
   * Stable, non-secret id of the user. The relay sends every message of the user
   * with the SES message tag `RELAY_USER_TAG` set to it (over any tag of the
   * user's own of that name), so that SES's events name the user. Absent only
   * for users made before ids existed.
   */
  readonly userId?: string;
  /** SES message tags to attach to this user's mail. */
  readonly messageTags?: Readonly<Record<string, string>>;
  /** Sending limits of this user; absent members fall back to the relay's defaults. */
  readonly limits?: { readonly messagesPerMinute?: number; readonly recipientsPerDay?: number };
}

export type AuthenticateDecision =
  | { readonly verdict: 'permit'; readonly user: UserProfile }
  /**
   * Unknown user, wrong password and disabled user all get this one answer, so
   * that nobody can tell which it was (no user enumeration).
   */
  | {
      readonly verdict: 'reject';
      readonly reason: 'invalid-credentials';
      /**
       * For the log only, never for the client: `network` when the password was
       * right but the client address is outside the user's allowed networks.
       */
      readonly detail?: 'network';
    };

/** How the sender was found to belong to the user; for logs, never shown to the client. */
export type SenderGrantKind = 'login' | 'address' | 'alias' | 'domain';

export type AuthorizeSenderDecision =
  | { readonly verdict: 'permit'; readonly via: SenderGrantKind }
  | { readonly verdict: 'reject'; readonly reason: 'not-owned' };

/** The decision type for each request type. */
export type PolicyDecision<R extends PolicyRequest> = R extends AuthenticateRequest
  ? AuthenticateDecision
  : AuthorizeSenderDecision;

/**
 * The one interface the relay reaches the policy through. Implementations: a Lambda
 * Invoke client (in AWS) and a direct call of the handler (local runs, tests).
 * Every implementation rejects its promise with `PolicyUnavailableError` when no
 * decision could be had, whatever the underlying cause.
 */
export interface PolicyClient {
  decide<R extends PolicyRequest>(request: R): Promise<PolicyDecision<R>>;
}

/** No decision could be had (function error, timeout, throttling, store failure). */
export class PolicyUnavailableError extends Error {
  constructor(
    /** Private cause, for the log only. */
    readonly cause: unknown,
    message = 'policy decision unavailable',
  ) {
    super(message);
    this.name = 'PolicyUnavailableError';
  }
}
