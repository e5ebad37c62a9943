/**
 * One place that decides what a secret looks like, so logs, error texts and health output can
 * leave it out. Two rules:
 *
 * - A URL's credentials (`scheme://user:password@host`) are never printed: the whole userinfo
 *   becomes `***` (a user name alone is often a token, e.g. `https://<token>@host`), and so do
 *   the values of query parameters named like secrets (`?password=`, `?sslkey=`, `?token=`).
 * - A configuration key whose name says it holds a secret ({@link isSecretKey}) never has its
 *   value printed, whatever the message that mentions it.
 */

const REDACTED = '***';

/** `scheme://userinfo@` anywhere in a text; userinfo cannot hold whitespace, `/` or `@`. */
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@]+@/gi;
/** `name=value` in a query string or a key-value list, for names that hold secrets. */
const SECRET_PARAMETER = /([?&;\s](?:[a-z_]*(?:password|passwd|pwd|secret|token|sslkey|api[_-]?key|access[_-]?key))=)[^&#\s;]*/gi;
/** Names of configuration keys that hold a secret themselves. */
const SECRET_KEY_NAME = /SECRET|PASSWORD|PASSWD|TOKEN|PRIVATE_KEY|API_KEY|CREDENTIAL/i;
/** Names of configuration keys that hold a URL, whose userinfo is a secret. */
const URL_KEY_NAME = /_URLS?(_|$)/i;

/** `text` with every URL's credentials and every secret-named parameter's value replaced by `***`. */
export function redactSecrets(text: string): string {
  return text.replace(URL_USERINFO, `$1${REDACTED}@`).replace(SECRET_PARAMETER, `$1${REDACTED}`);
}

/**
 * A URL fit for a log line: without credentials or secret-named query parameters. A text that is
 * not a URL is redacted as free text.
 */
export function redactUrl(url: string): string {
  return redactSecrets(url);
}

/** True for configuration keys whose value is a secret (`UNSUBSCRIBE_SECRET`, `DKIM_PRIVATE_KEY`, …). */
export function isSecretKey(name: string): boolean {
  return SECRET_KEY_NAME.test(name);
}

/**
 * The secret parts of an environment: the whole value of each secret-named key (and each item of
 * a comma-separated one), and the userinfo of each URL-valued key, valid URL or not (a config
 * error is usually about an invalid one).
 */
export function secretValuesOf(env: Readonly<Record<string, string | undefined>>): string[] {
  const secrets = new Set<string>();
  for (const [key, value] of Object.entries(env)) {
    if (!value) continue;
    if (isSecretKey(key)) {
      secrets.add(value);
      for (const item of value.split(',')) secrets.add(item.trim());
    }
    if (URL_KEY_NAME.test(key) || isSecretKey(key)) {
      for (const match of value.matchAll(/:\/\/([^\s/@]+)@/g)) {
        const userinfo = match[1] as string;
        const colon = userinfo.indexOf(':');
        // Only a password is cut out wherever it appears; a user name alone (`postgres://postgres@`)
        // would blank out ordinary words, and is cut with the rest of the URL's userinfo by
        // redactSecrets wherever the URL itself is quoted.
        if (colon === -1) continue;
        const password = userinfo.slice(colon + 1);
        secrets.add(userinfo);
        secrets.add(password);
        secrets.add(safeDecode(password));
      }
    }
  }
  // Very short values (an empty password, `a`) would blank out ordinary words.
  return [...secrets].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length);
}

/** `text` with each of `secrets` (see {@link secretValuesOf}) and any URL credentials replaced by `***`. */
export function redactValues(text: string, secrets: readonly string[]): string {
  let redacted = text;
  for (const secret of secrets) redacted = redacted.split(secret).join(REDACTED);
  return redactSecrets(redacted);
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
