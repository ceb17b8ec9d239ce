import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

export const GUIDE_PATH = fileURLToPath(new URL('../../docs/client-guides.md', import.meta.url));

/** One textual change from the deployed snippet to its local twin: a string (every occurrence) or a global RegExp. */
export type SnippetChange = readonly [from: string | RegExp, to: string];

/**
 * The copy-paste snippets of the client guide, each the fenced block right after
 * a `<!-- snippet: name -->` comment. Tests run these very texts, so the page
 * cannot drift from what is tested.
 */
export class GuideSnippets {
  private constructor(private readonly snippets: ReadonlyMap<string, string>) {}

  static async load(file = GUIDE_PATH): Promise<GuideSnippets> {
    const text = await readFile(file, 'utf8');
    const snippets = new Map<string, string>();
    for (const match of text.matchAll(/<!-- snippet: (\S+) -->\n+```[^\n]*\n([\s\S]*?)\n```/g)) {
      const [, name, body] = match as unknown as [string, string, string];
      if (snippets.has(name)) throw new Error(`${file}: snippet "${name}" appears twice`);
      snippets.set(name, `${body}\n`);
    }
    const markers = text.match(/<!-- snippet: /g)?.length ?? 0;
    if (markers !== snippets.size) throw new Error(`${file}: ${markers - snippets.size} snippet marker(s) not followed by a fenced block`);
    return new GuideSnippets(snippets);
  }

  names(): string[] {
    return [...this.snippets.keys()];
  }

  get(name: string): string {
    const snippet = this.snippets.get(name);
    if (snippet === undefined) throw new Error(`docs/client-guides.md has no snippet "${name}"`);
    return snippet;
  }
}

/**
 * Applies the changes the guide's "Local relay" notes describe. Each change must
 * find its text: a guide edit that removes it has to fail the test, not leave it
 * quietly testing the deployed form against the local relay.
 */
export function localize(snippet: string, changes: readonly SnippetChange[]): string {
  let text = snippet;
  for (const [from, to] of changes) {
    if (typeof from === 'string') {
      if (!text.includes(from)) throw new Error(`snippet no longer contains ${JSON.stringify(from)}:\n${snippet}`);
      text = text.replaceAll(from, to);
    } else {
      if (!from.global) throw new Error(`change ${from} must be a global RegExp`);
      if (!text.match(from)) throw new Error(`snippet no longer matches ${from}:\n${snippet}`);
      text = text.replace(from, to);
    }
  }
  return text;
}
