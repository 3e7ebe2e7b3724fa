#include "core/progress.h"

#include <cmath>
#include <cstdio>
#include <ostream>

namespace moqa {

Progress::Progress(std::string stage, int64_t total_units, std::string unit, std::ostream* out,
                   double min_interval_s, double token_scale)
    : stage_(std::move(stage)),
      unit_(std::move(unit)),
      total_(total_units),
      out_(out),
      min_interval_s_(min_interval_s),
      token_scale_(token_scale),
      start_(Clock::now()),
      last_print_(start_) {}

double Progress::elapsed_s() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

double Progress::tokens_per_s() const {
  const double t = elapsed_s();
  return t > 0 ? token_scale_ * static_cast<double>(tokens_) / t : 0.0;
}

std::string Progress::format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<long long>(std::llround(seconds));
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, (s / 60) % 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld", s / 60, s % 60);
  return buf;
}

void Progress::advance(int64_t units, int64_t tokens) {
  done_ += units;
  tokens_ += tokens;
  const auto now = Clock::now();
  if (done_ >= total_ || std::chrono::duration<double>(now - last_print_).count() >= min_interval_s_) {
    last_print_ = now;
    print(false);
  }
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  print(true);
}

void Progress::print(bool final_line) {
  if (!out_) return;
  const double t = elapsed_s();
  char line[256];
  if (final_line) {
    std::snprintf(line, sizeof line, "[moqa] %s: done, %lld %s in %s", stage_.c_str(),
                  static_cast<long long>(done_), unit_.c_str(), format_duration(t).c_str());
  } else {
    const double rate = t > 0 ? static_cast<double>(done_) / t : 0.0;
    const double eta = rate > 0 ? static_cast<double>(total_ - done_) / rate : NAN;
    std::snprintf(line, sizeof line, "[moqa] %s: %lld/%lld %s (%.0f%%), elapsed %s, ETA %s", stage_.c_str(),
                  static_cast<long long>(done_), static_cast<long long>(total_), unit_.c_str(),
                  total_ > 0 ? 100.0 * static_cast<double>(done_) / static_cast<double>(total_) : 100.0,
                  format_duration(t).c_str(), format_duration(eta).c_str());
  }
  *out_ << line;
  if (tokens_ > 0) {
    char rate[64];
    std::snprintf(rate, sizeof rate, ", %.0f tokens/s", tokens_per_s());
    *out_ << rate;
  }
  *out_ << std::endl;
}

}  // namespace moqa
