#include "pipeline/quantize/quantization_results.h"

namespace moqa::pipeline {

void write_quantization(io::H5Writer& file, const QuantizationRecord& record) {
  const config::QuantizationSection& q = record.experiment.quantization;
  const std::string g = "/quantization";
  file.create_group(g);
  file.set_attribute(g, "method", std::string(config::name_of(q.method)));
  file.set_attribute(g, "group_size", q.group_size);
  file.set_attribute(g, "symmetric", int64_t{q.symmetric ? 1 : 0});
  file.set_attribute(g, "act_order", int64_t{q.act_order ? 1 : 0});
  file.set_attribute(g, "static_groups", int64_t{q.static_groups ? 1 : 0});
  file.set_attribute(g, "gptq_variant", std::string(config::name_of(q.gptq_variant)));
  file.set_attribute(g, "true_sequential", int64_t{q.true_sequential ? 1 : 0});
  file.set_attribute(g, "damp_percent", q.damp_percent);
  file.set_attribute(g, "block_size", q.block_size);
  file.set_attribute(g, "non_expert_bits", record.plan.non_expert_bits);
  file.set_attribute(g, "quantized_tensors", record.report.tensors);
  file.set_attribute(g, "quantized_elements", record.quantized_elements);
  file.set_attribute(g, "rtn_fallbacks", record.report.rtn_fallbacks);
  file.set_attribute(g, "windows", record.report.windows);
  file.set_attribute(g, "tokens", record.report.tokens);
  file.set_attribute(g, "channel_adjustment", int64_t{q.caches_channels() ? 1 : 0});
  file.set_attribute(g, "channel_adjustment_mode", std::string(config::name_of(q.channel_adjustment)));
  file.set_attribute(g, "cached_elements", record.cached_elements);
  file.set_attribute(g, "checkpoint", record.checkpoint);
  file.set_attribute(g, "dequantized_checkpoint", record.dequantized_checkpoint);
  file.set_attribute(g, "seconds", record.seconds);
  file.set_attribute(g, "reused", int64_t{record.reused ? 1 : 0});
  if (record.reused) {
    file.set_attribute(g, "reused_from", record.checkpoint);
    file.set_attribute(g, "reused_from_utc", record.reused->utc);
    file.set_attribute(g, "computed_git_commit", record.reused->git_commit);
  }

  std::vector<std::string> kept, names;
  for (const config::WeightGroup w : q.keep_full_precision) kept.emplace_back(config::name_of(w));
  file.write_strings(g + "/keep_full_precision", kept);
  std::vector<int64_t> bits, quantizer;
  for (const QuantTarget& t : record.plan.targets) {
    names.push_back(t.name);
    bits.push_back(t.bits);
    quantizer.push_back(t.quantizer);
  }
  const Shape tensors{static_cast<int64_t>(names.size())};
  file.write_strings(g + "/tensors", names);
  file.write(g + "/tensor_bits", bits, tensors);
  file.write(g + "/tensor_rank", quantizer, tensors);

  const auto& loss = record.report.expert_loss;
  std::vector<double> flat;
  for (const auto& layer : loss)
    for (const auto& expert : layer) flat.insert(flat.end(), expert.begin(), expert.end());
  file.write(g + "/expert_gptq_loss", flat,
             Shape{static_cast<int64_t>(loss.size()), loss.empty() ? 0 : static_cast<int64_t>(loss.front().size()), 3});

  if (!record.novel.empty()) file.create_group(g + "/novel");
  for (const NovelRecord& n : record.novel) {
    const std::string d = g + "/novel/" + n.name;
    file.create_group(d);
    file.set_attribute(d, "changed_experts", n.changed_experts);
    file.set_attribute(d, "requantized_tensors", n.requantized_tensors);
    file.set_attribute(d, "requantized_elements", n.requantized_elements);
  }
}

}  // namespace moqa::pipeline
