// Compile contracts/*.sol with solc-js (offline) and write ABI + bytecode artifacts as JSON.
// usage: node contracts/compile.js <node_modules dir> <out.json> <Contract.sol>...
const path = require("path");
const fs = require("fs");
const [nodeModules, out, ...files] = process.argv.slice(2);
const solc = require(path.resolve(nodeModules, "solc"));
const sources = {};
for (const f of files) sources[path.basename(f)] = { content: fs.readFileSync(f, "utf8") };
const input = {
  language: "Solidity",
  sources,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: "paris",
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
  },
};
const result = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (result.errors || []).filter((e) => e.severity === "error");
if (errors.length) {
  console.error(errors.map((e) => e.formattedMessage).join("\n"));
  process.exit(1);
}
const artifacts = { compiler: solc.version(), contracts: {} };
for (const [file, contracts] of Object.entries(result.contracts)) {
  for (const [name, c] of Object.entries(contracts)) {
    artifacts.contracts[name] = {
      source: "contracts/" + file,
      abi: c.abi,
      bytecode: "0x" + c.evm.bytecode.object,
      runtime: "0x" + c.evm.deployedBytecode.object,
    };
  }
}
fs.writeFileSync(out, JSON.stringify(artifacts, null, 1) + "\n");
console.log("wrote " + out + ": " + Object.keys(artifacts.contracts).join(", "));
