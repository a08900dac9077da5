// Imported first by the CLI: the flags must be set before any module compiles cedar-wasm, and the young generation
// capped before module loading grows it (gateway/v8-memory.ts).
import { applyMemoryFlags, capYoungGeneration } from '../v8-memory.js';

applyMemoryFlags();
capYoungGeneration();
