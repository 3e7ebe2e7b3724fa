#pragma once
// How a corpus file holds its documents: plain text (one stream) or JSON lines (one document per line,
// its text in a named field). The [[calibration]] / [[evaluation]] `format` key names these values
// (config/experiment.h), and data/corpus.h reads them.
namespace moqa::data {

enum class CorpusFormat { text, jsonl };

}  // namespace moqa::data
