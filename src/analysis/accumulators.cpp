#include "analysis/accumulators.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace moqa::analysis {

LayerAccumulator make_layer_accumulator(int64_t layer, int64_t experts, int64_t channels, int64_t top_k,
                                        bool coactivation, int64_t intermediate, bool sensitivity) {
  MOQA_CHECK(experts > 0 && channels > 0 && top_k > 0 && top_k <= experts && intermediate >= 0 &&
                 (intermediate > 0 || !sensitivity),
             "analysis: layer ", layer, ": cannot accumulate statistics for ", experts, " experts, ", channels,
             " channels, top-", top_k, ", ", intermediate, " intermediate channels",
             sensitivity ? " with sensitivity" : "");
  LayerAccumulator acc;
  acc.layer = layer;
  acc.experts = experts;
  acc.channels = channels;
  acc.top_k = top_k;
  acc.coactivation_enabled = coactivation;
  const auto e = static_cast<size_t>(experts);
  const auto ec = static_cast<size_t>(experts * channels);
  acc.routed_count.assign(e, 0);
  if (coactivation) acc.coactivation.assign(e * e, 0);
  acc.gate_mass.assign(e, 0.0);
  acc.router_prob_mass.assign(e, 0.0);
  acc.weight_mass.assign(e, 0.0);
  acc.abs_sum.assign(ec, 0.0);
  acc.sq_sum.assign(ec, 0.0);
  acc.weighted_abs_sum.assign(ec, 0.0);
  acc.weighted_sq_sum.assign(ec, 0.0);
  acc.abs_max.assign(ec, 0.0);
  acc.intermediate = intermediate;
  acc.sensitivity_enabled = sensitivity;
  if (intermediate > 0) {
    const auto ef = static_cast<size_t>(experts * intermediate);
    acc.out_weight_mass.assign(e, 0.0);
    acc.act_weighted_abs_sum.assign(ef, 0.0);
    acc.act_weighted_sq_sum.assign(ef, 0.0);
    acc.out_weighted_abs_sum.assign(ec, 0.0);
    acc.out_weighted_sq_sum.assign(ec, 0.0);
    if (sensitivity) {
      acc.sensitivity_act.assign(ef, 0.0);
      acc.sensitivity_out.assign(ec, 0.0);
    }
  }
  return acc;
}

