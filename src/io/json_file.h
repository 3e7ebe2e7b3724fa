#pragma once
// Whole small files read into memory: the JSON files of a model directory (config.json,
// model.safetensors.index.json, tokenizer.json, tokenizer_config.json) and similar inputs. Errors name
// the file and, for JSON syntax, the line:column of the fault.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace moqa::io {

// The file's bytes exactly as stored. `what` says what the file is for messages ("model config").
std::string read_file(const std::filesystem::path& path, std::string_view what);

// The parsed document (any JSON value: callers check the kind they expect). A syntax error becomes
// moqa::Error "<file>:<line>:<column>: <what> is not valid JSON: <reason>".
nlohmann::json read_json_file(const std::filesystem::path& path, std::string_view what);

}  // namespace moqa::io
