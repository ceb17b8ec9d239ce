import { setTimeout as sleep } from 'node:timers/promises';
import type { SMTPServerAuthentication, SMTPServerAuthenticationResponse } from 'smtp-server';
import { parseMailAddress } from '../lambda/mail-address.ts';
import { PolicyUnavailableError, type PolicyClient } from '../lambda/policy-contract.ts';
import { MAX_LOGIN_LENGTH, MAX_PASSWORD_LENGTH } from '../lambda/policy-request-schema.ts';
import type { AuthPenalty } from './auth-penalty.ts';
import { printableEcho } from './printable-echo.ts';
import type { RelayLog } from './relay-log.ts';
import { SmtpError } from './smtp-error.ts';
import { suspendedReply } from './suspension-reply.ts';

export interface ClientAuthenticationOptions {
  readonly hostname: string;
  readonly policy: PolicyClient;
  readonly penalty: AuthPenalty;
  readonly log: RelayLog;
  /** Failed AUTHs one session may make before it is closed. */
  readonly maxFailuresPerSession: number;
  /**
   * The least time from the credentials' arrival to a 535. A decision costs
   * what the user's hash costs (none for an unknown user but the dummy scrypt,
   * another scheme for a user imported from Dovecot), and the store answers a
   * miss and a hit in different times: answering no refusal sooner than this
   * hides all of it, as long as a decision fits under it. A success is not
   * held back: its 235 says what its timing would.
   */
  readonly failureFloorMs: number;
  /** Whom a suspended user is told to ask (SUSPENSION_CONTACT). */
  readonly suspensionContact: string;
}

/** Who is asking, for the log and the penalty. */
export interface AuthAttempt {
  readonly sessionId: string;
  readonly clientAddress: string;
  /** Failed AUTHs earlier in this session. */
  readonly failuresSoFar: number;
}

const INVALID_CREDENTIALS = '5.7.8 Error: authentication failed: authentication credentials invalid';

/**
 * Decides one AUTH for the front end: asks the policy, slows down and then
 * refuses guessers (see AuthPenalty), and turns the outcome into what
 * smtp-server expects. Every failure, whatever its cause, gets the one 535
 * text, so the client learns nothing about which part was wrong; the one
 * exception is a suspended account with the right password (`550 5.7.1`,
 * saying why and whom to ask), which is no guess and is not penalised.
 */
export class ClientAuthentication {
  constructor(private readonly options: ClientAuthenticationOptions) {}

  /** A connection from an address that has failed too often is refused at once. */
  refuseConnection(clientAddress: string): SmtpError | undefined {
    return this.options.penalty.refusesAddress(clientAddress) ? this.tooManyFailures(clientAddress) : undefined;
  }

  async authenticate(auth: SMTPServerAuthentication, attempt: AuthAttempt): Promise<SMTPServerAuthenticationResponse> {
    const { policy, penalty, log } = this.options;
    const login = loginKey(auth.username ?? '');
    if (attempt.failuresSoFar >= this.options.maxFailuresPerSession) {
      throw new SmtpError(421, '4.7.0', `${this.options.hostname} Error: too many failed authentications`, undefined, 'auth-session-limit');
    }
    if (penalty.refusesAddress(attempt.clientAddress)) throw this.tooManyFailures(attempt.clientAddress);
    if (penalty.refusesLogin(login)) {
      throw new SmtpError(454, '4.7.0', 'Too many authentication failures for this login, try again later', undefined, 'auth-login-penalty');
    }

    const started = performance.now();
    const fields = { session: attempt.sessionId, client: attempt.clientAddress, login, method: auth.method };
    const fail = async (reason: string) => {
      const decidedMs = performance.now() - started;
      const floorMs = this.options.failureFloorMs;
      const delayMs = penalty.recordFailure(attempt.clientAddress, login);
      log.info({ event: 'auth-failed', ...fields, reason, delayMs }, `auth failed: ${login} from [${attempt.clientAddress}]: ${reason}, next reply delayed ${delayMs} ms`);
      // A floor set to 0 was turned off on purpose; one that is too low must not fail silently.
      if (floorMs > 0 && decidedMs > floorMs) {
        log.warn(
          { event: 'auth-floor-exceeded', session: attempt.sessionId, decidedMs: Math.round(decidedMs), floorMs },
          `a refused AUTH took ${Math.round(decidedMs)} ms to decide, over AUTH_FAILURE_FLOOR_MS (${floorMs}): its timing may tell users apart; raise the floor`,
        );
      }
      await sleep(Math.max(0, floorMs - decidedMs) + delayMs);
      return { message: INVALID_CREDENTIALS, responseCode: 535 };
    };

    // RFC 4616: an authorization identity other than the login asks to act as
    // someone else, which nobody may do here.
    if (auth.method === 'PLAIN' && auth.authzid && auth.authcid && auth.authzid !== auth.authcid) return fail('authzid');
    // Longer than the policy contract carries (policy-request-schema.ts): such
    // credentials can never be right, so they fail here rather than look like an outage.
    if ((auth.username ?? '').length > MAX_LOGIN_LENGTH || (auth.password ?? '').length > MAX_PASSWORD_LENGTH) return fail('too-long');
    // Every login is a mail address (the policy looks nothing else up): any
    // other identity can never be right, and is not carried further.
    if (!parseMailAddress(auth.username ?? '').ok) return fail('login-syntax');
    try {
      const decision = await policy.decide({
        action: 'authenticate',
        login: auth.username ?? '',
        password: auth.password ?? '',
        clientAddress: attempt.clientAddress,
      });
      if (decision.verdict === 'reject' && decision.reason === 'suspended') {
        log.info({ event: 'auth-suspended', ...fields }, `auth refused, account suspended: ${login}`);
        throw suspendedReply(decision.text, this.options.suspensionContact);
      }
      if (decision.verdict === 'reject') return fail(decision.detail ?? decision.reason);
      penalty.recordSuccess(login);
      log.info({ event: 'auth', ...fields, login: decision.user.login }, `authenticated: ${decision.user.login} from [${attempt.clientAddress}] sasl_method=${auth.method}`);
      return { user: decision.user };
    } catch (error) {
      if (error instanceof PolicyUnavailableError) {
        throw new SmtpError(454, '4.7.0', 'Temporary authentication failure', error.cause, 'auth-unavailable');
      }
      throw error;
    }
  }

  private tooManyFailures(clientAddress: string): SmtpError {
    return new SmtpError(421, '4.7.0', `${this.options.hostname} Error: too many authentication failures from [${clientAddress}], try again later`, undefined, 'auth-address-penalty');
  }
}

/**
 * The login as the penalty counts it and the log shows it: canonical when it is
 * an address, so case tricks count as one; otherwise in printable form only.
 */
export function loginKey(username: string): string {
  const parsed = parseMailAddress(username);
  return parsed.ok ? parsed.address : printableEcho(username.toLowerCase());
}
