# Writes OUTPUT, a C++ file defining moqa::build_info::git_commit, from `git describe` of SOURCE_DIR.
# Run at every build (src/core/CMakeLists.txt), so results record the commit the binary was really built
# from, with "-dirty" for uncommitted changes. file(CONFIGURE) leaves OUTPUT untouched when the text is
# the same, so an unchanged commit recompiles nothing.
set(commit "unknown")
find_package(Git QUIET)
if(GIT_FOUND AND EXISTS "${SOURCE_DIR}/.git")
  execute_process(COMMAND ${GIT_EXECUTABLE} describe --always --dirty --abbrev=12
                  WORKING_DIRECTORY ${SOURCE_DIR}
                  OUTPUT_VARIABLE described OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(described)
    set(commit "${described}")
  endif()
endif()
file(CONFIGURE OUTPUT "${OUTPUT}" CONTENT [=[
// Generated at build time by cmake/MoqaGitCommit.cmake.
#include "core/build_info.h"

namespace moqa::build_info {
const char* const git_commit = "@commit@";
}  // namespace moqa::build_info
]=] @ONLY)
