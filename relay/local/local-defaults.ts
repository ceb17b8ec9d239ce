/**
 * What `npm start` sets where the environment sets nothing: loopback only, the
 * container's ports, and no Internet DNS to ask on a machine that may be
 * offline (tests turn the recipient-domain check on against their own DNS).
 */
export const LOCAL_DEFAULTS = {
  RELAY_LISTEN: '127.0.0.1',
  SUBMISSION_PORT: '2587',
  SUBMISSIONS_PORT: '2465',
  RELAY_HOSTNAME: 'localhost',
  RECIPIENT_DOMAIN_CHECK: 'off',
} as const;
