/** Waits until `condition` holds, checking every 10 ms; fails after 5 s naming `what`. */
export async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Waits out the last seconds of a UTC minute, so that what a test does next falls in one per-minute window. */
export async function clearOfMinuteEnd(): Promise<void> {
  const now = new Date();
  const second = now.getUTCSeconds() + now.getUTCMilliseconds() / 1000;
  if (second > 45) await new Promise((resolve) => setTimeout(resolve, (60.5 - second) * 1000));
}
