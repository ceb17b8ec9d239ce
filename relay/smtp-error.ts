/**
 * An SMTP refusal, in the shape maddy's exterrors gives it: the reply code and
 * enhanced status code (RFC 3463) the client gets, a short public text, and the
 * private cause that only the log sees. The client never learns a table name, a
 * timeout or an AWS error code; the log always does.
 *
 * `message` is what smtp-server writes after the reply code. It starts with the
 * enhanced code, which our reply hook (see smtp-session-gate.ts) recognises so
 * that the library does not add a second, generic one.
 */
export class SmtpError extends Error {
  readonly responseCode: number;

  constructor(
    responseCode: number,
    readonly enhancedCode: string,
    readonly publicText: string,
    /** Private cause, for the log only. */
    readonly cause?: unknown,
    /** A short reason for metrics and logs (`sender-not-owned`, `ses-throttled`, ...). */
    readonly reason = 'refused',
  ) {
    super(`${enhancedCode} ${publicText}`);
    this.name = 'SmtpError';
    if (String(responseCode)[0] !== enhancedCode[0]) {
      throw new Error(`reply ${responseCode} cannot carry enhanced code ${enhancedCode}`);
    }
    this.responseCode = responseCode;
  }
}

/** Matches a reply text that already starts with an enhanced status code. */
export const ENHANCED_CODE_PREFIX = /^[245]\.\d{1,3}\.\d{1,3} /;
