#include "pipeline/results_file.h"

#include <hdf5.h>
#include <mpi.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "config/to_toml.h"
#include "core/build_info.h"
#include "core/error.h"
#include "core/shell_quote.h"
#include "pipeline/resume/resume_key.h"

namespace moqa::pipeline {

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

namespace {

std::string mpi_library_version() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING];
  int length = 0;
  MPI_Get_library_version(text, &length);
  std::string version(text, static_cast<size_t>(length));
  const size_t eol = version.find_first_of("\r\n");
  if (eol != std::string::npos) version.resize(eol);
  while (!version.empty() && (version.back() == ' ' || version.back() == '\0')) version.pop_back();
  int major = 0, minor = 0;
  MPI_Get_version(&major, &minor);
  return cat(version, " (MPI ", major, ".", minor, ")");
}

std::string hdf5_library_version() {
  unsigned major = 0, minor = 0, release = 0;
  H5get_libversion(&major, &minor, &release);
  return cat(major, ".", minor, ".", release);
}

// Every rank's host name, in rank order, on rank 0.
std::vector<std::string> gather_host_names(const dist::MpiSession& session) {
  std::vector<char> name(MPI_MAX_PROCESSOR_NAME, '\0');
  int length = 0;
  dist::check_mpi(MPI_Get_processor_name(name.data(), &length), "MPI_Get_processor_name");
  std::vector<char> all(session.is_root() ? name.size() * static_cast<size_t>(session.size()) : 1);
  dist::check_mpi(MPI_Gather(name.data(), MPI_MAX_PROCESSOR_NAME, MPI_CHAR, all.data(), MPI_MAX_PROCESSOR_NAME,
                             MPI_CHAR, 0, session.world()),
                  "MPI_Gather (host names)");
  std::vector<std::string> out;
  if (!session.is_root()) return out;
  for (int r = 0; r < session.size(); ++r) out.emplace_back(all.data() + static_cast<size_t>(r) * MPI_MAX_PROCESSOR_NAME);
  return out;
}

}  // namespace

std::string process_command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  const std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (raw.empty()) return "unknown";
  std::string out;
  size_t begin = 0;
  while (begin < raw.size()) {
    size_t end = raw.find('\0', begin);
    if (end == std::string::npos) end = raw.size();
    if (!out.empty()) out += ' ';
    out += shell_quote(raw.substr(begin, end - begin));
    begin = end + 1;
  }
  return out;
}

ResultsFile open_results_file(const config::Experiment& e, const dist::MpiSession& session) {
  ResultsFile file;
  file.start = std::chrono::steady_clock::now();
  file.utc_start = utc_now();
  const std::vector<std::string> hosts = gather_host_names(session);
  if (!session.is_root()) return file;
  file.hostnames = hosts;

  std::error_code ec;
  std::filesystem::create_directories(e.experiment.output_dir, ec);
  MOQA_CHECK(!ec, "experiment.output_dir: cannot create ", e.experiment.output_dir.string(), ": ", ec.message());
  file.writer.emplace(io::H5Writer::create(e.experiment.output_dir / "results.h5"));
  io::H5Writer& w = *file.writer;
  const std::string p = "/provenance";
  w.create_group(p);
  w.write_string(p + "/config_toml", config::to_toml(e));
  w.write_string(p + "/config_file", e.config_file.string());
  w.write_string(p + "/command_line", process_command_line());
  w.write_strings(p + "/hostnames", hosts);
  write_input_stamps(w, input_file_stamps(e));
  w.set_attribute(p, "experiment", e.experiment.name);
  w.set_attribute(p, "seed", e.experiment.seed);
  w.set_attribute(p, "ranks", static_cast<int64_t>(session.size()));
  w.set_attribute(p, "hostname", hosts.empty() ? std::string() : hosts.front());
  w.set_attribute(p, "utc_start", file.utc_start);
  w.set_attribute(p, "git_commit", build_info::git_commit);
  w.set_attribute(p, "moqa_version", build_info::version);
  w.set_attribute(p, "build_type", build_info::build_type);
  w.set_attribute(p, "compiler", build_info::compiler);
  w.set_attribute(p, "cuda_build", static_cast<int64_t>(build_info::cuda ? 1 : 0));
  w.set_attribute(p, "hdf5_version", hdf5_library_version());
  w.set_attribute(p, "mpi_version", mpi_library_version());
  w.set_attribute(p, "sweep_index", e.run.index);
  w.set_attribute(p, "sweep_count", e.run.count);
  std::vector<std::string> stages;
  for (const config::Stage s : e.experiment.stages) stages.emplace_back(config::name_of(s));
  w.write_strings(p + "/stages", stages);
  return file;
}

std::string commit_results_file(ResultsFile& file, const std::string& utc_finish) {
  MOQA_CHECK(file.writer.has_value(), "results.h5: no open results file on this rank");
  io::H5Writer& w = *file.writer;
  w.set_attribute("/provenance", "utc_finish", utc_finish);
  w.set_attribute("/provenance", "wall_time_s",
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - file.start).count());
  const std::string path = w.final_path().string();
  w.commit();
  file.writer.reset();
  return path;
}

}  // namespace moqa::pipeline