void accumulate(LayerAccumulator& acc, const RoutedBatch& batch, bool gate_weighted) {
  const backend::Routing& routing = batch.routing;
  const int64_t tokens = routing.tokens;
  const int64_t k = routing.top_k;
  const int64_t channels = acc.channels, experts = acc.experts;
  MOQA_CHECK(k == acc.top_k, "analysis: layer ", acc.layer, ": routing chooses ", k, " experts per token, expected ",
             acc.top_k);
  MOQA_CHECK(static_cast<int64_t>(routing.experts.size()) == tokens * k &&
                 static_cast<int64_t>(routing.weights.size()) == tokens * k,
             "analysis: layer ", acc.layer, ": routing of ", tokens, " tokens holds ", routing.experts.size(),
             " choices and ", routing.weights.size(), " weights, expected ", tokens * k);
  MOQA_CHECK(static_cast<int64_t>(batch.inputs.size()) == tokens * channels, "analysis: layer ", acc.layer, ": ",
             batch.inputs.size(), " input values for ", tokens, " tokens of ", channels, " channels");
  MOQA_CHECK(static_cast<int64_t>(batch.scores.size()) == tokens * experts, "analysis: layer ", acc.layer, ": ",
             batch.scores.size(), " router scores for ", tokens, " tokens of ", experts, " experts");
  MOQA_CHECK(static_cast<int64_t>(batch.token_weights.size()) == tokens, "analysis: layer ", acc.layer, ": ",
             batch.token_weights.size(), " token weights for ", tokens, " tokens");

  for (int64_t t = 0; t < tokens; ++t) {
    const double r = batch.token_weights[static_cast<size_t>(t)];
    const float* score = batch.scores.data() + t * experts;
    const float* x = batch.inputs.data() + t * channels;
    // One NaN would turn the layer's sums into NaN, which the derived statistics cannot tell from "no
    // significance" (normalise() maps a non-positive total to zeros): stop at the source instead.
    MOQA_CHECK(std::isfinite(r) && r >= 0.0, "analysis: layer ", acc.layer, ": token ", t, " has re-weighting factor ",
               r, ", expected a finite number >= 0");
    for (int64_t c = 0; c < channels; ++c)
      MOQA_CHECK(std::isfinite(x[c]), "analysis: layer ", acc.layer, ": token ", t, ", channel ", c,
                 " of the experts' input is ", x[c], ", expected a finite value (the forward produced NaN or inf)");
    for (int64_t e = 0; e < experts; ++e)
      MOQA_CHECK(std::isfinite(score[e]), "analysis: layer ", acc.layer, ": token ", t, ": router score of expert ", e,
                 " is ", score[e], ", expected a finite value");

    acc.token_weight_sum += r;
    for (int64_t e = 0; e < experts; ++e) acc.router_prob_mass[static_cast<size_t>(e)] += score[e];

    for (int64_t s = 0; s < k; ++s) {
      const int64_t e = routing.expert(t, s);
      MOQA_CHECK(e >= 0 && e < experts, "analysis: layer ", acc.layer, ": token ", t, " routed to expert ", e,
                 ", outside [0, ", experts, ")");
      for (int64_t other = 0; other < s; ++other)
        MOQA_CHECK(routing.expert(t, other) != e, "analysis: layer ", acc.layer, ": token ", t,
                   " routed to expert ", e, " twice");
      const double g = routing.weight(t, s);
      MOQA_CHECK(std::isfinite(g), "analysis: layer ", acc.layer, ": token ", t, ": combine weight of expert ", e,
                 " is ", g, ", expected a finite value");
      const double w = r * (gate_weighted ? g : 1.0);
      const auto ue = static_cast<size_t>(e);
      acc.routed_count[ue] += 1;
      acc.gate_mass[ue] += g;
      acc.weight_mass[ue] += w;
      const size_t base = ue * static_cast<size_t>(channels);
      double* abs_sum = acc.abs_sum.data() + base;
      double* sq_sum = acc.sq_sum.data() + base;
      double* wabs = acc.weighted_abs_sum.data() + base;
      double* wsq = acc.weighted_sq_sum.data() + base;
      double* amax = acc.abs_max.data() + base;
      for (int64_t c = 0; c < channels; ++c) {
        const double v = x[c];
        const double a = std::fabs(v);
        const double q = v * v;
        abs_sum[c] += a;
        sq_sum[c] += q;
        wabs[c] += w * a;
        wsq[c] += w * q;
        amax[c] = std::max(amax[c], a);
      }
      if (acc.coactivation_enabled) {
        for (int64_t s2 = 0; s2 < k; ++s2) {
          const auto e2 = static_cast<size_t>(routing.expert(t, s2));
          acc.coactivation[ue * static_cast<size_t>(experts) + e2] += 1;
        }
      }
    }
  }
  acc.tokens += tokens;
}

namespace {

// Checks one [n, width] array of the batch (empty allowed when `optional`) and that its values are finite.
void check_rows(const LayerAccumulator& acc, const ExpertOutputBatch& batch, std::span<const float> values,
                int64_t width, const char* what, bool optional) {
  const auto n = static_cast<int64_t>(batch.omega.size());
  if (optional && values.empty()) return;
  MOQA_CHECK(static_cast<int64_t>(values.size()) == n * width, "analysis: layer ", acc.layer, ", expert ",
             batch.expert, ": ", values.size(), " values of ", what, " for ", n, " rows of width ", width);
  for (size_t i = 0; i < values.size(); ++i)
    MOQA_CHECK(std::isfinite(values[i]), "analysis: layer ", acc.layer, ", expert ", batch.expert, ": row ",
               static_cast<int64_t>(i) / width, ", channel ", static_cast<int64_t>(i) % width, " of ", what, " is ",
               values[i], ", expected a finite value (the forward produced NaN or inf)");
}

// sums[c] += ω |v_c| and squares[c] += ω v_c² (either may be null) for every row.
void add_rows(std::span<const double> omega, std::span<const float> values, int64_t width, double* sums,
              double* squares) {
  for (size_t row = 0; row < omega.size(); ++row) {
    const double w = omega[row];
    const float* v = values.data() + row * static_cast<size_t>(width);
    for (int64_t c = 0; c < width; ++c) {
      const double value = v[c];
      if (sums) sums[c] += w * std::fabs(value);
      if (squares) squares[c] += w * (value * value);
    }
  }
}

}  // namespace

