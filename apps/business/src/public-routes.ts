/**
 * The routes served on the public listener (`PUBLIC_PORT`), as path prefixes: what mailbox
 * providers and recipients must reach from the internet. Everything else there is a `404`.
 *
 * To publish a route (a provider's event webhook, bounce intake), add its prefix here, ending in
 * `/`, and nothing else: this list is the whole decision, reviewed in one place. A public route
 * authenticates its callers itself (the unsubscribe link is signed), since the API key guard's
 * `@Public()` routes are open on both ports.
 */
export const PUBLIC_ROUTES: readonly string[] = ['/v1/unsubscribe/'];
