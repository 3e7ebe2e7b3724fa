#pragma once
// Internal to the data module: one record of a JSON Lines file, parsed, for the readers of plain texts
// (text_file.cpp) and of zero-shot tasks (tasks.cpp).
#include <filesystem>
#include <nlohmann/json.hpp>

#include "data/text_file.h"

namespace moqa::data {

// The record on `line` of `path`; moqa::Error "<file>:<line>: ..." when it is not valid JSON or not an object.
nlohmann::json parse_jsonl_object(const std::filesystem::path& path, const JsonlLine& line);

}  // namespace moqa::data
