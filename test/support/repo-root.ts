/** The repository root (the agent's own lookup: the folder of deckhand's package.json). */
export { packageRoot as repoRoot } from '../../agent/package-root.js';
