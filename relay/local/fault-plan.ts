/**
 * The fault armed on a local stand-in of an AWS service (`ses-endpoint.ts`,
 * `lambda-endpoint.ts`): the next `count` requests, or every request until
 * cleared, get the fault instead of the normal answer.
 *
 * A fault is named by the same text everywhere — in code (`faults.arm('throttle', 1)`),
 * in the environment at start (`LOCAL_SES_FAULT=throttle LOCAL_SES_FAULT_COUNT=1`) and
 * in a control request (`POST /_control/fault {"fault":"throttle","count":1}`) — so
 * that a test, a script and a person trying the relay by hand use one vocabulary.
 */

/** A fault and how many more requests it applies to. */
export interface ArmedFault<F extends string> {
  readonly fault: F;
  /** Requests the fault still applies to; `null` means every request until cleared. */
  readonly remaining: number | null;
}

export class FaultPlan<F extends string> {
  readonly #isFault: (text: string) => text is F;
  #armed: { fault: F; remaining: number | null } | undefined;

  /** `isFault` tells the stand-in's fault names (and parameterised forms such as `delay:250`) from anything else. */
  constructor(isFault: (text: string) => text is F) {
    this.#isFault = isFault;
  }

  /**
   * Reads `<prefix>_FAULT` and `<prefix>_FAULT_COUNT` (e.g. `LOCAL_SES_FAULT`). Throws
   * on an unknown fault or a bad count: a stand-in started with a typo in its fault
   * would otherwise run healthy and make a fault test pass for the wrong reason.
   */
  static fromEnvironment<F extends string>(
    isFault: (text: string) => text is F,
    env: NodeJS.ProcessEnv,
    prefix: string,
  ): FaultPlan<F> {
    const plan = new FaultPlan(isFault);
    const fault = env[`${prefix}_FAULT`];
    const countText = env[`${prefix}_FAULT_COUNT`];
    if (fault === undefined || fault === '') {
      if (countText !== undefined && countText !== '') {
        throw new RangeError(`${prefix}_FAULT_COUNT is set but ${prefix}_FAULT is not`);
      }
      return plan;
    }
    if (countText === undefined || countText === '') {
      plan.armText(fault);
    } else if (/^\d+$/.test(countText)) {
      plan.armText(fault, Number(countText));
    } else {
      throw new RangeError(`${prefix}_FAULT_COUNT must be a positive integer, got "${countText}"`);
    }
    return plan;
  }

  /** Arms `fault` for the next `count` requests, or for every request when `count` is omitted; replaces any armed fault. */
  arm(fault: F, count?: number): void {
    this.armText(fault, count);
  }

  /** Like `arm`, for a fault given as text from outside the program (environment, control request). */
  armText(fault: string, count?: number): void {
    if (!this.#isFault(fault)) {
      throw new RangeError(`unknown fault "${fault}"`);
    }
    if (count !== undefined && !(Number.isSafeInteger(count) && count > 0)) {
      throw new RangeError(`fault count must be a positive integer, got ${String(count)}`);
    }
    this.#armed = { fault, remaining: count ?? null };
  }

  clear(): void {
    this.#armed = undefined;
  }

  current(): ArmedFault<F> | undefined {
    return this.#armed === undefined ? undefined : { ...this.#armed };
  }

  /** The fault for the request being answered now, if any; uses up one of its count. */
  take(): F | undefined {
    const armed = this.#armed;
    if (armed === undefined) {
      return undefined;
    }
    if (armed.remaining !== null) {
      armed.remaining -= 1;
      if (armed.remaining === 0) {
        this.#armed = undefined;
      }
    }
    return armed.fault;
  }
}

/** `delay:<ms>`, the fault every stand-in knows: answer normally, but late. */
export function isDelayFault(text: string): text is `delay:${number}` {
  return /^delay:\d{1,9}$/.test(text);
}
