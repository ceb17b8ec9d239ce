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
 *   3. `confirmSession` when the relay learnt (from the users table's change
 *      feed) that something about the session's user changed, or could not
 *      learn it: at the next MAIL FROM and again before handing a message to
 *      SES. It asks whether the session may go on, and for the user's profile
 *      as it is now. The relay never answers it from a cache.
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
export const POLICY_CONTRACT_VERSION = 2;

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

export interface ConfirmSessionRequest {
  readonly action: 'confirmSession';
  /** The login the session authenticated as (`UserProfile.login`). */
  readonly login: string;
  /** The client's IP address, for the user's allowed networks as they are now. */
  readonly clientAddress: string;
  /**
   * `UserProfile.passwordSetAt` of the permit the session got: the password it
   * logged in with. A different value now means an operator set a new password.
   */
  readonly passwordSetAt: string;
}

export type PolicyRequest = AuthenticateRequest | AuthorizeSenderRequest | ConfirmSessionRequest;

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
  /** SES message tags to attach to this user's mail. */
  readonly messageTags?: Readonly<Record<string, string>>;
  /** Sending limits of this user; absent members fall back to the relay's defaults. */
  readonly limits?: { readonly messagesPerMinute?: number; readonly recipientsPerDay?: number };
  /**
   * The user is throttled (reputation guard or operator): their messages per
   * minute are at most this, whatever `limits` or the relay's default say.
   */
  readonly throttle?: { readonly messagesPerMinute: number };
  /**
   * When the password this permit was decided on was set (an opaque stamp, compared
   * for equality only): the relay hands it back in `confirmSession`.
   */
  readonly passwordSetAt?: string;
}

/**
 * A suspended user with the right password: the one refusal that tells the
 * client something, because only the account's owner can cause it and they
 * need to know whom to ask. `text` is the restriction's reason (human text set
 * by the reputation guard or an operator); the relay makes it safe for a reply.
 */
export interface SuspendedDecision {
  readonly verdict: 'reject';
  readonly reason: 'suspended';
  readonly text: string;
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
    }
  | SuspendedDecision;

/** How the sender was found to belong to the user; for logs, never shown to the client. */
export type SenderGrantKind = 'login' | 'address' | 'alias' | 'domain';

export type AuthorizeSenderDecision =
  | { readonly verdict: 'permit'; readonly via: SenderGrantKind }
  | { readonly verdict: 'reject'; readonly reason: 'not-owned' };

export type ConfirmSessionDecision =
  /** The session goes on, with the user's profile as it is now (limits, configuration set, tags). */
  | { readonly verdict: 'permit'; readonly user: UserProfile }
  /**
   * The session's credentials no longer hold: the user was disabled or
   * removed, an operator set a new password, or the client address is no
   * longer in the user's allowed networks.
   */
  | { readonly verdict: 'reject'; readonly reason: 'disabled' | 'removed' | 'password-changed' | 'network' }
  | SuspendedDecision;

/** The decision type for each request type. */
export type PolicyDecision<R extends PolicyRequest> = R extends AuthenticateRequest
  ? AuthenticateDecision
  : R extends AuthorizeSenderRequest
    ? AuthorizeSenderDecision
    : ConfirmSessionDecision;

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
