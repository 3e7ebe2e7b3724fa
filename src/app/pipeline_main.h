#pragma once
// The whole of moqa-pipeline's main(): MPI session, command line, configuration (read and validated on
// rank 0, broadcast as text, rebuilt identically on every rank), then --dry-run's plan or the stages.
// Returns the exit status: 0 success, 2 usage or configuration error. Run-time failures do not return:
// the failing rank aborts the job (exit status 1) with its rank and the reason.
namespace moqa::app {

int pipeline_main(int argc, char** argv);

}  // namespace moqa::app
