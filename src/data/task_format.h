#pragma once
// The zero-shot task formats: one enum for the task loader (data/tasks.h), the experiment schema
// ([[evaluation]] task = "...", config/experiment.h) and the results files. Header-only and free of other
// moqa headers, so that config names tasks without linking the data module.
#include <array>
#include <cstddef>
#include <optional>
#include <string_view>

namespace moqa::data {

// In the order of the MoQa paper's Table II, then moqa's generic format.
enum class TaskFormat { arc_challenge, arc_easy, rte, piqa, copa, cb, multiple_choice };

// The names used in experiment TOMLs and results, indexed by the enumerator's value.
inline constexpr std::array<std::string_view, 7> kTaskFormatNames{"arc_challenge", "arc_easy", "rte", "piqa",
                                                                  "copa",          "cb",       "multiple_choice"};

constexpr std::string_view task_format_name(TaskFormat format) {
  return kTaskFormatNames[static_cast<size_t>(format)];
}

constexpr std::optional<TaskFormat> parse_task_format(std::string_view name) {
  for (size_t i = 0; i < kTaskFormatNames.size(); ++i)
    if (kTaskFormatNames[i] == name) return static_cast<TaskFormat>(i);
  return std::nullopt;
}

}  // namespace moqa::data
