#pragma once
// Progress of a long stage on one line per update: units done/total, tokens/s and ETA. Only the rank
// that owns the terminal (rank 0) reports; other ranks construct it disabled, so call sites stay uniform.
// tokens/s means the same in every stage: tokens that have passed through the whole model, all ranks
// together, per second of the stage. A layer-major pass over T tokens and L layers counts layer l as its
// share layer_tokens(T, l, L) (the shares add up to T however often a layer is re-run).
#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>

namespace moqa {

// Layer `unit`'s share of `tokens` when a pass of `units` layers carries them all through the model:
// tokens * (unit + 1) / units - tokens * unit / units (integers that add up to `tokens`).
inline int64_t layer_tokens(int64_t tokens, int64_t unit, int64_t units) {
  return units > 0 ? tokens * (unit + 1) / units - tokens * unit / units : 0;
}

class Progress {
 public:
  using Clock = std::chrono::steady_clock;

  // `unit` names what is counted ("windows", "layers"); `min_interval_s` throttles the output.
  // token_scale: the factor from the tokens passed to advance to all ranks' tokens, for a rank that reports
  // its own share of a data-parallel stage whose ranks run in step (evaluate: all windows / rank 0's).
  Progress(std::string stage, int64_t total_units, std::string unit, std::ostream* out,
           double min_interval_s = 2.0, double token_scale = 1.0);

  // Adds finished work; prints when the interval has passed or the stage is complete.
  void advance(int64_t units, int64_t tokens = 0);
  // Prints the final line (elapsed time, mean tokens/s) once.
  void finish();

  double elapsed_s() const;
  double tokens_per_s() const;
  int64_t done() const { return done_; }
  int64_t tokens() const { return tokens_; }

  static std::string format_duration(double seconds);  // "1:02:03", "4:05"

 private:
  void print(bool final_line);

  std::string stage_;
  std::string unit_;
  int64_t total_;
  std::ostream* out_;
  double min_interval_s_;
  double token_scale_;
  int64_t done_ = 0;
  int64_t tokens_ = 0;
  bool finished_ = false;
  Clock::time_point start_;
  Clock::time_point last_print_;
};

}  // namespace moqa
