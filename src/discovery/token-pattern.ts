/**
 * A discovery token is a capability: whoever has its URL can register a member under it (and
 * spoil the bootstrap). Output shows `.../v2/keys/discovery/<hidden>`, like a password.
 * (A module of its own: the command line's start-up masks output with it and should not load
 * what the rest of token.ts needs, node:crypto among it.)
 */
export const DISCOVERY_TOKEN_PATTERN = /(\/v2\/keys\/discovery\/)[^\s"'/?#&;,)\]}<>]+/g;
