/**
 * The outside of the plugin's one file: the plugin's bundle is inside it as text, compiled
 * through a V8 code cache as the deckhand command's bundle is (agent/cli/code-cache.ts): compiling
 * ~640 KB of JavaScript at every start cost about 45 ms of the time to the handshake, which Nomad
 * waits for at each of the three launches of a plugin. The cache is written when a plugin
 * process ends cleanly (Nomad shuts every launch down through go-plugin's controller), under
 * $XDG_CACHE_HOME/deckhand or ~/.cache/deckhand (DECKHAND_CODE_CACHE=DIR or off).
 */
import { runSource } from '../../agent/cli/code-cache.js';

// put in by scripts/bundle-nomad-plugin.mjs: the plugin's CommonJS bundle (main.ts)
declare const __DECKHAND_PLUGIN_SOURCE__: string;

void runSource(__DECKHAND_PLUGIN_SOURCE__, __filename, [process.argv[0], __filename, 'nomad-plugin']);
