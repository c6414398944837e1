// bench/models.js — one model, side by side in one run: ONNX Runtime
// (onnxruntime-node, CPU, all graph optimizations) at 1 and 2 intra-op
// threads, kiln's compiled executable, and kiln's interpreter at 1 and 2
// threads. Rounds interleave every configuration (the machine is shared,
// so load drifts); each figure is the median over the rounds of one warm
// run's latency, best beside it.
//
//   cd bench && npm install --ignore-scripts onnxruntime-node@1.30.0
//   node models.js MODEL.onnx INPUT.npy KILN_EXE [ROUNDS] [KILN]
//
// KILN_EXE is `kiln compile MODEL -o KILN_EXE` (it runs once, then
// --bench 1 times one more run: that second, warm run is what counts);
// KILN is the kiln binary for the interpreter (default ../build/kiln).
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const ort = require('onnxruntime-node');

function readNpy(file) {
  const buf = fs.readFileSync(file);
  const hlen = buf.readUInt16LE(8);
  const header = buf.toString('latin1', 10, 10 + hlen);
  if (!/'descr':\s*'<f4'/.test(header) || /'fortran_order':\s*True/.test(header))
    throw new Error(`${file}: only little-endian f32 C-order .npy inputs`);
  const shape = header.match(/'shape':\s*\(([^)]*)\)/)[1].split(',')
    .map((s) => s.trim()).filter((s) => s).map(Number);
  const data = new Float32Array(buf.buffer.slice(buf.byteOffset + 10 + hlen,
                                                 buf.byteOffset + buf.length));
  return new ort.Tensor('float32', data, shape);
}

const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };
const best = (a) => Math.min(...a);

// "NAME: 1 runs, mean 12.345 ms, best 12.345 ms" -> 12.345
function kilnTime(out) {
  const m = out.match(/best ([0-9.]+) ms/);
  if (!m) throw new Error(`no timing in kiln output:\n${out}`);
  return Number(m[1]);
}

function runExe(exe, input) {
  const r = require('child_process').spawnSync(exe, ['-i', input, '--bench', '1'],
                                               { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${exe} failed:\n${r.stderr}`);
  return kilnTime(r.stderr + r.stdout);
}

function runInterp(kiln, model, input, threads) {
  const r = require('child_process').spawnSync(kiln, ['run', model, '-i', input, '--threads',
                                                      String(threads), '--bench', '1'],
                                               { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`kiln run failed:\n${r.stderr}`);
  return kilnTime(r.stderr + r.stdout);
}

async function main() {
  const [model, input, exe, roundsArg, kilnArg] = process.argv.slice(2);
  if (!model || !input || !exe) {
    console.error('usage: node models.js MODEL.onnx INPUT.npy KILN_EXE [ROUNDS] [KILN]');
    process.exit(2);
  }
  const rounds = Number(roundsArg || 20);
  const kiln = kilnArg || path.join(__dirname, '..', 'build', 'kiln');
  const x = readNpy(input);
  const sessions = {};
  for (const t of [1, 2]) {
    sessions[t] = await ort.InferenceSession.create(model, {
      intraOpNumThreads: t, interOpNumThreads: 1, graphOptimizationLevel: 'all',
      executionMode: 'sequential',
      // No spinning pool threads: they would steal the core from the next
      // configuration timed in the same round (kiln runs in a child process).
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    });
  }
  const feeds = (s) => ({ [s.inputNames[0]]: x });
  for (const t of [1, 2])                      // warm-up
    for (let i = 0; i < 3; i++) await sessions[t].run(feeds(sessions[t]));
  // KILN_EXE may list several executables, LABEL=PATH,LABEL=PATH (e.g.
  // c=/tmp/deit-c,llvm=/tmp/deit-llvm); a bare PATH is the C backend's.
  const exes = exe.split(',').map((e) => (e.includes('=') ? e.split('=') : ['C backend', e]));
  const cols = {
    'ONNX Runtime, 1 thread': [], 'ONNX Runtime, 2 threads': [],
    'kiln interpreter, 1 thread': [], 'kiln interpreter, 2 threads': [],
  };
  for (let r = 0; r < rounds; r++) {
    for (const t of [1, 2]) {
      // One untimed run first, as kiln's configurations time their second,
      // warm run: the other processes of the round evict the weights.
      await sessions[t].run(feeds(sessions[t]));
      const t0 = process.hrtime.bigint();
      await sessions[t].run(feeds(sessions[t]));
      cols[`ONNX Runtime, ${t} thread${t > 1 ? 's' : ''}`].push(
        Number(process.hrtime.bigint() - t0) / 1e6);
    }
    for (const [label, file] of exes)
      (cols[`kiln compiled (${label}), 1 thread`] ||= []).push(runExe(file, input));
    cols['kiln interpreter, 1 thread'].push(runInterp(kiln, model, input, 1));
    cols['kiln interpreter, 2 threads'].push(runInterp(kiln, model, input, 2));
    process.stderr.write(`round ${r + 1}/${rounds}\r`);
  }
  const ort1 = median(cols['ONNX Runtime, 1 thread']);
  console.log(`model: ${model}; ${rounds} rounds, onnxruntime-node ${require('onnxruntime-node/package.json').version}`);
  console.log('| configuration | median ms | best ms | median / ORT 1 thread |');
  console.log('|---|---:|---:|---:|');
  for (const [name, v] of Object.entries(cols))
    console.log(`| ${name} | ${median(v).toFixed(2)} | ${best(v).toFixed(2)} | ${(median(v) / ort1).toFixed(2)} |`);
}

main().catch((e) => { console.error(e.message || e); process.exit(1); });
