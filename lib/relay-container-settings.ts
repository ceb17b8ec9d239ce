/**
 * The relay settings (relay/relay-config.ts names) that the CDK stack gives
 * the relay container, as plain values: the service construct puts them in the
 * task definition, and `relayctl config --stage` shows them, from this one
 * place. No CDK imports, so that relayctl can load it cheaply.
 */

/**
 * Ports of the relay. Clients reach the load balancer on the standard ports;
 * the container listens on unprivileged ports because it runs as a non-root
 * user and ECS/Fargate gives such a process no way to bind below 1024 (no
 * CAP_NET_BIND_SERVICE for non-root, aws/containers-roadmap#1721). The NLB maps
 * one to the other, and the client's address survives (client IP preservation).
 */
export const RELAY_PORTS = {
  /** Submission with STARTTLS (RFC 6409): listener port. */
  submission: 587,
  /** Submission over implicit TLS (RFC 8314): listener port. */
  submissions: 465,
  /** Container port behind 587. */
  submissionContainer: 2587,
  /** Container port behind 465. */
  submissionsContainer: 2465,
  /** HTTP health endpoint (`GET /healthz`: 200 serving, 503 draining). */
  health: 8080,
} as const;

/** The policy function's timeout unless its props say otherwise. */
export const DEFAULT_POLICY_FUNCTION_TIMEOUT_SECONDS = 10;
export const DEFAULT_SHUTDOWN_GRACE_SECONDS = 90;
export const DEFAULT_CONTAINER_MAX_MESSAGE_BYTES = 25 * 1024 * 1024;

const SES_THROTTLE_RETRIES = 2;

/** Longest SES call the relay waits for, so that all attempts (and their back-off) fit in the grace period. */
export function sesTimeoutWithin(graceSeconds: number): number {
  const backoffSeconds = 1;
  return Math.max(1, Math.min(30, Math.floor((graceSeconds - backoffSeconds) / (SES_THROTTLE_RETRIES + 1))));
}

export interface RelayContainerSettingsInput {
  readonly hostname: string;
  /** @default DEFAULT_CONTAINER_MAX_MESSAGE_BYTES */
  readonly maxMessageBytes?: number | undefined;
  /** @default DEFAULT_SHUTDOWN_GRACE_SECONDS */
  readonly shutdownGraceSeconds?: number | undefined;
  readonly configurationSetName: string;
  readonly policyFunctionTimeoutSeconds: number;
}

/** The relay settings of the container's environment, by variable name. */
export function relayContainerSettings(input: RelayContainerSettingsInput): Record<string, string> {
  const graceSeconds = input.shutdownGraceSeconds ?? DEFAULT_SHUTDOWN_GRACE_SECONDS;
  return {
    SUBMISSION_PORT: String(RELAY_PORTS.submissionContainer),
    SUBMISSIONS_PORT: String(RELAY_PORTS.submissionsContainer),
    RELAY_LISTEN: '0.0.0.0',
    RELAY_HOSTNAME: input.hostname,
    // A little longer than the function's own timeout, so that a slow decision ends as a function error.
    POLICY_TIMEOUT_SECONDS: String(input.policyFunctionTimeoutSeconds + 2),
    SES_CONFIGURATION_SET: input.configurationSetName,
    MAX_MESSAGE_BYTES: String(input.maxMessageBytes ?? DEFAULT_CONTAINER_MAX_MESSAGE_BYTES),
    SHUTDOWN_GRACE_SECONDS: String(graceSeconds),
    // Every SES attempt of a message in flight must end inside the grace period,
    // or a client told 421 at shutdown could have its message sent after all.
    SES_THROTTLE_RETRIES: String(SES_THROTTLE_RETRIES),
    SES_TIMEOUT_SECONDS: String(sesTimeoutWithin(graceSeconds)),
  };
}
