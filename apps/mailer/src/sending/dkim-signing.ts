import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** nodemailer's `dkim` transport option: every message of the transport is signed with it. */
export interface DkimSigning {
  domainName: string;
  keySelector: string;
  privateKey: string;
}

/** The DKIM settings as they come from the environment. */
export interface DkimSettings {
  DKIM_DOMAIN?: string | undefined;
  DKIM_SELECTOR?: string | undefined;
  DKIM_PRIVATE_KEY?: string | undefined;
  DKIM_PRIVATE_KEY_FILE?: string | undefined;
}

export interface DkimSettingsIssue {
  path: keyof DkimSettings;
  message: string;
}

/**
 * Turns the DKIM settings into nodemailer's option, or lists what is wrong with them: none set
 * means no signing; otherwise the domain, the selector and exactly one key source are required,
 * and the key must parse as a private key (PEM), so that a broken key stops the mailer at start-up
 * rather than making every message fail (or go out unsigned) later.
 */
export function resolveDkimSigning(settings: DkimSettings): { signing: DkimSigning | undefined; issues: DkimSettingsIssue[] } {
  const { DKIM_DOMAIN: domain, DKIM_SELECTOR: selector, DKIM_PRIVATE_KEY: inlineKey, DKIM_PRIVATE_KEY_FILE: keyFile } = settings;
  if (domain === undefined && selector === undefined && inlineKey === undefined && keyFile === undefined) return { signing: undefined, issues: [] };
  const issues: DkimSettingsIssue[] = [];
  if (domain === undefined) issues.push({ path: 'DKIM_DOMAIN', message: 'required when DKIM signing is configured' });
  if (selector === undefined) issues.push({ path: 'DKIM_SELECTOR', message: 'required when DKIM signing is configured' });
  if (inlineKey !== undefined && keyFile !== undefined) {
    issues.push({ path: 'DKIM_PRIVATE_KEY_FILE', message: 'set DKIM_PRIVATE_KEY or DKIM_PRIVATE_KEY_FILE, not both' });
    return { signing: undefined, issues };
  }
  if (inlineKey === undefined && keyFile === undefined) {
    issues.push({ path: 'DKIM_PRIVATE_KEY', message: 'required (or DKIM_PRIVATE_KEY_FILE) when DKIM signing is configured' });
    return { signing: undefined, issues };
  }
  const keyPath: keyof DkimSettings = keyFile !== undefined ? 'DKIM_PRIVATE_KEY_FILE' : 'DKIM_PRIVATE_KEY';
  let privateKey: string;
  try {
    // An environment variable often carries a PEM with its line breaks written as `\n`.
    privateKey = keyFile !== undefined ? readFileSync(keyFile, 'utf8') : inlineKey!.replace(/\\n/g, '\n');
  } catch (error) {
    issues.push({ path: keyPath, message: `cannot be read: ${(error as NodeJS.ErrnoException).code ?? String(error)}` });
    return { signing: undefined, issues };
  }
  try {
    const key = createPrivateKey(privateKey);
    if (key.asymmetricKeyType !== 'rsa' && key.asymmetricKeyType !== 'ed25519') {
      issues.push({ path: keyPath, message: `must be an RSA or Ed25519 private key, not ${key.asymmetricKeyType}` });
    }
  } catch {
    // Never echo the key (or the parser's view of it) into a log.
    issues.push({ path: keyPath, message: 'is not a private key in PEM format' });
  }
  if (issues.length > 0) return { signing: undefined, issues };
  return { signing: { domainName: domain!, keySelector: selector!, privateKey }, issues };
}
