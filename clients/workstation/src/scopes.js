// SMART App Launch scopes in plain language for the marketplace pages: the one explainer the
// wallet and the workstation share (clients/webwallet/src/scopes.js). Imported by a relative
// path, not the `@wallet` alias, so the wallet's own vitest can load this module too.
export { explainScope, explainScopes, permissions } from '../../webwallet/src/scopes.js';