void accumulate_expert_outputs(LayerAccumulator& acc, const ExpertOutputBatch& batch) {
  const int64_t f = acc.intermediate, c = acc.channels;
  MOQA_CHECK(f > 0, "analysis: layer ", acc.layer, ": expert outputs given to an accumulator without an output side");
  MOQA_CHECK(batch.expert >= 0 && batch.expert < acc.experts, "analysis: layer ", acc.layer, ": outputs of expert ",
             batch.expert, ", outside [0, ", acc.experts, ")");
  for (size_t i = 0; i < batch.omega.size(); ++i)
    MOQA_CHECK(std::isfinite(batch.omega[i]) && batch.omega[i] >= 0.0, "analysis: layer ", acc.layer, ", expert ",
               batch.expert, ": row ", i, " has weight ", batch.omega[i], ", expected a finite number >= 0");
  check_rows(acc, batch, batch.activations, f, "the SwiGLU activations", false);
  check_rows(acc, batch, batch.outputs, c, "the expert outputs", false);
  const bool errors = acc.sensitivity_enabled;
  check_rows(acc, batch, batch.gate_error, f, "the gate error", !errors);
  check_rows(acc, batch, batch.up_error, f, "the up error", !errors);
  check_rows(acc, batch, batch.down_error, c, "the down error", !errors);

  const auto e = static_cast<size_t>(batch.expert);
  for (const double w : batch.omega) acc.out_weight_mass[e] += w;
  const size_t act = e * static_cast<size_t>(f), out = e * static_cast<size_t>(c);
  add_rows(batch.omega, batch.activations, f, acc.act_weighted_abs_sum.data() + act,
           acc.act_weighted_sq_sum.data() + act);
  add_rows(batch.omega, batch.outputs, c, acc.out_weighted_abs_sum.data() + out, acc.out_weighted_sq_sum.data() + out);
  if (!errors) return;
  add_rows(batch.omega, batch.gate_error, f, nullptr, acc.sensitivity_act.data() + act);
  add_rows(batch.omega, batch.up_error, f, nullptr, acc.sensitivity_act.data() + act);
  add_rows(batch.omega, batch.down_error, c, nullptr, acc.sensitivity_out.data() + out);
}

void merge(LayerAccumulator& acc, const LayerAccumulator& other) {
  MOQA_CHECK(acc.layer == other.layer && acc.experts == other.experts && acc.channels == other.channels &&
                 acc.top_k == other.top_k && acc.coactivation_enabled == other.coactivation_enabled &&
                 acc.intermediate == other.intermediate && acc.sensitivity_enabled == other.sensitivity_enabled,
             "analysis: cannot merge statistics of layer ", other.layer, " (", other.experts, " experts x ",
             other.channels, " channels) into layer ", acc.layer, " (", acc.experts, " x ", acc.channels, ")");
  const auto add = [](auto& into, const auto& from) {
    for (size_t i = 0; i < into.size(); ++i) into[i] += from[i];
  };
  acc.tokens += other.tokens;
  acc.token_weight_sum += other.token_weight_sum;
  add(acc.routed_count, other.routed_count);
  add(acc.coactivation, other.coactivation);
  add(acc.gate_mass, other.gate_mass);
  add(acc.router_prob_mass, other.router_prob_mass);
  add(acc.weight_mass, other.weight_mass);
  add(acc.abs_sum, other.abs_sum);
  add(acc.sq_sum, other.sq_sum);
  add(acc.weighted_abs_sum, other.weighted_abs_sum);
  add(acc.weighted_sq_sum, other.weighted_sq_sum);
  for (size_t i = 0; i < acc.abs_max.size(); ++i) acc.abs_max[i] = std::max(acc.abs_max[i], other.abs_max[i]);
  add(acc.out_weight_mass, other.out_weight_mass);
  add(acc.act_weighted_abs_sum, other.act_weighted_abs_sum);
  add(acc.act_weighted_sq_sum, other.act_weighted_sq_sum);
  add(acc.out_weighted_abs_sum, other.out_weighted_abs_sum);
  add(acc.out_weighted_sq_sum, other.out_weighted_sq_sum);
  add(acc.sensitivity_act, other.sensitivity_act);
  add(acc.sensitivity_out, other.sensitivity_out);
}

}  // namespace moqa::analysis
