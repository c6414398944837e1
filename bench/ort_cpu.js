// bench/ort_cpu.js — ONNX Runtime at 1 intra-op thread: CPU time per run
// (process.cpuUsage), min over 6 rounds of 10 warm runs.
//   node ort_cpu.js MODEL.onnx INPUTS
// INPUTS: one .npy per graph input, comma-separated in graph-input order
// (f32, int64, int32 or bool; shapes from the files: npy.js).
const ort = require('onnxruntime-node');
const { readNpy, feedsFor } = require('./npy.js');
(async () => {
  const [model, inputs] = process.argv.slice(2);
  if (!model || !inputs) {
    console.error('usage: node ort_cpu.js MODEL.onnx INPUT.npy[,INPUT.npy...]');
    process.exit(2);
  }
  const xs = inputs.split(',').map((f) => readNpy(ort, f));
  const s = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1,
    graphOptimizationLevel: 'all', executionMode: 'sequential', extra: { session: { intra_op: { allow_spinning: '0' } } } });
  const f = feedsFor(s, xs, `INPUTS (${inputs})`);
  for (let i = 0; i < 3; i++) await s.run(f);
  let best = 1e9;
  for (let r = 0; r < 6; r++) {
    const c0 = process.cpuUsage(); for (let i = 0; i < 10; i++) await s.run(f); const c = process.cpuUsage(c0);
    best = Math.min(best, (c.user + c.system) / 1e3 / 10);
  }
  console.log(`ORT 1 thread CPU ms/run (min of 6 x 10): ${best.toFixed(2)}`);
})().catch((e) => { console.error(e.message || e); process.exit(1); });
