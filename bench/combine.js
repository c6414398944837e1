// bench/combine.js — the tables bench/all_models.sh prints: one markdown
// table over every model from the JSON files models.js --json wrote.
//
//   node combine.js RESULTS_DIR NAME...
//
// For each NAME, RESULTS_DIR/NAME.json (models.js --json) or, when the model
// failed, RESULTS_DIR/NAME.error (one line: what went wrong) and the row says
// so. First a summary (median ms and the ratio to ONNX Runtime at 1 thread,
// one row per model), then every figure (one row per model and
// configuration: median, best, ratio, CPU ms per run and its ratio).
'use strict';
const fs = require('fs');
const path = require('path');

// The configurations in the order models.sh runs them, with short headers.
const CONFIGS = [
  ['ONNX Runtime, 1 thread', 'ORT 1t'],
  ['ONNX Runtime, 2 threads', 'ORT 2t'],
  ['PyTorch eager, 1 thread', 'PyTorch 1t'],
  ['PyTorch eager, 2 threads', 'PyTorch 2t'],
  ['kiln compiled (C backend), 1 thread', 'kiln C 1t'],
  ['kiln compiled (C backend), 2 threads', 'kiln C 2t'],
  ['kiln compiled (LLVM backend), 1 thread', 'kiln LLVM 1t'],
  ['kiln compiled (LLVM backend), 2 threads', 'kiln LLVM 2t'],
];

const fmt = (x, d = 2) => (x === null || x === undefined ? '' : x.toFixed(d));

function main() {
  const [dir, ...names] = process.argv.slice(2);
  if (!dir || !names.length) {
    console.error('usage: node combine.js RESULTS_DIR NAME...');
    process.exit(2);
  }
  const results = names.map((name) => {
    const json = path.join(dir, `${name}.json`), err = path.join(dir, `${name}.error`);
    if (fs.existsSync(json)) return { name, ...JSON.parse(fs.readFileSync(json, 'utf8')) };
    const why = fs.existsSync(err) ? fs.readFileSync(err, 'utf8').trim() : 'no result';
    return { name, error: why };
  });
  const row = (r, config) => (r.rows || []).find((x) => x.configuration === config);

  console.log('Median latency in ms of one warm run, batch 1 (in parentheses: / ONNX Runtime at 1 thread).\n');
  console.log(`| model | ${CONFIGS.map(([, h]) => h).join(' | ')} |`);
  console.log(`|---|${CONFIGS.map(() => '---:').join('|')}|`);
  for (const r of results) {
    if (r.error) {
      console.log(`| ${r.name} | FAILED: ${r.error.replace(/\|/g, '\\|')} |${CONFIGS.slice(1).map(() => ' |').join('')}`);
      continue;
    }
    const cells = CONFIGS.map(([c]) => {
      const x = row(r, c);
      return x ? `${fmt(x.median_ms)} (${fmt(x.ratio_ort1)})` : '';
    });
    console.log(`| ${r.name} | ${cells.join(' | ')} |`);
  }

  console.log('\nEvery figure (CPU ms / run: all threads of the process; kiln by perf stat, see README.md).\n');
  console.log('| model | configuration | median ms | best ms | median / ORT 1 thread | CPU ms / run | CPU / ORT 1 thread CPU |');
  console.log('|---|---|---:|---:|---:|---:|---:|');
  for (const r of results) {
    if (r.error) {
      console.log(`| ${r.name} | FAILED: ${r.error.replace(/\|/g, '\\|')} | | | | | |`);
      continue;
    }
    const known = new Set(CONFIGS.map(([c]) => c));
    const rows = [...CONFIGS.map(([c]) => row(r, c)).filter(Boolean),
                  ...r.rows.filter((x) => !known.has(x.configuration))];
    for (const x of rows)
      console.log(`| ${r.name} | ${x.configuration} | ${fmt(x.median_ms)} | ${fmt(x.best_ms)} | `
                  + `${fmt(x.ratio_ort1)} | ${fmt(x.cpu_ms)} | ${fmt(x.cpu_ratio_ort1)} |`);
  }
  const rounds = [...new Set(results.filter((r) => !r.error).map((r) => r.rounds))];
  const ortv = [...new Set(results.filter((r) => !r.error).map((r) => r.onnxruntime_node))];
  if (rounds.length)
    console.log(`\n${rounds.join('/')} rounds per model, onnxruntime-node ${ortv.join('/')}.`);
}

main();
