// A job in which the last rank fails while the others wait in a collective: MpiSession::abort must
// end the whole job (the CTest fails by timeout if it hangs) with "moqa: rank R: <reason>".
#include <mpi.h>

#include "dist/mpi_session.h"

int main(int argc, char** argv) {
  moqa::dist::MpiSession session(argc, argv);
  if (session.rank() == session.size() - 1) session.abort("bad input: probe failure");
  MPI_Barrier(MPI_COMM_WORLD);  // never completes: the failing rank does not arrive
  return 0;
}
