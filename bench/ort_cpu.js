// bench/ort_cpu.js — ONNX Runtime at 1 intra-op thread: CPU time per run
// (process.cpuUsage), min over 6 rounds of 10 warm runs. The input must be
// [1,3,224,224] f32.   node ort_cpu.js MODEL.onnx INPUT.npy
const ort = require('onnxruntime-node');
const fs = require('fs');
(async () => {
  const buf = fs.readFileSync(process.argv[3]); const hlen = buf.readUInt16LE(8);
  const data = new Float32Array(buf.buffer.slice(buf.byteOffset + 10 + hlen, buf.byteOffset + buf.length));
  const x = new ort.Tensor('float32', data, [1, 3, 224, 224]);
  const s = await ort.InferenceSession.create(process.argv[2], { intraOpNumThreads: 1, interOpNumThreads: 1,
    graphOptimizationLevel: 'all', executionMode: 'sequential', extra: { session: { intra_op: { allow_spinning: '0' } } } });
  const f = { [s.inputNames[0]]: x };
  for (let i = 0; i < 3; i++) await s.run(f);
  let best = 1e9;
  for (let r = 0; r < 6; r++) {
    const c0 = process.cpuUsage(); for (let i = 0; i < 10; i++) await s.run(f); const c = process.cpuUsage(c0);
    best = Math.min(best, (c.user + c.system) / 1e3 / 10);
  }
  console.log(`ORT 1 thread CPU ms/run (min of 6 x 10): ${best.toFixed(2)}`);
})();
