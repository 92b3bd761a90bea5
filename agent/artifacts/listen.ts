/** Where `deckhand artifacts serve` listens unless told otherwise (a module of its own: the CLI's start-up imports it). */
export const DEFAULT_ARTIFACTS_LISTEN = '127.0.0.1:8081';
