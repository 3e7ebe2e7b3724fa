// MpiSession, the string broadcast and the owned MPI handles under mpiexec (registered for 1 and 3 ranks).
#include <gtest/gtest.h>
#include <mpi.h>

#include <climits>
#include <string>
#include <vector>

#include "core/error.h"
#include "dist/mpi_datatype.h"
#include "dist/mpi_session.h"

namespace moqa::dist {
namespace {

MpiSession& session() {
  // MPI is already initialised by the MPI test main, so this session neither inits nor finalises.
  static int argc = 0;
  static char** argv = nullptr;
  static MpiSession instance(argc, argv);
  return instance;
}

TEST(MpiSession, ReportsTheRankLayout) {
  int rank = -1, size = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  EXPECT_EQ(session().rank(), rank);
  EXPECT_EQ(session().size(), size);
  EXPECT_EQ(session().is_root(), rank == 0);
  // The node-local layout, worked out independently from the host names: a rank's local rank is the number
  // of lower ranks on its host, its local size the number of ranks there (under ctest: all of them).
  std::vector<char> names(static_cast<size_t>(size) * MPI_MAX_PROCESSOR_NAME, '\0');
  std::vector<char> mine(MPI_MAX_PROCESSOR_NAME, '\0');
  int length = 0;
  MPI_Get_processor_name(mine.data(), &length);
  MPI_Allgather(mine.data(), MPI_MAX_PROCESSOR_NAME, MPI_CHAR, names.data(), MPI_MAX_PROCESSOR_NAME, MPI_CHAR,
                MPI_COMM_WORLD);
  int lower_on_my_host = 0, on_my_host = 0;
  for (int r = 0; r < size; ++r) {
    const std::string host(names.data() + static_cast<size_t>(r) * MPI_MAX_PROCESSOR_NAME);
    if (host != mine.data()) continue;
    ++on_my_host;
    if (r < rank) ++lower_on_my_host;
  }
  EXPECT_EQ(session().local_rank(), lower_on_my_host);
  EXPECT_EQ(session().local_size(), on_my_host);
}

TEST(MpiSession, BroadcastsStringsFromAnyRoot) {
  const int rank = session().rank();
  const int last = session().size() - 1;
  EXPECT_EQ(broadcast_string(session().world(), rank == 0 ? "config text\nwith lines" : "ignored"),
            "config text\nwith lines");
  EXPECT_EQ(broadcast_string(session().world(), rank == last ? "from the last rank" : "", last), "from the last rank");
  EXPECT_EQ(broadcast_string(session().world(), rank == 0 ? "" : "not empty"), "");
  std::string big(3'000'000, 'x');
  big[1234567] = '\0';  // binary-safe
  EXPECT_EQ(broadcast_string(session().world(), rank == 0 ? big : std::string()), big);
}

TEST(Communicator, OwnsASplitCommunicator) {
  MPI_Comm half = MPI_COMM_NULL;
  ASSERT_EQ(MPI_Comm_split(MPI_COMM_WORLD, session().rank() % 2, session().rank(), &half), MPI_SUCCESS);
  Communicator comm(half);
  const int expected = (session().size() + (session().rank() % 2 == 0 ? 1 : 0)) / 2;
  EXPECT_EQ(comm.size(), expected);
  EXPECT_EQ(comm.rank(), session().rank() / 2);
  Communicator moved(std::move(comm));
  EXPECT_EQ(comm.get(), MPI_COMM_NULL);
  EXPECT_EQ(moved.size(), expected);
}

TEST(Datatype, OwnsACommittedContiguousType) {
  Datatype row = Datatype::contiguous(3, MPI_FLOAT);
  int bytes = 0;
  ASSERT_EQ(MPI_Type_size(row.get(), &bytes), MPI_SUCCESS);
  EXPECT_EQ(bytes, 3 * static_cast<int>(sizeof(float)));
  Datatype moved(std::move(row));
  EXPECT_EQ(row.get(), MPI_DATATYPE_NULL);
  EXPECT_NE(moved.get(), MPI_DATATYPE_NULL);
  moved = Datatype::contiguous(2, MPI_INT64_T);  // the old type is freed, the new one owned
  ASSERT_EQ(MPI_Type_size(moved.get(), &bytes), MPI_SUCCESS);
  EXPECT_EQ(bytes, 16);
  EXPECT_THROW(Datatype::contiguous(0, MPI_FLOAT), Error);
  EXPECT_THROW(Datatype::contiguous(int64_t{INT_MAX} + 1, MPI_BYTE), Error);
}

}  // namespace
}  // namespace moqa::dist
