#include "pipeline/allocate/allocation_sync.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "dist/mpi_session.h"

namespace moqa::pipeline {

using json = nlohmann::json;

allocate::Allocation broadcast_allocation(const allocate::Allocation& allocation, MPI_Comm comm) {
  int rank = 0;
  dist::check_mpi(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
  std::string text;
  if (rank == 0) {
    const allocate::BitsReport& r = allocation.report;
    text = json{{"method", allocate::to_string(allocation.method)},
                {"scope", allocate::to_string(allocation.scope)},
                {"bits", allocation.bits},
                {"target_bits", allocation.target_bits},
                {"expert_target_bits", allocation.expert_target_bits},
                {"objective", allocation.objective},
                {"exact", allocation.exact},
                {"budget_unit_bit_params", allocation.budget_unit_bit_params},
                {"report",
                 {{"expert_params", r.expert_params},
                  {"expert_bit_params", r.expert_bit_params},
                  {"other_params", r.other_params},
                  {"other_bit_params", r.other_bit_params},
                  {"expert_mean_bits", r.expert_mean_bits},
                  {"all_linear_mean_bits", r.all_linear_mean_bits},
                  {"layer_mean_bits", r.layer_mean_bits}}}}
               .dump(-1, ' ', false, json::error_handler_t::strict);
  }
  text = dist::broadcast_string(comm, text);
  if (rank == 0) return allocation;
  try {
    const json j = json::parse(text);
    allocate::Allocation a;
    a.method = allocate::method_from_string(j.at("method").get<std::string>());
    a.scope = allocate::scope_from_string(j.at("scope").get<std::string>());
    a.bits = j.at("bits").get<allocate::BitMatrix>();
    a.target_bits = j.at("target_bits").get<double>();
    a.expert_target_bits = j.at("expert_target_bits").get<double>();
    a.objective = j.at("objective").get<double>();
    a.exact = j.at("exact").get<bool>();
    a.budget_unit_bit_params = j.at("budget_unit_bit_params").get<int64_t>();
    const json& r = j.at("report");
    a.report.expert_params = r.at("expert_params").get<int64_t>();
    a.report.expert_bit_params = r.at("expert_bit_params").get<int64_t>();
    a.report.other_params = r.at("other_params").get<int64_t>();
    a.report.other_bit_params = r.at("other_bit_params").get<int64_t>();
    a.report.expert_mean_bits = r.at("expert_mean_bits").get<double>();
    a.report.all_linear_mean_bits = r.at("all_linear_mean_bits").get<double>();
    a.report.layer_mean_bits = r.at("layer_mean_bits").get<std::vector<double>>();
    return a;
  } catch (const json::exception& e) {
    fail("allocation broadcast: malformed message from rank 0 (", e.what(), ")");
  }
}

}  // namespace moqa::pipeline
