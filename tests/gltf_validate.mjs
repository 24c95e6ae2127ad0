// Validate a glTF/GLB file with the Khronos glTF-Validator (npm `gltf-validator`) and print the
// JSON report on stdout.
//   node tests/gltf_validate.mjs <file.glb> [<folder holding node_modules/gltf-validator>]
// The folder defaults to $DNERF_TOOLS or <repo>/.tools (where `scripts/setup.sh --dev` puts it).
// Exit codes: 0 report printed (read report.issues.numErrors), 2 bad arguments / validator missing,
// 3 the validator could not read the file at all.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const [file, toolsArg] = process.argv.slice(2);
if (!file) {
  console.error("usage: node gltf_validate.mjs <file.glb> [tools folder]");
  process.exit(2);
}
const tools = toolsArg || process.env.DNERF_TOOLS || path.join(here, "..", ".tools");

let validator;
try {
  validator = createRequire(path.join(tools, "package.json"))("gltf-validator");
} catch (err) {
  console.error(`gltf-validator not found under ${tools}: run scripts/setup.sh --dev (${err.message})`);
  process.exit(2);
}

const bytes = new Uint8Array(readFileSync(file));
try {
  const report = await validator.validateBytes(bytes, { uri: path.basename(file), maxIssues: 100 });
  console.log(JSON.stringify(report, null, 2));
} catch (err) {
  console.error(`validator could not read ${file}: ${err}`);
  process.exit(3);
}
