/** Commander's argument parser for an option given several times (`--tag a=1 --tag b=2`): collects every value. */
export function repeatable(value: string, previous: readonly string[] = []): string[] {
  return [...previous, value];
}
